package attachments

import (
	"bytes"
	"image"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"testing"
)

// BenchmarkPutOpen: a 10 MiB document stored (detected, sealed in
// 64 KiB chunks, fsynced, renamed) and read back, with the real key
// store. MB/s counts the file once per direction.
func BenchmarkPutOpen(b *testing.B) {
	const size = 10 << 20
	in := make([]byte, size)
	rng := rand.NewChaCha8([32]byte{1})
	rng.Read(in)
	copy(in, "%PDF-1.7\n")
	e := newEnv(b, 0)
	put := func(b *testing.B) Meta {
		m, err := e.store.Put("room:1", bytes.NewReader(in), "a.pdf")
		if err != nil {
			b.Fatal(err)
		}
		return m
	}
	get := func(b *testing.B, id string) {
		r, err := e.store.Open("room:1", id)
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, r); err != nil || n != size {
			b.Fatal(n, err)
		}
		r.Close()
	}
	b.Run("put", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			e.store.Delete(put(b).ID)
		}
	})
	b.Run("open", func(b *testing.B) {
		m := put(b)
		b.SetBytes(size)
		for b.Loop() {
			get(b, m.ID)
		}
	})
	b.Run("put+open", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			m := put(b)
			get(b, m.ID)
			e.store.Delete(m.ID)
		}
	})
}

// BenchmarkStripJPEG: the JPEG stripper alone, in memory, on a 2000×1500
// noisy photo with Exif.
func BenchmarkStripJPEG(b *testing.B) {
	img := image.NewRGBA(image.Rect(0, 0, 2000, 1500))
	rng := rand.NewChaCha8([32]byte{2})
	rng.Read(img.Pix)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		b.Fatal(err)
	}
	p := buf.Bytes()
	in := append(append(append([]byte{}, p[:2]...), jpegSegment(mAPP1, tiffExif(marker, 6))...), p[2:]...)
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := strip(stripJPEG, in); err != nil {
			b.Fatal(err)
		}
	}
}
