package keystore

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"
)

// Store holds the data keys of every subject, unwrapped in memory, and
// the file they are kept in. It is safe for concurrent use.
type Store struct {
	dir      string
	subjects string // path of subjects.keys
	mk       *masterKeys
	lock     *os.File
	created  bool

	// fileMu serialises every change to subjects.keys. keys and closed
	// change only with both fileMu and mu held, so holding either one is
	// enough to read them: rewrites read keys under fileMu alone, and
	// Seal/Open look up under mu.RLock without waiting for an fsync.
	fileMu sync.Mutex
	mu     sync.RWMutex
	keys   map[string]*entry
	closed bool
}

// entry is one subject's data key. Seal and Open hold mu for reading while
// they use key; Erase and Close take it for writing to zero the key, so a
// key is never zeroed under a running AEAD operation.
type entry struct {
	mu      sync.RWMutex
	key     [keySize]byte
	wrapped [wrappedLen]byte // as stored in subjects.keys; read under Store.fileMu
	erased  bool
}

func (e *entry) destroy() {
	e.mu.Lock()
	clear(e.key[:])
	clear(e.wrapped[:])
	e.erased = true
	e.mu.Unlock()
}

// Open opens the key store in dir (normally <data>/keys), creating the
// directory (0700), master.key and subjects.keys on first use. It refuses
// a master key that others can read or that has the wrong size, a
// subjects.keys that is damaged or missing while master.key exists, and a
// master.key that is missing while subjects.keys holds keys: it never
// makes a new master key that would orphan existing ones. The directory
// is locked until Close.
func Open(dir string) (s *Store, err error) {
	if dir == "" {
		return nil, errors.New("keys: no key directory given")
	}
	if abs, aerr := filepath.Abs(dir); aerr == nil {
		dir = abs
	}
	if err := checkDir(dir); err != nil {
		return nil, err
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = unlockDir(lock)
		}
	}()
	if err := removeLeftovers(dir); err != nil {
		return nil, err
	}

	s = &Store{
		dir:      dir,
		subjects: filepath.Join(dir, subjectsName),
		lock:     lock,
		keys:     make(map[string]*entry),
	}
	masterPath := filepath.Join(dir, masterName)
	data, rerr := os.ReadFile(s.subjects)
	if rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		return nil, fmt.Errorf("keys: cannot read %s: %w", s.subjects, rerr)
	}
	master, merr := readMaster(masterPath)
	switch {
	case merr == nil:
	case errors.Is(merr, fs.ErrNotExist):
		if rerr == nil {
			l, perr := parseLayout(data)
			if perr != nil {
				return nil, masterError("keys: the master key %s is missing, and %s is damaged (%v); "+
					"restore both from the backups", masterPath, s.subjects, perr)
			}
			if n := len(l.entries); n > 0 {
				return nil, masterError("keys: the master key %s is missing but %s holds %d keys; "+
					"restore master.key from the operator's backup (a new master key would leave all encrypted data unreadable)",
					masterPath, s.subjects, n)
			}
			// No key would be orphaned: a first start that stopped
			// between writing the two files.
		}
		if err := s.initialise(); err != nil {
			return nil, err
		}
		return s, nil
	default:
		return nil, merr
	}

	s.mk, err = deriveKeys(master)
	clear(master)
	if err != nil {
		return nil, err
	}
	if rerr != nil {
		return nil, &opError{
			msg: fmt.Sprintf("keys: subjects.keys is missing from %s although master.key is there; "+
				"restore it from a backup (without it, all encrypted data is unreadable)", dir),
			kind: ErrDamaged,
		}
	}
	if err := s.load(data); err != nil {
		return nil, err
	}
	return s, nil
}

// initialise makes a new master key. subjects.keys (empty) is written
// before master.key, so that a crash in between leaves a state the next
// Open recognises as a first start.
func (s *Store) initialise() error {
	master := make([]byte, keySize)
	_, _ = rand.Read(master) // never fails: crypto/rand aborts the program instead
	defer clear(master)
	mk, err := deriveKeys(master)
	if err != nil {
		return err
	}
	s.mk = mk
	if err := s.writeLocked("", nil, ""); err != nil {
		return err
	}
	if err := writeAtomic(s.dir, masterName, master); err != nil {
		return err
	}
	s.created = true
	return nil
}

// load authenticates subjects.keys and unwraps every key in it.
func (s *Store) load(data []byte) error {
	l, err := parseLayout(data)
	if err != nil {
		return damagedError(s.subjects, err.Error())
	}
	if wrongMaster, ok := l.authenticate(s.mk); !ok {
		if wrongMaster {
			return masterError("keys: %s was written with another master key than %s; "+
				"restore the master.key that belongs to it from the operator's backup",
				s.subjects, filepath.Join(s.dir, masterName))
		}
		return damagedError(s.subjects, "its checksum does not match")
	}
	for _, fe := range l.entries {
		e := &entry{}
		copy(e.wrapped[:], fe.wrapped)
		if err := unwrapKey(s.mk, fe.subject, e.wrapped[:], e.key[:]); err != nil {
			return damagedError(s.subjects, fmt.Sprintf("the key of subject %q does not unwrap", fe.subject))
		}
		s.keys[fe.subject] = e
	}
	return nil
}

// Created reports whether Open made a new master key: a box whose
// database already holds encrypted data should refuse to run then.
func (s *Store) Created() bool { return s.created }

// Seal encrypts plaintext for subject, bound to aad (for example the
// bucket and record id, so a ciphertext cannot be moved to another
// record). The subject's data key is made on first use and is durable
// in subjects.keys before Seal returns.
func (s *Store) Seal(subject string, plaintext, aad []byte) ([]byte, error) {
	if err := validSubject(subject); err != nil {
		return nil, err
	}
	for {
		e, err := s.lookup(subject)
		if err != nil {
			return nil, err
		}
		if e == nil {
			if e, err = s.create(subject); err != nil {
				return nil, err
			}
		}
		e.mu.RLock()
		if e.erased {
			// Erased (or closed) since the lookup: start again, which
			// makes a new key or reports ErrClosed.
			e.mu.RUnlock()
			continue
		}
		aead, err := chacha20poly1305.NewX(e.key[:])
		if err != nil {
			e.mu.RUnlock()
			return nil, fmt.Errorf("keys: %w", err)
		}
		out := make([]byte, 1+nonceSize, sealOverhead+len(plaintext))
		out[0] = sealVersion
		_, _ = rand.Read(out[1:])
		out = aead.Seal(out, out[1:1+nonceSize], plaintext, sealAD(aad))
		e.mu.RUnlock()
		return out, nil
	}
}

// Open decrypts a ciphertext made by Seal for subject with the same aad.
// It returns an error matching ErrNoKey if the subject has no key (it was
// erased: show "former participant"), and ErrDecrypt if the ciphertext is
// malformed, altered, or belongs to another subject or aad.
func (s *Store) Open(subject string, ciphertext, aad []byte) ([]byte, error) {
	nonce, sealed, err := splitCiphertext(ciphertext)
	if err != nil {
		return nil, err
	}
	e, err := s.lookup(subject)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, noKeyError(subject)
	}
	e.mu.RLock()
	if e.erased {
		e.mu.RUnlock()
		if _, err := s.lookup(subject); err != nil {
			return nil, err // closed
		}
		return nil, noKeyError(subject)
	}
	aead, err := chacha20poly1305.NewX(e.key[:])
	if err != nil {
		e.mu.RUnlock()
		return nil, fmt.Errorf("keys: %w", err)
	}
	pt, err := aead.Open(nil, nonce, sealed, sealAD(aad))
	e.mu.RUnlock()
	if err != nil {
		return nil, decryptError("the data is damaged or altered, or belongs to another subject or record")
	}
	return pt, nil
}

// Erase destroys subject's data key: subjects.keys is rewritten without
// it (durably) and the cached key is zeroed. From then on every
// ciphertext sealed for the subject fails with ErrNoKey. Erasing a
// subject without a key does nothing.
func (s *Store) Erase(subject string) error {
	if err := validSubject(subject); err != nil {
		return err
	}
	e, err := s.unlink(subject)
	if e != nil {
		// Outside fileMu: this waits for Seal/Open calls still using
		// the key, and nobody can find the entry any more.
		e.destroy()
	}
	return err
}

// unlink rewrites subjects.keys without subject and then drops it from
// the cache, returning its entry (nil if it had none).
func (s *Store) unlink(subject string) (*entry, error) {
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	e := s.keys[subject]
	if e == nil {
		return nil, nil
	}
	// The file first: if it cannot be written, the key stays usable and
	// the error says the erasure did not happen.
	if err := s.writeLocked("", nil, subject); err != nil {
		return nil, fmt.Errorf("keys: erasure of %q did not happen: %w", subject, err)
	}
	s.mu.Lock()
	delete(s.keys, subject)
	s.mu.Unlock()
	return e, nil
}

// Has reports whether subject has a data key.
func (s *Store) Has(subject string) bool {
	e, err := s.lookup(subject)
	return err == nil && e != nil
}

// Subjects returns the number of subjects with a data key.
func (s *Store) Subjects() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.keys)
}

// Backup writes a consistent copy of subjects.keys to w: wrapped keys
// only, useless without master.key, which the operator backs up apart.
// The copy is read and checked under the store's write lock, then written
// to w without it, so a slow w does not hold up new subjects.
func (s *Store) Backup(w io.Writer) error {
	s.fileMu.Lock()
	if s.closed {
		s.fileMu.Unlock()
		return ErrClosed
	}
	data, err := os.ReadFile(s.subjects)
	s.fileMu.Unlock()
	if err != nil {
		return fmt.Errorf("keys: backup: %w", err)
	}
	l, err := parseLayout(data)
	if err != nil {
		return damagedError(s.subjects, err.Error())
	}
	if _, ok := l.authenticate(s.mk); !ok {
		return damagedError(s.subjects, "its checksum does not match")
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("keys: backup: %w", err)
	}
	return nil
}

// Close zeroes the cached keys and releases the directory. It waits for
// Seal and Open calls in progress; later calls return ErrClosed.
func (s *Store) Close() error {
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	keys := s.keys
	s.keys = nil
	s.mu.Unlock()
	for _, e := range keys {
		e.destroy()
	}
	clear(s.mk.mac)
	clear(s.mk.derive)
	if err := unlockDir(s.lock); err != nil {
		return fmt.Errorf("keys: close: %w", err)
	}
	return nil
}

func (s *Store) lookup(subject string) (*entry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	return s.keys[subject], nil
}

// create makes subject's data key and writes it to subjects.keys before
// anyone can use it.
func (s *Store) create(subject string) (*entry, error) {
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if e := s.keys[subject]; e != nil {
		return e, nil // made by another caller while we waited
	}
	e := &entry{}
	_, _ = rand.Read(e.key[:])
	var nonce [nonceSize]byte
	_, _ = rand.Read(nonce[:])
	wrapKey(s.mk, subject, e.key[:], nonce[:], e.wrapped[:])
	if err := s.writeLocked(subject, e, ""); err != nil {
		e.destroy()
		return nil, err
	}
	s.mu.Lock()
	s.keys[subject] = e
	s.mu.Unlock()
	return e, nil
}

// writeLocked rewrites subjects.keys from s.keys, with add as subject
// addSubject (if add is not nil) and without drop (if not ""). The caller
// holds fileMu.
func (s *Store) writeLocked(addSubject string, add *entry, drop string) error {
	n := len(s.keys)
	if add != nil {
		n++
	}
	if _, ok := s.keys[drop]; ok && drop != "" {
		n--
	}
	buf := encodeFile(s.mk, n, n*(1+16+wrappedLen), func(yield func(string, []byte)) {
		for subject, e := range s.keys {
			if subject != drop {
				yield(subject, e.wrapped[:])
			}
		}
		if add != nil {
			yield(addSubject, add.wrapped[:])
		}
	})
	err := writeAtomic(s.dir, subjectsName, buf)
	clear(buf) // best effort: this buffer held every wrapped key
	return err
}

// DeriveKey returns a 32-byte key for one purpose (e.g. the HMAC key of
// an e-mail index), derived from the master key with HKDF: stable for the
// life of the master key, different for every purpose, never stored.
func (s *Store) DeriveKey(purpose string) ([]byte, error) {
	if purpose == "" {
		return nil, errors.New("keys: DeriveKey needs a purpose")
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	return hkdf.Key(sha256.New, s.mk.derive, nil, "clinicbox/purpose "+purpose, 32)
}
