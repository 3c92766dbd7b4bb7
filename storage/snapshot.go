package storage

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"

	"go.etcd.io/bbolt"

	"clinicbox/storage/fsutil"
)

// compactTxMaxSize bounds each transaction of Compact, so that a large file
// does not have to fit in memory at once.
const compactTxMaxSize = 64 << 20

// Snapshot writes a consistent copy of the database, as of one read
// transaction, to w while writers go on. It holds that transaction until w
// has taken everything, so w should be a local file: never a network peer.
func (db *DB) Snapshot(w io.Writer) (int64, error) {
	var n int64
	err := db.View(func(tx *bbolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("storage: snapshot of %s: %w", db.path, err)
	}
	return n, nil
}

// SnapshotToFile writes a snapshot to path, atomically: into a temporary
// file in the same directory, fsynced, checked with Check, then renamed
// over path. path is replaced only by a snapshot that passed the check.
func (db *DB) SnapshotToFile(path string) (err error) {
	if abs, aerr := filepath.Abs(path); aerr == nil {
		path = abs
	}
	if path == db.path {
		return fmt.Errorf("storage: snapshot: %s is the database itself", path)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("storage: snapshot: cannot create a file in %s: %w", dir, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if _, err = db.Snapshot(f); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("storage: snapshot %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("storage: snapshot %s: %w", path, err)
	}
	rep, err := Check(tmp, db.timeout)
	if err != nil {
		return fmt.Errorf("storage: snapshot %s failed its check, nothing was written: %w", path, err)
	}
	if rep.SchemaVersion != db.schema {
		err = fmt.Errorf("storage: snapshot %s has schema %d, want %d", path, rep.SchemaVersion, db.schema)
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("storage: snapshot %s: %w", path, err)
	}
	return syncDir(dir)
}

// Compact copies the database at srcPath into a new, compact file at
// dstPath, leaving srcPath as it is. It is for a stopped appliance: if
// clinicbox has the file open, it fails with ErrLocked. dstPath must not
// exist; it appears only once the copy is complete, fsynced and has passed
// Check with the same key counts as the source.
func Compact(srcPath, dstPath string) (err error) {
	if _, serr := os.Stat(dstPath); serr == nil {
		return fmt.Errorf("storage: compact: %s already exists; refusing to overwrite it", dstPath)
	} else if !errors.Is(serr, fs.ErrNotExist) {
		return fmt.Errorf("storage: compact: %w", serr)
	}
	src, err := openBolt(srcPath, true, true, DefaultTimeout)
	if err != nil {
		return err
	}
	defer src.Close()

	// Read the whole source under guard first: bbolt.Compact would
	// otherwise meet a damaged page half-way through writing the copy.
	srcRep := Report{Path: srcPath, Buckets: map[string]int{}}
	if fi, serr := os.Stat(srcPath); serr == nil {
		srcRep.SizeBytes = fi.Size()
	}
	checkDB(src, &srcRep)
	if len(srcRep.Problems) > 0 {
		return corruptError(srcPath, errors.New(srcRep.Problems[0]))
	}

	dir := filepath.Dir(dstPath)
	f, err := os.CreateTemp(dir, "."+filepath.Base(dstPath)+".tmp-*")
	if err != nil {
		return fmt.Errorf("storage: compact: cannot create a file in %s: %w", dir, err)
	}
	tmp := f.Name()
	_ = f.Close()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	// Plain bbolt options: no mmap reserve, so the file is no larger
	// than its pages.
	dst, err := bbolt.Open(tmp, fileMode, &bbolt.Options{Timeout: DefaultTimeout, FreelistType: bbolt.FreelistMapType})
	if err != nil {
		return fmt.Errorf("storage: compact: %w", err)
	}
	err = guard(func() error { return bbolt.Compact(dst, src, compactTxMaxSize) })
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("storage: compact %s: %w", srcPath, err)
	}
	rep, err := Check(tmp, DefaultTimeout)
	if err != nil {
		return fmt.Errorf("storage: compacted copy of %s failed its check: %w", srcPath, err)
	}
	if rep.SchemaVersion != srcRep.SchemaVersion || !maps.Equal(rep.Buckets, srcRep.Buckets) {
		err = fmt.Errorf("storage: compacted copy of %s differs from it (schema %d, buckets %v; want schema %d, buckets %v)",
			srcPath, rep.SchemaVersion, rep.Buckets, srcRep.SchemaVersion, srcRep.Buckets)
		return err
	}
	if err = os.Rename(tmp, dstPath); err != nil {
		return fmt.Errorf("storage: compact: %w", err)
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	if err := fsutil.SyncDir(dir); err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	return nil
}
