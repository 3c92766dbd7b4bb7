// Package fsutil holds the few file-system steps that the box's stores
// (the database, the key store, the attachment store) all need to get
// right: a directory only its owner can enter, and fsync of a directory so
// that a new or renamed file's entry survives a power cut.
package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// PrivateDir makes dir (0700) if it is missing and refuses one that
// others can reach into. what names the directory in errors ("key
// directory").
func PrivateDir(dir, what string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("cannot create the %s %s: %w", what, dir, err)
		}
		// Make the new directory's own entry durable too.
		if err := SyncDir(filepath.Dir(dir)); err != nil {
			return err
		}
		fi, err = os.Stat(dir)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("the %s %s has mode %04o; it must be accessible by its owner only (chmod 700 %s)", what, dir, perm, dir)
	}
	return nil
}

// SyncDir fsyncs a directory, making the entries of files created or
// renamed in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
