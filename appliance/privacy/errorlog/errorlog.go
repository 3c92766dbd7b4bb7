// Package errorlog is the technical error log of SPEC's seed 000: an
// error code, the time and the internal user id, never a name,
// personnummer or message text. Technicians see it on the system page;
// the retention rules delete entries after 3 years by default.
//
//	error-log   TimeKey(time, seq) → Entry (JSON: code, user id)
package errorlog

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"time"

	"go.etcd.io/bbolt"

	"clinicbox/storage"
)

var bucket = []byte("error-log")

// Entry is one error as stored.
type Entry struct {
	Time   time.Time `json:"-"`
	Code   string    `json:"code"`
	UserID uint64    `json:"user,omitempty"`
}

// Log writes and reads the error log.
type Log struct {
	db  *storage.DB
	now func() time.Time
}

// New returns the log over storage migration 8's bucket.
func New(db *storage.DB, now func() time.Time) *Log {
	if now == nil {
		now = time.Now
	}
	return &Log{db: db, now: now}
}

// codePattern keeps codes machine-made (e.g. "http.500./rooms/{id}"): a
// code is never free text that could carry personal data.
var codePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._/{}:-]{0,119}$`)

// ErrCode is returned for a code that is not of that form.
var ErrCode = errors.New("errorlog: a code is lower-case letters, digits and . _ / { } : - (at most 120)")

// Record adds an entry. It uses Batch: errors often come in bursts.
func (l *Log) Record(code string, userID uint64) error {
	if !codePattern.MatchString(code) {
		return ErrCode
	}
	at := l.now().UTC()
	return l.db.Batch(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucket)
		seq, err := storage.NextID(b)
		if err != nil {
			return err
		}
		return storage.Put(b, storage.TimeKey(at, seq), Entry{Code: code, UserID: userID})
	})
}

// Recent returns up to n entries, newest first.
func (l *Log) Recent(n int) ([]Entry, error) {
	var out []Entry
	err := l.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		for k, v := c.Last(); k != nil && len(out) < n; k, v = c.Prev() {
			e, err := storage.Decode[Entry](v)
			if err != nil {
				return fmt.Errorf("errorlog: %w", err)
			}
			if e.Time, _, err = storage.ParseTimeKey(k); err != nil {
				return fmt.Errorf("errorlog: %w", err)
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// Prune deletes (or, dryRun, counts) entries older than before, for the
// retention rules.
func (l *Log) Prune(before time.Time, dryRun bool) (int, error) {
	end := storage.TimeKey(before, 0)
	n := 0
	apply := l.db.Update
	if dryRun {
		apply = l.db.View
	}
	err := apply(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		for k, _ := c.First(); k != nil && bytes.Compare(k, end) < 0; k, _ = c.Next() {
			n++
			if !dryRun {
				if err := c.Delete(); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return n, err
}
