package attachments

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"unicode/utf8"

	"clinicbox/storage/keystore"
)

// The file format; doc.go draws it.
const (
	fileMagic     = "CBXATT"
	fileVersion   = 1
	prologueLen   = len(fileMagic) + 2 + 4
	headerLen     = 1024 // plaintext, zero padded
	headerVersion = 1
	maxOverhead   = 4096 // what a Sealer may add to each chunk
	minChunk      = 1 << 10
	maxChunk      = 1 << 20

	aadHeader = "clinicbox/attachments/v1/header\x00"
	aadChunk  = "clinicbox/attachments/v1/chunk\x00"
)

func headerAAD(id string) []byte { return append([]byte(aadHeader), id...) }

func chunkAAD(id string, idx uint64, last bool) []byte {
	b := make([]byte, 0, len(aadChunk)+len(id)+1+8+1)
	b = append(b, aadChunk...)
	b = append(b, id...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint64(b, idx)
	if last {
		return append(b, 1)
	}
	return append(b, 0)
}

// output is where the content handlers write. patch changes bytes
// already written, within the first chunk only (WebP's RIFF size).
type output interface {
	io.Writer
	patch(off int64, b []byte) error
}

// sealWriter seals 64 KiB chunks into f at their final offsets. A chunk
// is sealed only once it is known whether it is the last; chunk 0 is held
// in memory until finish so patch can still change it.
type sealWriter struct {
	f        *os.File
	keys     Sealer
	subject  string
	id       string
	chunk    int
	first    []byte // chunk 0, once later chunks have started
	cur      []byte // the chunk being filled: index idx
	idx      uint64
	overhead int // Seal's overhead per chunk; -1 until the first Seal
	size     int64
	err      error
}

func newSealWriter(f *os.File, keys Sealer, subject, id string, chunk int) *sealWriter {
	return &sealWriter{f: f, keys: keys, subject: subject, id: id, chunk: chunk,
		cur: make([]byte, 0, chunk), overhead: -1}
}

func (w *sealWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n := len(p)
	for len(p) > 0 {
		if len(w.cur) == w.chunk {
			// Full, and more follows: it is not the last chunk.
			if w.idx == 0 {
				w.first = w.cur
				w.cur = make([]byte, 0, w.chunk)
			} else {
				if err := w.seal(w.idx, w.cur, false); err != nil {
					w.err = err
					return n - len(p), err
				}
				w.cur = w.cur[:0]
			}
			w.idx++
		}
		k := min(len(p), w.chunk-len(w.cur))
		w.cur = append(w.cur, p[:k]...)
		p = p[k:]
		w.size += int64(k)
	}
	return n, nil
}

func (w *sealWriter) patch(off int64, b []byte) error {
	buf := w.first
	if w.idx == 0 {
		buf = w.cur
	}
	if off < 0 || off+int64(len(b)) > int64(len(buf)) {
		return fmt.Errorf("attachments: patch at %d outside the first chunk", off)
	}
	copy(buf[off:], b)
	return nil
}

// finish seals the last chunk and then chunk 0.
func (w *sealWriter) finish() error {
	if w.err != nil {
		return w.err
	}
	if w.size == 0 {
		return refuse(ReasonUnsupported, "the file is empty")
	}
	if err := w.seal(w.idx, w.cur, true); err != nil {
		return err
	}
	if w.idx > 0 {
		if err := w.seal(0, w.first, false); err != nil {
			return err
		}
	}
	return nil
}

func (w *sealWriter) seal(idx uint64, pt []byte, last bool) error {
	ct, err := w.keys.Seal(w.subject, pt, chunkAAD(w.id, idx, last))
	if err != nil {
		return fmt.Errorf("attachments: %w", err)
	}
	oh := len(ct) - len(pt)
	if w.overhead < 0 {
		if oh < 0 || oh > maxOverhead {
			return fmt.Errorf("attachments: the key store adds %d bytes to a chunk; at most %d supported", oh, maxOverhead)
		}
		w.overhead = oh
	} else if oh != w.overhead {
		return errors.New("attachments: the key store's ciphertext overhead is not constant")
	}
	off := int64(prologueLen+headerLen+w.overhead) + int64(idx)*int64(w.chunk+w.overhead)
	if _, err := w.f.WriteAt(ct, off); err != nil {
		return fmt.Errorf("attachments: cannot store the file: %w", err)
	}
	return nil
}

// writeHeader seals m into the header and writes it and the prologue.
func writeHeader(f *os.File, keys Sealer, subject string, m Meta, chunk, overhead int) error {
	pt := make([]byte, 0, headerLen)
	pt = append(pt, headerVersion)
	pt = binary.BigEndian.AppendUint32(pt, uint32(chunk))
	pt = binary.BigEndian.AppendUint64(pt, uint64(m.Size))
	pt = append(pt, byte(len(m.Type)))
	pt = append(pt, m.Type...)
	pt = binary.BigEndian.AppendUint16(pt, uint16(len(m.Name)))
	pt = append(pt, m.Name...)
	if len(pt) > headerLen || len(m.Type) > 255 {
		return errors.New("attachments: header too long") // cannot happen: names are ≤ 200 runes
	}
	pt = pt[:headerLen] // zero padded: cap is headerLen and make zeroed it
	ct, err := keys.Seal(subject, pt, headerAAD(m.ID))
	if err != nil {
		return fmt.Errorf("attachments: %w", err)
	}
	if len(ct)-headerLen != overhead {
		return errors.New("attachments: the key store's ciphertext overhead is not constant")
	}
	pro := make([]byte, 0, prologueLen)
	pro = append(pro, fileMagic...)
	pro = append(pro, fileVersion, 0)
	pro = binary.BigEndian.AppendUint32(pro, uint32(len(ct)))
	if _, err := f.WriteAt(append(pro, ct...), 0); err != nil {
		return fmt.Errorf("attachments: cannot store the file: %w", err)
	}
	return nil
}

// Reader streams a stored file's plaintext. It implements
// io.ReadSeekCloser, so http.ServeContent can answer range requests.
// It is not safe for concurrent use.
type Reader struct {
	f        *os.File
	keys     Sealer
	subject  string
	meta     Meta
	chunk    int64
	overhead int64
	chunks   int64
	dataOff  int64

	pos    int64
	loaded int64 // index of the chunk in pt, -1 for none
	pt     []byte
	ct     []byte
	err    error // sticky: damage, or closed
}

// Meta returns the file's id, size, type and display name, as stored.
func (r *Reader) Meta() Meta { return r.meta }

func openReader(f *os.File, keys Sealer, subject, id string) (*Reader, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("attachments: %w", err)
	}
	var pro [prologueLen]byte
	if _, err := f.ReadAt(pro[:], 0); err != nil {
		return nil, readAtErr(err, id, "the prologue")
	}
	if string(pro[:len(fileMagic)]) != fileMagic || pro[len(fileMagic)] != fileVersion || pro[len(fileMagic)+1] != 0 {
		return nil, storedDamaged(id, "not an attachment file of a known version")
	}
	hlen := int64(binary.BigEndian.Uint32(pro[len(fileMagic)+2:]))
	overhead := hlen - headerLen
	if overhead < 0 || overhead > maxOverhead {
		return nil, storedDamaged(id, "bad header length")
	}
	hct := make([]byte, hlen)
	if _, err := f.ReadAt(hct, int64(prologueLen)); err != nil {
		return nil, readAtErr(err, id, "the header")
	}
	h, err := keys.Open(subject, hct, headerAAD(id))
	if err != nil {
		return nil, openErr(err, id)
	}
	m, chunk, err := parseHeader(h, id)
	if err != nil {
		return nil, err
	}
	chunks := (m.Size + chunk - 1) / chunk
	dataOff := int64(prologueLen) + hlen
	want := dataOff + m.Size + chunks*overhead
	if fi.Size() != want {
		return nil, storedDamaged(id, fmt.Sprintf("%d bytes long, want %d (cut short or appended to)", fi.Size(), want))
	}
	return &Reader{f: f, keys: keys, subject: subject, meta: m, chunk: chunk, overhead: overhead,
		chunks: chunks, dataOff: dataOff, loaded: -1, ct: make([]byte, chunk+overhead)}, nil
}

func parseHeader(h []byte, id string) (Meta, int64, error) {
	bad := func(why string) (Meta, int64, error) { return Meta{}, 0, storedDamaged(id, why) }
	if len(h) != headerLen || h[0] != headerVersion {
		return bad("unknown header version")
	}
	chunk := int64(binary.BigEndian.Uint32(h[1:]))
	size := binary.BigEndian.Uint64(h[5:])
	if chunk < minChunk || chunk > maxChunk || size > maxLimit {
		return bad("bad chunk size or length")
	}
	p := h[13:]
	tl := int(p[0])
	if 1+tl+2 > len(p) {
		return bad("bad type")
	}
	typ := string(p[1 : 1+tl])
	p = p[1+tl:]
	nl := int(binary.BigEndian.Uint16(p))
	if 2+nl > len(p) {
		return bad("bad name")
	}
	name := string(p[2 : 2+nl])
	if !utf8.ValidString(name) || !utf8.ValidString(typ) {
		return bad("bad name")
	}
	return Meta{ID: id, Size: int64(size), Type: typ, Name: name}, chunk, nil
}

func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.pos >= r.meta.Size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	idx := r.pos / r.chunk
	if idx != r.loaded {
		if err := r.load(idx); err != nil {
			r.err = err
			return 0, err
		}
	}
	n := copy(p, r.pt[r.pos-idx*r.chunk:])
	r.pos += int64(n)
	return n, nil
}

func (r *Reader) load(idx int64) error {
	r.loaded, r.pt = -1, nil
	plen := min(r.chunk, r.meta.Size-idx*r.chunk)
	ct := r.ct[:plen+r.overhead]
	if _, err := r.f.ReadAt(ct, r.dataOff+idx*(r.chunk+r.overhead)); err != nil {
		return readAtErr(err, r.meta.ID, fmt.Sprintf("chunk %d", idx))
	}
	pt, err := r.keys.Open(r.subject, ct, chunkAAD(r.meta.ID, uint64(idx), idx == r.chunks-1))
	if err != nil {
		return openErr(err, r.meta.ID)
	}
	if int64(len(pt)) != plen {
		return storedDamaged(r.meta.ID, fmt.Sprintf("chunk %d has the wrong length", idx))
	}
	r.pt, r.loaded = pt, idx
	return nil
}

// Seek sets where the next Read starts (io.Seeker).
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	if r.err != nil {
		return 0, r.err
	}
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.pos + offset
	case io.SeekEnd:
		abs = r.meta.Size + offset
	default:
		return 0, errors.New("attachments: Seek: invalid whence")
	}
	if abs < 0 {
		return 0, errors.New("attachments: Seek: negative position")
	}
	r.pos = abs
	return abs, nil
}

// Close closes the file; later reads fail.
func (r *Reader) Close() error {
	if r.err == os.ErrClosed {
		return nil
	}
	r.err = os.ErrClosed
	r.pt = nil
	return r.f.Close()
}

func readAtErr(err error, id, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return storedDamaged(id, what+" is cut short")
	}
	return fmt.Errorf("attachments: reading file %s: %w", id, err)
}

// openErr: a subject whose key was erased is not damage (the room is
// gone: "former participant"); anything else that fails to open is.
func openErr(err error, id string) error {
	if errors.Is(err, keystore.ErrNoKey) || errors.Is(err, keystore.ErrClosed) {
		return fmt.Errorf("attachments: file %s: %w", id, err)
	}
	return fmt.Errorf("%w: file %s: %w", ErrDamaged, id, err)
}
