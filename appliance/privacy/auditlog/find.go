package auditlog

import (
	"bytes"
	"encoding/binary"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"go.etcd.io/bbolt"

	"clinicbox/storage"
)

// Query selects entries. Zero fields do not filter.
type Query struct {
	// ActorID, SubjectID, UnitID select entries with that id. Find walks
	// the subject index when SubjectID is set, else the actor index, else
	// the unit index, else every entry.
	ActorID, SubjectID, UnitID uint64
	// From (inclusive) and To (exclusive) bound the entry's Time. A
	// period alone walks every entry; combine it with an id, or a Limit.
	From, To time.Time
	// Limit caps the number of entries returned; 0 or less means all.
	Limit int
	// AfterSeq continues a previous page: only entries that come after
	// entry AfterSeq in the order returned (Seq > AfterSeq oldest first,
	// Seq < AfterSeq newest first). Pass the last Seq of the page.
	AfterSeq uint64
	// NewestFirst returns entries by descending Seq. The default is
	// oldest first (ascending Seq), the order of the chain and of exports.
	NewestFirst bool
}

// Find returns the entries q selects, oldest first unless q.NewestFirst.
// Entries come in Seq order, which is the order they were logged; their
// Times follow it unless a caller supplied its own or the clock stepped.
func (l *Log) Find(q Query) ([]Entry, error) {
	var out []Entry
	err := l.db.View(func(tx *bbolt.Tx) error {
		out = out[:0]
		return scan(tx, q, func(e Entry) bool {
			out = append(out, e)
			return q.Limit <= 0 || len(out) < q.Limit
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// scan calls fn with each entry q selects, in order, until fn returns
// false.
func scan(tx *bbolt.Tx, q Query, fn func(Entry) bool) error {
	entries := tx.Bucket([]byte(BucketEntries))
	if entries == nil {
		return errNoBuckets
	}
	if q.NewestFirst && q.AfterSeq == 1 || !q.NewestFirst && q.AfterSeq == math.MaxUint64 {
		return nil
	}
	from, to := nanos(q.From, math.MinInt64), nanos(q.To, math.MaxInt64)
	if !q.To.IsZero() && to <= from {
		return nil
	}
	inPeriod := func(ns int64) bool { return ns >= from && (q.To.IsZero() || ns < to) }
	match := func(e *Entry) bool {
		return (q.ActorID == 0 || e.ActorID == q.ActorID) &&
			(q.SubjectID == 0 || e.SubjectID == q.SubjectID) &&
			(q.UnitID == 0 || e.UnitID == q.UnitID) &&
			inPeriod(e.Time.UnixNano())
	}

	var idxName string
	var id uint64
	switch {
	case q.SubjectID != 0:
		idxName, id = BucketBySubject, q.SubjectID
	case q.ActorID != 0:
		idxName, id = BucketByActor, q.ActorID
	case q.UnitID != 0:
		idxName, id = BucketByUnit, q.UnitID
	}

	if idxName == "" {
		c := entries.Cursor()
		for k, v := seek(c, nil, q); k != nil; k, v = step(c, nil, q) {
			e, err := decodeValue(v)
			if err != nil {
				return fmt.Errorf("%w: entry %x cannot be read: %v", ErrDamaged, k, err)
			}
			if match(&e) && !fn(e) {
				return nil
			}
		}
		return nil
	}

	idx := tx.Bucket([]byte(idxName))
	if idx == nil {
		return errNoBuckets
	}
	prefix := storage.ID(id)
	c := idx.Cursor()
	for k, v := seek(c, prefix, q); k != nil; k, v = step(c, prefix, q) {
		if len(k) != 16 || len(v) != 8 {
			return fmt.Errorf("%w: %s has a malformed key %x", ErrDamaged, idxName, k)
		}
		if !inPeriod(int64(binary.BigEndian.Uint64(v))) {
			continue
		}
		seq := binary.BigEndian.Uint64(k[8:])
		ev := entries.Get(k[8:])
		if ev == nil {
			return fmt.Errorf("%w: %s points at entry %d, which is missing", ErrDamaged, idxName, seq)
		}
		e, err := decodeValue(ev)
		if err != nil {
			return fmt.Errorf("%w: entry %d cannot be read: %v", ErrDamaged, seq, err)
		}
		if match(&e) && !fn(e) {
			return nil
		}
	}
	return nil
}

// seek positions c on the first key of the walk: keys are prefix || seq,
// seq 8 bytes BE, walked in the direction and from the cursor q asks for.
// It returns nil when there is none.
func seek(c *bbolt.Cursor, prefix []byte, q Query) ([]byte, []byte) {
	var k, v []byte
	if !q.NewestFirst {
		k, v = c.Seek(append(bytes.Clone(prefix), storage.ID(q.AfterSeq+1)...))
	} else {
		upper := uint64(math.MaxUint64)
		if q.AfterSeq != 0 {
			upper = q.AfterSeq - 1
		}
		target := append(bytes.Clone(prefix), storage.ID(upper)...)
		k, v = c.Seek(target)
		switch {
		case k == nil:
			k, v = c.Last()
		case !bytes.Equal(k, target):
			k, v = c.Prev()
		}
	}
	return within(k, v, prefix)
}

func step(c *bbolt.Cursor, prefix []byte, q Query) ([]byte, []byte) {
	if q.NewestFirst {
		k, v := c.Prev()
		return within(k, v, prefix)
	}
	k, v := c.Next()
	return within(k, v, prefix)
}

// within returns k and v while k has the walk's prefix, nil after.
func within(k, v, prefix []byte) ([]byte, []byte) {
	if k == nil || !bytes.HasPrefix(k, prefix) {
		return nil, nil
	}
	return k, v
}

// nanos returns t in unix nanoseconds, or def for the zero time; times
// beyond int64 nanoseconds are clamped.
func nanos(t time.Time, def int64) int64 {
	switch {
	case t.IsZero():
		return def
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// csvPage is how many entries WriteCSV reads per read transaction: the
// writer may be a slow network peer, and no read transaction is held
// while writing to it.
const csvPage = 1000

// CSVHeader returns the first row WriteCSV writes.
func CSVHeader() []string {
	return []string{"seq", "time", "actor_id", "actor_role", "subject_id", "unit_id", "action", "detail", "prev_hash", "hash"}
}

// WriteCSV writes the entries q selects as CSV (RFC 4180, CRLF line
// ends) with a header row, in Find's order. A cell that a spreadsheet
// would take for a formula (starting with = + - @, tab or CR) gets a
// leading apostrophe. Entries are read a page at a time, so no read
// transaction stays open while w blocks.
func (l *Log) WriteCSV(w io.Writer, q Query) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	header := CSVHeader()
	if err := cw.Write(header); err != nil {
		return fmt.Errorf("auditlog: write csv: %w", err)
	}
	remaining := q.Limit
	page := q
	row := make([]string, len(header))
	for {
		page.Limit = csvPage
		if remaining > 0 && remaining < csvPage {
			page.Limit = remaining
		}
		entries, err := l.Find(page)
		if err != nil {
			return err
		}
		for i := range entries {
			e := &entries[i]
			row[0] = strconv.FormatUint(e.Seq, 10)
			row[1] = e.Time.UTC().Format(time.RFC3339Nano)
			row[2] = strconv.FormatUint(e.ActorID, 10)
			row[3] = e.ActorRole
			row[4] = strconv.FormatUint(e.SubjectID, 10)
			row[5] = strconv.FormatUint(e.UnitID, 10)
			row[6] = e.Action
			row[7] = e.Detail
			row[8] = hex.EncodeToString(e.PrevHash[:])
			row[9] = hex.EncodeToString(e.Hash[:])
			for j := range row {
				row[j] = defuseFormula(row[j])
			}
			if err := cw.Write(row); err != nil {
				return fmt.Errorf("auditlog: write csv: %w", err)
			}
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return fmt.Errorf("auditlog: write csv: %w", err)
		}
		if remaining > 0 {
			remaining -= len(entries)
			if remaining <= 0 {
				return nil
			}
		}
		if len(entries) < page.Limit {
			return nil
		}
		page.AfterSeq = entries[len(entries)-1].Seq
	}
}

// defuseFormula prefixes a cell that a spreadsheet would evaluate.
func defuseFormula(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}
