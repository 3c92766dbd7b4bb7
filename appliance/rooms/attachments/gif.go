package attachments

import (
	"bufio"
	"io"
)

// stripGIF copies a GIF block by block, dropping comment extensions and
// application extensions (XMP and ICC travel there) except the looping
// ones (NETSCAPE2.0, ANIMEXTS1.0). It stops at the trailer; a GIF that
// ends without one after at least one image gets one.
func stripGIF(w output, r *bufio.Reader) error {
	var hdr [13]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return readErr(err, "the GIF image")
	}
	if s := string(hdr[:6]); s != "GIF87a" && s != "GIF89a" {
		return damagedf("not a GIF image")
	}
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	if hdr[10]&0x80 != 0 {
		if err := copyN(w, r, 3<<(hdr[10]&7+1)); err != nil {
			return err
		}
	}
	images := 0
	for {
		b, err := r.ReadByte()
		if err != nil {
			if isEOF(err) && images > 0 {
				_, err = w.Write([]byte{0x3B})
				return err
			}
			return readErr(err, "the GIF image")
		}
		switch b {
		case 0x3B: // trailer
			_, err := w.Write([]byte{b})
			return err
		case 0x2C: // image descriptor
			var d [10]byte // separator, left, top, width, height, packed
			d[0] = b
			if _, err := io.ReadFull(r, d[1:]); err != nil {
				return readErr(err, "the GIF image")
			}
			if _, err := w.Write(d[:]); err != nil {
				return err
			}
			if d[9]&0x80 != 0 { // local colour table
				if err := copyN(w, r, 3<<(d[9]&7+1)); err != nil {
					return err
				}
			}
			if err := copyN(w, r, 1); err != nil { // LZW minimum code size
				return err
			}
			if err := subBlocks(w, r); err != nil {
				return err
			}
			images++
		case 0x21: // extension
			label, err := r.ReadByte()
			if err != nil {
				return readErr(err, "the GIF image")
			}
			switch label {
			case 0xF9, 0x01: // graphic control, plain text: part of the picture
				if _, err := w.Write([]byte{b, label}); err != nil {
					return err
				}
				if err := subBlocks(w, r); err != nil {
					return err
				}
			case 0xFF: // application
				n, err := r.ReadByte()
				if err != nil {
					return readErr(err, "the GIF image")
				}
				id := make([]byte, n)
				if _, err := io.ReadFull(r, id); err != nil {
					return readErr(err, "the GIF image")
				}
				if s := string(id); n == 0 {
					continue // an empty extension: nothing follows
				} else if s == "NETSCAPE2.0" || s == "ANIMEXTS1.0" {
					if _, err := w.Write(append([]byte{b, label, n}, id...)); err != nil {
						return err
					}
					if err := subBlocks(w, r); err != nil {
						return err
					}
				} else if err := subBlocks(nil, r); err != nil {
					return err
				}
			default: // comment (0xFE) and anything unknown
				if err := subBlocks(nil, r); err != nil {
					return err
				}
			}
		default:
			return damagedf("GIF: unknown block %02X", b)
		}
	}
}

// subBlocks copies (w != nil) or skips data sub-blocks up to and
// including the zero-length terminator.
func subBlocks(w io.Writer, r *bufio.Reader) error {
	for {
		n, err := r.ReadByte()
		if err != nil {
			return readErr(err, "the GIF image")
		}
		if w != nil {
			if _, err := w.Write([]byte{n}); err != nil {
				return err
			}
		}
		if n == 0 {
			return nil
		}
		if w == nil {
			if _, err := r.Discard(int(n)); err != nil {
				return readErr(err, "the GIF image")
			}
			continue
		}
		if err := copyN(w, r, int64(n)); err != nil {
			return err
		}
	}
}

func copyN(w io.Writer, r *bufio.Reader, n int64) error {
	for n > 0 {
		if _, err := r.Peek(1); err != nil {
			return readErr(err, "the image")
		}
		buf, _ := r.Peek(int(min(n, int64(r.Buffered()))))
		if _, err := w.Write(buf); err != nil {
			return err
		}
		_, _ = r.Discard(len(buf))
		n -= int64(len(buf))
	}
	return nil
}

func isEOF(err error) bool { return err == io.EOF }
