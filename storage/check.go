package storage

import (
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.etcd.io/bbolt"
)

// maxProblems caps the list in a Report: a badly damaged file can have
// thousands, and the first ones say enough.
const maxProblems = 100

// Report is the verdict of Check.
type Report struct {
	Path          string
	SizeBytes     int64
	SchemaVersion int
	// Buckets maps each top-level bucket to the number of key/value pairs
	// in it and in its nested buckets.
	Buckets map[string]int
	// Problems found; empty when OK.
	Problems []string
	// Checked is false when the check could not run at all (the file is
	// locked or unreadable); Problems then says why.
	Checked bool
	OK      bool
}

// String is the verdict for a person, e.g.
// "database /x/clinicbox.db: OK (schema 1, 3 buckets, 1.2 MiB)".
func (r Report) String() string {
	var b strings.Builder
	switch {
	case r.OK:
		fmt.Fprintf(&b, "database %s: OK (schema %d, %d buckets, %s)", r.Path, r.SchemaVersion, len(r.Buckets), formatBytes(r.SizeBytes))
		if latest := len(Migrations()); r.SchemaVersion > latest {
			fmt.Fprintf(&b, "; its schema is newer than this clinicbox knows (%d)", latest)
		}
	case !r.Checked:
		fmt.Fprintf(&b, "database %s: NOT CHECKED", r.Path)
		for _, p := range r.Problems {
			fmt.Fprintf(&b, "\n  - %s", p)
		}
	default:
		noun := "problems"
		if len(r.Problems) == 1 {
			noun = "problem"
		}
		fmt.Fprintf(&b, "database %s: DAMAGED (%d %s, %s)", r.Path, len(r.Problems), noun, formatBytes(r.SizeBytes))
		for _, p := range r.Problems {
			fmt.Fprintf(&b, "\n  - %s", p)
		}
		b.WriteString("\nThe file was not changed. Restore the latest backup (`clinicbox restore`); keep this file for analysis.")
	}
	return b.String()
}

func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n)/unit, 0
	for v >= unit && i < 3 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %s", v, [...]string{"KiB", "MiB", "GiB", "TiB"}[i])
}

// Check checks the database file at path offline: it opens it read-only,
// reads every key and value, and runs bbolt's consistency check. It never
// writes to the file.
//
// The error is nil exactly when the report is OK. Otherwise it matches
// ErrCorrupt (the report lists the problems), ErrLocked or another error
// (the check could not run; Report.Checked is false).
//
// A running clinicbox holds an exclusive lock that also excludes the
// read-only (shared) lock taken here, so on a running box Check fails with
// ErrLocked after timeout (DefaultTimeout if zero). Use DB.Check there.
func Check(path string, timeout time.Duration) (Report, error) {
	rep := Report{Path: path, Buckets: map[string]int{}}
	fi, err := os.Stat(path)
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("storage: %s is not a regular file", path)
	}
	if err != nil {
		rep.Problems = []string{err.Error()}
		return rep, fmt.Errorf("storage: check %s: %w", path, err)
	}
	rep.SizeBytes = fi.Size()
	if fi.Size() == 0 {
		rep.Checked = true
		rep.Problems = []string{"the file is empty"}
		return rep, damagedError(rep)
	}
	// Preload the freelist here, under guard: tx.Check would otherwise load
	// it on its own goroutine, where a fault on a damaged file would kill
	// the process.
	bdb, err := openBolt(path, true, true, timeout)
	if err != nil {
		switch {
		case errors.Is(err, ErrLocked):
			rep.Problems = []string{err.Error() + "; stop the service to check the file, or check the running box online"}
		case errors.Is(err, ErrCorrupt):
			rep.Checked = true
			rep.Problems = []string{describe(openFailure(path, fi.Size(), err, timeout))}
			return rep, damagedError(rep)
		default:
			rep.Problems = []string{err.Error()}
		}
		return rep, err
	}
	defer bdb.Close()
	rep.Checked = true
	checkDB(bdb, &rep)
	if len(rep.Problems) > 0 {
		return rep, damagedError(rep)
	}
	rep.OK = true
	return rep, nil
}

// damagedError is Check's error for a file with problems: the report has
// the details and the advice.
func damagedError(rep Report) error {
	msg := fmt.Sprintf("storage: database %s is damaged: %s", rep.Path, rep.Problems[0])
	if n := len(rep.Problems) - 1; n > 0 {
		msg += fmt.Sprintf(" (and %d more problems)", n)
	}
	return &opError{msg: msg, kind: ErrCorrupt}
}

// openFailure returns the cause of a failed open. A panic while loading
// the freelist is most often a truncated file; a look at the meta page
// alone (which bbolt reads without touching other pages) tells.
func openFailure(path string, size int64, err error, timeout time.Duration) error {
	var oe *opError
	if errors.As(err, &oe) && oe.err != nil {
		err = oe.err
	}
	if _, ok := err.(*panicError); !ok {
		return err
	}
	bdb, oerr := openBolt(path, true, false, timeout)
	if oerr != nil {
		return err
	}
	defer bdb.Close()
	var used int64
	_ = bdb.View(func(tx *bbolt.Tx) error { used = tx.Size(); return nil })
	if used > size {
		return truncatedError(size, used)
	}
	return err
}

func truncatedError(size, used int64) error {
	return fmt.Errorf("the file is truncated: it has %d bytes, its pages need %d", size, used)
}

// checkDB fills rep from an open database.
func checkDB(bdb *bbolt.DB, rep *Report) {
	problem := func(format string, args ...any) {
		rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...))
	}
	// First read everything ourselves, under guard. tx.Check walks the
	// same pages on a goroutine of its own, where a memory fault could not
	// be recovered; once every page has been read here without one, it is
	// safe to run.
	err := guard(func() error {
		return bdb.View(func(tx *bbolt.Tx) error {
			if tx.Size() > rep.SizeBytes {
				return truncatedError(rep.SizeBytes, tx.Size())
			}
			v, err := checkSchema(tx, rep.Path, len(Migrations()))
			if err != nil && !errors.Is(err, ErrSchemaTooNew) {
				var oe *opError
				if errors.As(err, &oe) && oe.err != nil {
					err = oe.err
				}
				problem("%v", err)
			}
			rep.SchemaVersion = v
			if meta := tx.Bucket([]byte(bucketMeta)); meta != nil && len(meta.Get([]byte(keyBoxID))) != 32 {
				problem("the meta bucket has no valid box_id")
			}
			var sum uint32
			return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
				n, err := readBucket(b, &sum)
				rep.Buckets[string(name)] = n
				if err != nil {
					return fmt.Errorf("bucket %q: %w", name, err)
				}
				return nil
			})
		})
	})
	if err != nil {
		problem("%s", describe(err))
		return
	}
	_ = bdb.View(func(tx *bbolt.Tx) error {
		n := 0
		// Drain the channel fully: bbolt's checker blocks until read.
		for err := range tx.Check(bbolt.WithKVStringer(redactingKV{})) {
			if n++; n <= maxProblems {
				problem("%v", err)
			}
		}
		if n > maxProblems {
			problem("... and %d more", n-maxProblems)
		}
		return nil
	})
}

// readBucket reads every key and value (checksumming them so that each
// byte is really touched) and counts the key/value pairs, nested
// buckets included.
func readBucket(b *bbolt.Bucket, sum *uint32) (int, error) {
	n := 0
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		*sum = crc32.Update(*sum, crc32.IEEETable, k)
		if v != nil {
			*sum = crc32.Update(*sum, crc32.IEEETable, v)
			n++
			continue
		}
		child := b.Bucket(k)
		if child == nil {
			return n, fmt.Errorf("key %s has no value and is no bucket", redactingKV{}.KeyToString(k))
		}
		m, err := readBucket(child, sum)
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// redactingKV keeps personal data out of check messages: keys in our id
// and time formats are shown, other keys and all values only by length.
type redactingKV struct{}

func (redactingKV) KeyToString(k []byte) string {
	if len(k) == 8 || len(k) == 16 {
		return hex.EncodeToString(k)
	}
	return fmt.Sprintf("<%d-byte key>", len(k))
}

func (redactingKV) ValueToString(v []byte) string { return fmt.Sprintf("<%d-byte value>", len(v)) }

// Check checks the running database without stopping it: it writes a
// consistent snapshot next to the database file (so it needs that much
// free space), checks the snapshot with Check, and removes it. Writers are
// not blocked. The report names the live file and its size.
func (db *DB) Check() (Report, error) {
	f, err := os.CreateTemp(filepath.Dir(db.path), checkTempPattern(db.path))
	if err != nil {
		return Report{Path: db.path}, fmt.Errorf("storage: check %s: %w", db.path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = db.Snapshot(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Report{Path: db.path}, err
	}
	rep, err := Check(tmp, db.timeout)
	rep.Path = db.path
	if fi, serr := os.Stat(db.path); serr == nil {
		rep.SizeBytes = fi.Size()
	}
	switch {
	case errors.Is(err, ErrCorrupt):
		return rep, damagedError(rep)
	case err != nil:
		return rep, fmt.Errorf("storage: check of running database %s: %w", db.path, err)
	}
	return rep, nil
}
