package keystore

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
)

// FuzzOpen: any bytes given to Open as a ciphertext give ErrDecrypt,
// never a panic, unless they are exactly a ciphertext Seal made.
func FuzzOpen(f *testing.F) {
	s, err := Open(filepath.Join(f.TempDir(), "keys"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = s.Close() })
	valid, err := s.Seal("user:1", []byte("hello"), []byte("aad"))
	if err != nil {
		f.Fatal(err)
	}
	empty, err := s.Seal("user:1", nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range [][]byte{nil, {}, {1}, {0}, {2}, valid, empty, valid[:sealOverhead], valid[:sealOverhead-1], bytes.Repeat([]byte{1}, 100)} {
		f.Add(seed, []byte("aad"))
		f.Add(seed, []byte(nil))
	}
	f.Fuzz(func(t *testing.T, ct, aad []byte) {
		pt, err := s.Open("user:1", ct, aad)
		if err == nil {
			switch {
			case bytes.Equal(ct, valid) && bytes.Equal(aad, []byte("aad")) && string(pt) == "hello":
			case bytes.Equal(ct, empty) && len(aad) == 0 && len(pt) == 0:
			default:
				t.Fatalf("Open accepted %x (aad %x): %q", ct, aad, pt)
			}
			return
		}
		if !errors.Is(err, ErrDecrypt) || pt != nil {
			t.Fatalf("Open(%x) = %q, %v; want ErrDecrypt", ct, pt, err)
		}
	})
}

// FuzzParseFile: the subjects.keys parser never panics, and nothing but
// a file with a valid MAC authenticates.
func FuzzParseFile(f *testing.F) {
	mk, err := deriveKeys(make([]byte, keySize))
	if err != nil {
		f.Fatal(err)
	}
	wrapped := make([]byte, wrappedLen)
	wrapKey(mk, "user:1", make([]byte, keySize), make([]byte, nonceSize), wrapped)
	valid := encodeFile(mk, 1, 0, func(yield func(string, []byte)) { yield("user:1", wrapped) })
	empty := encodeFile(mk, 0, 0, func(func(string, []byte)) {})
	f.Add(valid)
	f.Add(empty)
	f.Add([]byte(fileMagic))
	f.Add(valid[:len(valid)-1])
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := parseLayout(data)
		if err != nil {
			return
		}
		if _, ok := l.authenticate(mk); ok && !bytes.Equal(data, valid) && !bytes.Equal(data, empty) {
			t.Fatalf("a changed file authenticates: %x", data)
		}
	})
}
