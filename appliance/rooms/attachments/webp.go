package attachments

import (
	"bufio"
	"encoding/binary"
	"io"
)

// webpKeep says whether a chunk survives: those that make up the
// picture. EXIF, XMP and unknown chunks are dropped.
func webpKeep(fourcc string) bool {
	switch fourcc {
	case "VP8 ", "VP8L", "VP8X", "ALPH", "ANIM", "ANMF", "ICCP":
		return true
	}
	return false
}

// VP8X flag bits for the chunks dropped.
const (
	vp8xEXIF = 0x08
	vp8xXMP  = 0x04
)

// stripWebP copies a WebP's RIFF chunks without EXIF and XMP, clears
// their VP8X flags and patches the RIFF size at the end (w holds the
// first chunk of output until then). Bytes after the RIFF are dropped.
func stripWebP(w output, r *bufio.Reader) error {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return readErr(err, "the WebP image")
	}
	if string(hdr[:4]) != "RIFF" || string(hdr[8:]) != "WEBP" {
		return damagedf("not a WebP image")
	}
	left := int64(binary.LittleEndian.Uint32(hdr[4:])) - 4
	if left < 8 {
		return damagedf("WebP: bad RIFF size")
	}
	if _, err := w.Write([]byte{'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'E', 'B', 'P'}); err != nil {
		return err
	}
	out := int64(4) // "WEBP"
	var ch [8]byte
	for first := true; left > 0; first = false {
		if left < 8 {
			return damagedf("WebP: bad chunk")
		}
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			return readErr(err, "the WebP image")
		}
		fourcc := string(ch[:4])
		size := int64(binary.LittleEndian.Uint32(ch[4:]))
		padded := size + size&1
		if padded > left-8 {
			return damagedf("WebP: chunk %q runs past the RIFF", fourcc)
		}
		left -= 8 + padded
		if first && fourcc != "VP8 " && fourcc != "VP8L" && fourcc != "VP8X" {
			return damagedf("WebP: no image chunk first")
		}
		if !webpKeep(fourcc) {
			if err := discard(r, padded); err != nil {
				return err
			}
			continue
		}
		if _, err := w.Write(ch[:]); err != nil {
			return err
		}
		out += 8 + padded
		if fourcc == "VP8X" && padded > 0 {
			flags, err := r.ReadByte()
			if err != nil {
				return readErr(err, "the WebP image")
			}
			if _, err := w.Write([]byte{flags &^ (vp8xEXIF | vp8xXMP)}); err != nil {
				return err
			}
			padded--
		}
		if err := copyN(w, r, padded); err != nil {
			return err
		}
	}
	if out > 1<<32-1 {
		return damagedf("WebP: too large")
	}
	var size [4]byte
	binary.LittleEndian.PutUint32(size[:], uint32(out))
	return w.patch(4, size[:])
}

func discard(r *bufio.Reader, n int64) error {
	for n > 0 {
		k := int(min(n, 1<<30))
		d, err := r.Discard(k)
		n -= int64(d)
		if err != nil {
			return readErr(err, "the image")
		}
	}
	return nil
}
