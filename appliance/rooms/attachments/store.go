package attachments

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"clinicbox/storage/keystore"

	"clinicbox/storage/fsutil"
)

// DefaultMaxBytes is the size limit when Options.MaxBytes is zero.
const DefaultMaxBytes = 25 << 20

const (
	// maxLimit keeps MaxBytes+1 far from overflow; config allows 1 GB.
	maxLimit = 1 << 40
	// chunkSize is the plaintext size of each sealed chunk.
	chunkSize = 64 << 10
	// sniffLen is how much of the upload the type detector sees before
	// anything is written: enough for the first entries of an OOXML ZIP.
	sniffLen = 64 << 10
	// tmpPrefix names uploads in progress; New removes leftovers.
	tmpPrefix = ".upload-"
)

// Sealer encrypts and decrypts with a subject's key; *keystore.Store is
// the one the box uses. Seal's output must be the plaintext's length plus
// a constant overhead (true of any AEAD with a fixed nonce size).
type Sealer interface {
	Seal(subject string, plaintext, aad []byte) ([]byte, error)
	Open(subject string, ciphertext, aad []byte) ([]byte, error)
}

var _ Sealer = (*keystore.Store)(nil)

// Options configure a Store.
type Options struct {
	Dir      string // <data>/files; created with mode 0700
	Keys     Sealer
	MaxBytes int64 // largest upload accepted; 0 means DefaultMaxBytes
}

// Store keeps encrypted files in one directory. It is safe for
// concurrent use.
type Store struct {
	dir   string
	keys  Sealer
	max   int64
	chunk int
}

// Meta describes a stored file.
type Meta struct {
	ID   string // 128 random bits, 32 lowercase hex digits
	Size int64  // bytes as stored and served (after metadata removal)
	Type string // MIME type detected from the content
	Name string // display name: base name, no control characters, ≤ 200 characters, extension matching Type
}

// New opens (creating it if needed) the file directory and removes
// temporary files left by a crash.
func New(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("attachments: no directory given")
	}
	if opts.Keys == nil {
		return nil, errors.New("attachments: no key store given")
	}
	max := opts.MaxBytes
	if max == 0 {
		max = DefaultMaxBytes
	}
	if max < 1 || max > maxLimit {
		return nil, fmt.Errorf("attachments: size limit %d bytes is out of range (1 byte to 1 TiB)", opts.MaxBytes)
	}
	if err := checkDir(opts.Dir); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("attachments: %w", err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			p := filepath.Join(opts.Dir, e.Name())
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("attachments: cannot remove the unfinished upload %s: %w", p, err)
			}
		}
	}
	return &Store{dir: opts.Dir, keys: opts.Keys, max: max, chunk: chunkSize}, nil
}

// MaxBytes is the largest upload Put accepts.
func (s *Store) MaxBytes() int64 { return s.max }

// Put stores one upload for subject (the key-store subject of the room,
// "room:<id>"). It reads r at most once and at most MaxBytes+1 bytes:
// ErrTooLarge as soon as the limit is passed, ErrType (a *TypeError) for
// content that is not an accepted type. declaredName is only used for
// the display name.
func (s *Store) Put(subject string, r io.Reader, declaredName string) (Meta, error) {
	if subject == "" {
		return Meta{}, errors.New("attachments: no subject given")
	}
	lim := &limitReader{r: r, left: s.max}
	src := bufio.NewReaderSize(lim, sniffLen)
	fail := func(err error) (Meta, error) {
		if errors.Is(err, ErrTooLarge) {
			return Meta{}, fmt.Errorf("%w (%d bytes)", ErrTooLarge, s.max)
		}
		return Meta{}, err
	}

	// The type first: a refused file never touches the disk.
	h, err := sniffHead(src)
	if err != nil {
		return fail(err)
	}

	id := newID()
	f, err := os.CreateTemp(s.dir, tmpPrefix+"*")
	if err != nil {
		return Meta{}, fmt.Errorf("attachments: cannot store the file in %s: %w", s.dir, err)
	}
	tmp := f.Name()
	done := false
	defer func() {
		if !done {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()

	w := newSealWriter(f, s.keys, subject, id, s.chunk)
	typ, err := h(w, src)
	if err == nil {
		// Whatever follows the content (bytes after a JPEG's EOI, a
		// WebP's RIFF) is dropped, but it still counts against the limit.
		_, err = io.Copy(io.Discard, src)
	}
	if err == nil {
		err = w.finish()
	}
	if err != nil {
		return fail(err)
	}
	m := Meta{ID: id, Size: w.size, Type: typ.mime, Name: cleanName(declaredName, typ)}
	if err := writeHeader(f, s.keys, subject, m, s.chunk, w.overhead); err != nil {
		return Meta{}, err
	}
	if err := f.Sync(); err != nil {
		return Meta{}, fmt.Errorf("attachments: cannot store the file in %s: %w", s.dir, err)
	}
	if err := f.Close(); err != nil {
		return Meta{}, fmt.Errorf("attachments: cannot store the file in %s: %w", s.dir, err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, id)); err != nil {
		return Meta{}, fmt.Errorf("attachments: cannot store the file in %s: %w", s.dir, err)
	}
	done = true
	if err := syncDir(s.dir); err != nil {
		// The file is complete; only its directory entry may not be durable yet.
		return Meta{}, errors.Join(err, s.Delete(id))
	}
	return m, nil
}

// Open returns a reader for a stored file, decrypting it chunk by chunk
// as it is read. It checks the file's header and length first: an error
// matching ErrNotFound if there is no such file, ErrDamaged if it is
// damaged or belongs to another subject, and keystore.ErrNoKey if the
// subject's key was erased.
func (s *Store) Open(subject, id string) (*Reader, error) {
	if !validID(id) {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	f, err := os.Open(filepath.Join(s.dir, id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("attachments: %w", err)
	}
	r, err := openReader(f, s.keys, subject, id)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return r, nil
}

// Delete removes a stored file. Deleting a file that is not there (or
// an id that cannot exist) is not an error.
func (s *Store) Delete(id string) error {
	if !validID(id) {
		return nil
	}
	err := os.Remove(filepath.Join(s.dir, id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("attachments: cannot delete %s: %w", filepath.Join(s.dir, id), err)
	}
	return syncDir(s.dir)
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand aborts the program instead)
	return hex.EncodeToString(b[:])
}

func validID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// limitReader lets through at most left bytes; the first byte beyond
// makes every read from then on fail with ErrTooLarge. It never asks its
// source for more than left+1 bytes in total, whatever the reads above
// it ask for (bufio read-ahead included).
type limitReader struct {
	r    io.Reader
	left int64
	over bool
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.over {
		return 0, ErrTooLarge
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	if int64(n) > l.left {
		l.over = true
		return 0, ErrTooLarge
	}
	l.left -= int64(n)
	if err != nil && err != io.EOF {
		err = &sourceError{err}
	}
	return n, err
}

// checkDir makes dir (0700) if it is missing and refuses one that others
// can reach into: file names are ids, but the directory lists them.
func checkDir(dir string) error {
	if err := fsutil.PrivateDir(dir, "file directory"); err != nil {
		return fmt.Errorf("attachments: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	if err := fsutil.SyncDir(dir); err != nil {
		return fmt.Errorf("attachments: %w", err)
	}
	return nil
}
