package attachments

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
)

// JPEG markers.
const (
	mSOI  = 0xD8
	mEOI  = 0xD9
	mSOS  = 0xDA
	mRST0 = 0xD0
	mRST7 = 0xD7
	mTEM  = 0x01
	mAPP0 = 0xE0
	mAPP1 = 0xE1
	mAPP2 = 0xE2
	mAPPE = 0xEE
	mAPPF = 0xEF
	mCOM  = 0xFE
)

// stripJPEG copies a JPEG from r to w without its metadata: every APPn
// segment except APP0 JFIF, APP2 ICC_PROFILE and APP14 Adobe, and every
// COM segment, are dropped; an Exif orientation other than "normal" is
// kept in a new Exif segment holding nothing else. It stops at EOI.
// Segments are at most 64 KiB, so memory stays bounded; the
// entropy-coded data is copied through a buffer.
func stripJPEG(w output, r *bufio.Reader) error {
	var soi [2]byte
	if _, err := io.ReadFull(r, soi[:]); err != nil {
		return readErr(err, "the JPEG image")
	}
	if soi[0] != 0xFF || soi[1] != mSOI {
		return damagedf("not a JPEG image")
	}
	if _, err := w.Write(soi[:]); err != nil {
		return err
	}
	seg := make([]byte, 4+65535)
	orientationDone := false
	marker, pending := byte(0), false
	for {
		if !pending {
			m, err := readMarker(r)
			if err != nil {
				return err
			}
			marker = m
		}
		pending = false
		switch {
		case marker == mEOI:
			_, err := w.Write([]byte{0xFF, mEOI})
			return err
		case marker == mSOI || marker == 0x00:
			return damagedf("JPEG: unexpected marker %02X", marker)
		case marker == mTEM || (marker >= mRST0 && marker <= mRST7):
			if _, err := w.Write([]byte{0xFF, marker}); err != nil {
				return err
			}
			continue
		}
		// A segment with a length.
		seg[0], seg[1] = 0xFF, marker
		if _, err := io.ReadFull(r, seg[2:4]); err != nil {
			return readErr(err, "the JPEG image")
		}
		n := int(binary.BigEndian.Uint16(seg[2:4]))
		if n < 2 {
			return damagedf("JPEG: bad segment length")
		}
		if _, err := io.ReadFull(r, seg[4:2+n]); err != nil {
			return readErr(err, "the JPEG image")
		}
		payload := seg[4 : 2+n]
		switch keep := keepSegment(marker, payload); {
		case marker == mAPP1 && !orientationDone:
			if o := exifOrientation(payload); o >= 2 && o <= 8 {
				orientationDone = true
				if _, err := w.Write(orientationSegment(o)); err != nil {
					return err
				}
			}
			continue
		case !keep:
			continue
		}
		if _, err := w.Write(seg[:2+n]); err != nil {
			return err
		}
		if marker == mSOS {
			m, err := copyEntropy(w, r)
			if err != nil {
				return err
			}
			marker, pending = m, true
		}
	}
}

// keepSegment says whether a length-bearing segment survives.
func keepSegment(marker byte, payload []byte) bool {
	switch {
	case marker == mAPP0:
		return bytes.HasPrefix(payload, []byte("JFIF\x00"))
	case marker == mAPP2:
		return bytes.HasPrefix(payload, []byte("ICC_PROFILE\x00"))
	case marker == mAPPE:
		return bytes.HasPrefix(payload, []byte("Adobe"))
	case marker >= mAPP0 && marker <= mAPPF, marker == mCOM:
		return false
	}
	return true
}

// readMarker reads 0xFF, any fill bytes (0xFF), and the marker code.
func readMarker(r *bufio.Reader) (byte, error) {
	b, err := r.ReadByte()
	if err != nil {
		return 0, readErr(err, "the JPEG image")
	}
	if b != 0xFF {
		return 0, damagedf("JPEG: expected a marker")
	}
	for b == 0xFF {
		if b, err = r.ReadByte(); err != nil {
			return 0, readErr(err, "the JPEG image")
		}
	}
	return b, nil
}

// copyEntropy copies entropy-coded data (after SOS) up to the next
// marker, which it returns; stuffed 0xFF00 and RSTn stay in the data.
func copyEntropy(w io.Writer, r *bufio.Reader) (byte, error) {
	for {
		if _, err := r.Peek(1); err != nil {
			return 0, readErr(err, "the JPEG image")
		}
		buf, _ := r.Peek(r.Buffered())
		i := bytes.IndexByte(buf, 0xFF)
		if i < 0 {
			if _, err := w.Write(buf); err != nil {
				return 0, err
			}
			_, _ = r.Discard(len(buf))
			continue
		}
		if _, err := w.Write(buf[:i]); err != nil {
			return 0, err
		}
		_, _ = r.Discard(i + 1)
		b, err := r.ReadByte()
		for err == nil && b == 0xFF { // fill bytes
			b, err = r.ReadByte()
		}
		if err != nil {
			return 0, readErr(err, "the JPEG image")
		}
		if b == 0x00 || (b >= mRST0 && b <= mRST7) {
			if _, err := w.Write([]byte{0xFF, b}); err != nil {
				return 0, err
			}
			continue
		}
		return b, nil
	}
}

// exifOrientation finds the Orientation tag (0x0112) in IFD0 of an APP1
// Exif payload; 0 if there is none.
func exifOrientation(p []byte) uint16 {
	if !bytes.HasPrefix(p, []byte("Exif\x00\x00")) {
		return 0
	}
	t := p[6:]
	if len(t) < 8 {
		return 0
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 0
	}
	if bo.Uint16(t[2:]) != 42 {
		return 0
	}
	ifd := uint64(bo.Uint32(t[4:]))
	if ifd+2 > uint64(len(t)) {
		return 0
	}
	count := uint64(bo.Uint16(t[ifd:]))
	for i := uint64(0); i < count; i++ {
		e := ifd + 2 + 12*i
		if e+12 > uint64(len(t)) {
			return 0
		}
		if bo.Uint16(t[e:]) == 0x0112 && bo.Uint16(t[e+2:]) == 3 && bo.Uint32(t[e+4:]) == 1 {
			return bo.Uint16(t[e+8:])
		}
	}
	return 0
}

// orientationSegment is an APP1 Exif segment with one tag: Orientation.
func orientationSegment(o uint16) []byte {
	return []byte{
		0xFF, mAPP1, 0x00, 34,
		'E', 'x', 'i', 'f', 0, 0,
		'M', 'M', 0x00, 0x2A, 0x00, 0x00, 0x00, 0x08, // big-endian TIFF, IFD0 at 8
		0x00, 0x01, // one entry
		0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, byte(o >> 8), byte(o), 0x00, 0x00, // Orientation, SHORT, 1
		0x00, 0x00, 0x00, 0x00, // no next IFD
	}
}
