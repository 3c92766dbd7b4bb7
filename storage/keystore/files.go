package keystore

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"clinicbox/storage/fsutil"
)

// File names inside the key directory.
const (
	masterName   = "master.key"
	subjectsName = "subjects.keys"
	lockName     = "lock"
	tmpInfix     = ".tmp-"
)

// checkDir makes dir (0700) if it is missing and refuses one that others
// can reach into.
func checkDir(dir string) error {
	if err := fsutil.PrivateDir(dir, "key directory"); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	return nil
}

// removeLeftovers deletes temporary files a crash left behind: they may
// hold keys that have since been erased. The caller holds the lock.
func removeLeftovers(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, "."+subjectsName+tmpInfix) || strings.HasPrefix(n, "."+masterName+tmpInfix) {
			if err := os.Remove(filepath.Join(dir, n)); err != nil {
				return fmt.Errorf("keys: cannot remove the leftover %s: %w", filepath.Join(dir, n), err)
			}
		}
	}
	return nil
}

// readMaster reads master.key. It returns fs.ErrNotExist (wrapped) when
// the file is missing, and refuses one that others can read or that has
// the wrong size.
func readMaster(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, masterError("keys: cannot read the master key %s: %v", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, masterError("keys: cannot read the master key %s: %v", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, masterError("keys: the master key %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, masterError("keys: the master key %s has mode %04o; it must be readable by its owner only (chmod 600 %s), "+
			"and if others may have read it, treat it as leaked", path, perm, path)
	}
	if fi.Size() != keySize {
		return nil, masterError("keys: the master key %s is %d bytes, want %d; restore it from the operator's backup", path, fi.Size(), keySize)
	}
	key := make([]byte, keySize)
	if _, err := io.ReadFull(f, key); err != nil {
		return nil, masterError("keys: cannot read the master key %s: %v", path, err)
	}
	return key, nil
}

// createMaster makes a new master key and writes it durably; path
// appears only once its content is complete.
func createMaster(dir string) ([]byte, error) {
	key := make([]byte, keySize)
	_, _ = rand.Read(key) // never fails (crypto/rand aborts the program instead)
	if err := writeAtomic(dir, masterName, key); err != nil {
		clear(key)
		return nil, err
	}
	return key, nil
}

// writeAtomic replaces dir/name with data: a temporary file in dir
// (mode 0600), fsynced, renamed over name, then dir fsynced. Readers see
// the old content or the new, never a mix; after a crash, the leftover
// temporary file is removed by the next Open.
func writeAtomic(dir, name string, data []byte) (err error) {
	path := filepath.Join(dir, name)
	f, err := os.CreateTemp(dir, "."+name+tmpInfix+"*")
	if err != nil {
		return fmt.Errorf("keys: cannot write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("keys: cannot write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("keys: cannot write %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("keys: cannot write %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("keys: cannot write %s: %w", path, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	if err := fsutil.SyncDir(dir); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	return nil
}
