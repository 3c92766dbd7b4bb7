package attachments

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"unicode/utf8"
)

// The fuzzers insert a metadata segment holding marker at a segment
// boundary of the (mutated) input, framed the way the stripper will read
// it. Whatever else the input holds, a successful strip must not output
// the marker, unless the input already had it (or its start) elsewhere.
// Stripping must also be idempotent: the output is a fixed point.

var markerStart = []byte(marker[:4])

// jpegBoundaries lists the offsets after SOI where a segment starts,
// up to the first SOS, as stripJPEG reads them.
func jpegBoundaries(b []byte) []int {
	out := []int{2}
	off := 2
	for off+4 <= len(b) && b[off] == 0xFF && b[off+1] != 0xFF && b[off+1] != mSOS {
		m := b[off+1]
		if m == mSOI || m == mEOI || m == 0 || m == mTEM || (m >= mRST0 && m <= mRST7) {
			break
		}
		off += 2 + int(binary.BigEndian.Uint16(b[off+2:]))
		if off > len(b) {
			break
		}
		out = append(out, off)
	}
	return out
}

func FuzzStripJPEG(f *testing.F) {
	jpg, plain := jpegWithMetadata(f, "seed", 6)
	f.Add(jpg, uint8(0), []byte("II\x2A\x00"))
	f.Add(plain, uint8(1), tiffExif("x", 3)[6:])
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xD9}, uint8(0), []byte{})
	f.Fuzz(func(t *testing.T, data []byte, pos uint8, exif []byte) {
		_, _ = strip(stripJPEG, data) // anything: no panic, no hang

		if len(data) < 2 {
			return
		}
		if len(exif) > 1000 {
			exif = exif[:1000]
		}
		bs := jpegBoundaries(data)
		at := bs[int(pos)%len(bs)]
		seg := jpegSegment(mAPP1, append(append([]byte("Exif\x00\x00"), exif...), marker...))
		in := append(append(append([]byte{}, data[:at]...), seg...), data[at:]...)
		out, err := strip(stripJPEG, in)
		if err != nil {
			if !errors.Is(err, ErrType) {
				t.Fatalf("error that is not ErrType: %v", err)
			}
			return
		}
		if !bytes.Contains(data, markerStart) && !bytes.Contains(exif, markerStart) && bytes.Contains(out, []byte(marker)) {
			t.Fatal("marker in an APP1 segment survived")
		}
		again, err := strip(stripJPEG, out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %v", err)
		}
	})
}

// pngBoundaries lists chunk starts after the signature, as stripPNG
// frames them.
func pngBoundaries(b []byte) []int {
	out := []int{8}
	off := 8
	for off+12 <= len(b) {
		n := int64(binary.BigEndian.Uint32(b[off:]))
		if n > int64(len(b)) {
			break
		}
		off += 12 + int(n)
		if off > len(b) {
			break
		}
		out = append(out, off)
	}
	return out
}

func FuzzStripPNG(f *testing.F) {
	in, plain := pngWithMetadata(f, "seed")
	f.Add(in, uint8(1), uint8(0))
	f.Add(plain, uint8(2), uint8(3))
	f.Add([]byte(pngSignature), uint8(0), uint8(0))
	kinds := []func() []byte{
		func() []byte { return pngChunk("tEXt", []byte("Comment\x00"+marker)) },
		func() []byte { return pngChunk("iTXt", []byte("XML:com.adobe.xmp\x00\x00\x00\x00\x00"+marker)) },
		func() []byte { return pngChunk("eXIf", append([]byte("MM\x00\x2A\x00\x00\x00\x08"), marker...)) },
		func() []byte { return pngChunk("zTXt", []byte(marker+"\x00\x00")) }, // marker as keyword
		func() []byte { return pngChunk("tIME", []byte(marker)) },
	}
	f.Fuzz(func(t *testing.T, data []byte, pos, kind uint8) {
		_, _ = strip(stripPNG, data)

		if len(data) < 8 {
			return
		}
		bs := pngBoundaries(data)
		at := bs[int(pos)%len(bs)]
		chunk := kinds[int(kind)%len(kinds)]()
		in := append(append(append([]byte{}, data[:at]...), chunk...), data[at:]...)
		out, err := strip(stripPNG, in)
		if err != nil {
			if !errors.Is(err, ErrType) {
				t.Fatalf("error that is not ErrType: %v", err)
			}
			return
		}
		if !bytes.Contains(data, markerStart) && bytes.Contains(out, []byte(marker)) {
			t.Fatal("marker in a metadata chunk survived")
		}
		again, err := strip(stripPNG, out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %v", err)
		}
	})
}

func FuzzStripGIF(f *testing.F) {
	in, plain := gifWithMetadata(f, "seed")
	f.Add(in)
	f.Add(plain)
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := strip(stripGIF, data)
		if err != nil {
			if !errors.Is(err, ErrType) {
				t.Fatalf("error that is not ErrType: %v", err)
			}
			return
		}
		again, err := strip(stripGIF, out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %v", err)
		}
	})
}

// webpBoundaries lists chunk starts after "RIFF" size "WEBP".
func webpBoundaries(b []byte) []int {
	out := []int{12}
	off := 12
	for off+8 <= len(b) {
		n := int(binary.LittleEndian.Uint32(b[off+4:]))
		if n > len(b) {
			break
		}
		off += 8 + n + n&1
		if off > len(b) {
			break
		}
		out = append(out, off)
	}
	return out
}

func FuzzStripWebP(f *testing.F) {
	f.Add(webpWithMetadata("seed"), uint8(1), false)
	f.Add(riff(riffChunk("VP8L", vp8l1x1)), uint8(1), true)
	f.Fuzz(func(t *testing.T, data []byte, pos uint8, xmp bool) {
		_, _ = strip(stripWebP, data)

		if len(data) < 12 {
			return
		}
		bs := webpBoundaries(data)
		at := bs[int(pos)%len(bs)]
		chunk := riffChunk("EXIF", append([]byte("MM\x00\x2A\x00\x00\x00\x08"), marker...))
		if xmp {
			chunk = riffChunk("XMP ", []byte("<x:xmpmeta>"+marker+"</x:xmpmeta>"))
		}
		in := append(append(append([]byte{}, data[:at]...), chunk...), data[at:]...)
		binary.LittleEndian.PutUint32(in[4:], binary.LittleEndian.Uint32(in[4:])+uint32(len(chunk)))
		out, err := strip(stripWebP, in)
		if err != nil {
			if !errors.Is(err, ErrType) {
				t.Fatalf("error that is not ErrType: %v", err)
			}
			return
		}
		if int(binary.LittleEndian.Uint32(out[4:])) != len(out)-8 {
			t.Fatal("RIFF size does not match")
		}
		if !bytes.Contains(data, markerStart) && bytes.Contains(out, []byte(marker)) {
			t.Fatal("marker in an EXIF/XMP chunk survived")
		}
		if len(out) >= 21 && string(out[12:16]) == "VP8X" && out[20]&(vp8xEXIF|vp8xXMP) != 0 {
			t.Fatal("VP8X still announces EXIF or XMP")
		}
		again, err := strip(stripWebP, out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %v", err)
		}
	})
}

// FuzzDetect runs the whole content pipeline: detection, then the
// stripper or copier. Accepted content comes out as its type's magic;
// documents come out byte for byte.
func FuzzDetect(f *testing.F) {
	jpg, _ := jpegWithMetadata(f, "s", 0)
	pngb, _ := pngWithMetadata(f, "s")
	gifb, _ := gifWithMetadata(f, "s")
	for _, s := range [][]byte{jpg, pngb, gifb, webpWithMetadata("s"), pdfLike(200, "s"),
		ooxml(f, "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml", "word", nil),
		odf(f, fmtODT.mime), cfb(f, cfbEntry{"WordDocument", fill(4096, "w")}),
		[]byte("MZ"), []byte("<svg/>"), []byte("\x00\x00\x00\x18ftypheic"), []byte("PK\x03\x04")} {
		f.Add(s)
	}
	magic := map[*format]string{fmtJPEG: "\xFF\xD8", fmtPNG: pngSignature, fmtGIF: "GIF8", fmtWebP: "RIFF", fmtPDF: "%PDF-",
		fmtDOCX: "PK", fmtXLSX: "PK", fmtPPTX: "PK", fmtODT: "PK", fmtODS: "PK", fmtODP: "PK", fmtDOC: oleMagic, fmtXLS: oleMagic, fmtPPT: oleMagic}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, typ, err := process(data)
		if err != nil {
			if !errors.Is(err, ErrType) {
				t.Fatalf("error that is not ErrType: %v", err)
			}
			var te *TypeError
			if !errors.As(err, &te) || te.Reason == "" {
				t.Fatal("ErrType without a reason")
			}
			return
		}
		m, ok := magic[typ]
		if !ok || !bytes.HasPrefix(out, []byte(m)) {
			t.Fatalf("accepted as %v, output starts %q", typ, out[:min(len(out), 8)])
		}
		if m == "%PDF-" || m == "PK" || m == oleMagic {
			if !bytes.Equal(out, data) {
				t.Fatal("a document was changed")
			}
		}
		name := cleanName(string(data[:min(len(data), 300)]), typ)
		if !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxNameRunes || !matchesExt(name[len(name)-len(typ.exts[0]):], typ) {
			t.Fatalf("bad name %q", name)
		}
	})
}

func FuzzCleanName(f *testing.F) {
	for _, s := range []string{"a.pdf", "../x.jpg", "\u202Eexe.pdf", "", ".", "a\x00b", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, typ := range []*format{fmtPDF, fmtJPEG} {
			n := cleanName(s, typ)
			if !utf8.ValidString(n) || utf8.RuneCountInString(n) > MaxNameRunes {
				t.Fatalf("%q → %q", s, n)
			}
			_, ext := splitExt(n)
			if !matchesExt(ext, typ) {
				t.Fatalf("%q → %q: extension", s, n)
			}
			for _, r := range n {
				if r < 0x20 || r == 0x7F || r == '/' || r == '\\' || r == '\u202E' {
					t.Fatalf("%q → %q: %U", s, n, r)
				}
			}
			if n[0] == ' ' || n[0] == '.' {
				t.Fatalf("%q → %q", s, n)
			}
		}
	})
}
