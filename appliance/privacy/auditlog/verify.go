package auditlog

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"clinicbox/storage"
)

// Problem is one way the stored log differs from what Append wrote.
type Problem struct {
	// Seq is the entry concerned (the first one of a range); 0 when the
	// problem is not about one entry.
	Seq uint64
	// Kind is one of "changed" (an entry's content or hash no longer
	// matches, or the chain link to it is broken), "missing" (entries are
	// gone: a gap, or removed from the end), "inserted" (entries that
	// Append did not write: beyond the recorded end, or foreign keys),
	// "reordered" (an entry stored under another sequence number than its
	// own) and "bad-index" (a secondary index disagrees with the entries).
	Kind string
	// Msg says what was found, for a person.
	Msg string
}

func (p Problem) String() string {
	if p.Seq == 0 {
		return p.Kind + ": " + p.Msg
	}
	return fmt.Sprintf("entry %d: %s: %s", p.Seq, p.Kind, p.Msg)
}

// Problem kinds.
const (
	KindChanged   = "changed"
	KindMissing   = "missing"
	KindInserted  = "inserted"
	KindReordered = "reordered"
	KindBadIndex  = "bad-index"
)

// MaxProblems caps the problems Verify lists: a log damaged throughout
// has as many as entries, and the first ones say enough.
const MaxProblems = 1000

// Verify walks the whole log in tx: it recomputes each entry's hash,
// checks that each links to the one before (entry 1 to the genesis value
// of boxID) and that sequence numbers run 1, 2, 3... without gaps, that
// the recorded end of the log (and the bucket's sequence counter) match
// the last entry, so that removing the last entries is caught too, and
// that the three indexes hold exactly one correct key per entry. It
// returns the number of entries read and at most MaxProblems problems;
// err is for failures to read at all, not for problems found.
//
// What it cannot catch alone: someone with write access to the file and
// this source can rebuild the whole chain. Comparing with an anchor kept
// elsewhere (Log.Head written down, in a backup, or sent upstream)
// catches that too.
func Verify(tx *bbolt.Tx, boxID string) (checked int, problems []Problem, err error) {
	if tx == nil {
		return 0, nil, errors.New("auditlog: verify needs a transaction")
	}
	v := verifier{tx: tx}
	v.run(genesis(boxID))
	return v.checked, v.problems, nil
}

// Verify verifies the log (see the package function Verify) in one read
// transaction. On a large log it takes a while (about 3 s per million
// entries on the 2-core dev VM) but blocks no writer.
func (l *Log) Verify() (int, []Problem, error) {
	var (
		n  int
		ps []Problem
	)
	err := l.db.View(func(tx *bbolt.Tx) error {
		var err error
		n, ps, err = Verify(tx, l.boxID)
		return err
	})
	return n, ps, err
}

type verifier struct {
	tx       *bbolt.Tx
	checked  int
	problems []Problem
	gone     [][2]uint64 // ranges reported missing
}

// isGone reports whether seq was already reported missing: index keys
// that point at it say nothing new.
func (v *verifier) isGone(seq uint64) bool {
	for _, r := range v.gone {
		if seq >= r[0] && seq <= r[1] {
			return true
		}
	}
	return false
}

func (v *verifier) add(seq uint64, kind, format string, args ...any) {
	if len(v.problems) < MaxProblems {
		v.problems = append(v.problems, Problem{Seq: seq, Kind: kind, Msg: fmt.Sprintf(format, args...)})
	}
}

// link is what the walk remembers of an entry it passed.
type link struct {
	seq   uint64
	hash  [32]byte // as stored
	valid bool     // decoded; hash is known
}

// indexCheck follows one secondary index through the walk.
type indexCheck struct {
	index
	present int // entries whose key was found in the index
}

func (v *verifier) run(gen [32]byte) {
	entries := v.tx.Bucket([]byte(BucketEntries))
	meta := v.tx.Bucket([]byte(BucketMeta))
	var idx []*indexCheck
	for _, ix := range (buckets{
		bySubject: v.tx.Bucket([]byte(BucketBySubject)),
		byActor:   v.tx.Bucket([]byte(BucketByActor)),
		byUnit:    v.tx.Bucket([]byte(BucketByUnit)),
	}).indexes() {
		idx = append(idx, &indexCheck{index: ix})
	}

	prev := link{hash: gen, valid: true} // entry 0 is the genesis
	var prevPrev link
	var lastDelta uint64
	skipLink := false
	if entries != nil {
		c := entries.Cursor()
		for k, val := c.First(); k != nil; k, val = c.Next() {
			if val == nil {
				v.add(0, KindInserted, "a nested bucket %q inside %s; Append never makes one", k, BucketEntries)
				continue
			}
			if len(k) != 8 {
				v.add(0, KindInserted, "a key of %d bytes (%x) in %s; Append writes 8-byte sequence numbers only", len(k), k, BucketEntries)
				continue
			}
			keySeq := binary.BigEndian.Uint64(k)
			v.checked++
			e, err := decodeValue(val)
			if err != nil {
				v.add(keySeq, KindChanged, "the stored entry cannot be read (%v)", err)
				if keySeq > prev.seq+1 {
					v.missing(prev.seq+1, keySeq-1)
				}
				prevPrev, prev = prev, link{seq: keySeq}
				skipLink = false
				continue
			}
			cur := link{seq: keySeq, hash: e.Hash, valid: true}
			if computeHash(&e) != e.Hash {
				v.add(keySeq, KindChanged, "its content no longer matches its hash: it was edited after it was written")
			}
			misplaced := e.Seq != keySeq
			if delta := keySeq - e.Seq; misplaced && delta != lastDelta {
				v.add(keySeq, KindReordered, "stored as entry %d but written as entry %d", keySeq, e.Seq)
				lastDelta = delta
			} else if !misplaced {
				lastDelta = 0
			}
			switch {
			case keySeq > prev.seq+1:
				v.missing(prev.seq+1, keySeq-1)
			case misplaced || skipLink || !prev.valid:
				// Out of place, or after an entry that is: its link
				// says nothing about its neighbours.
			case e.PrevHash != prev.hash:
				switch {
				case prev.seq == 0:
					v.add(keySeq, KindChanged, "it does not start from this box's genesis value: the log was written for another box, or forged")
				case prevPrev.valid && prevPrev.seq+1 == prev.seq && e.PrevHash == prevPrev.hash:
					v.add(prev.seq, KindInserted, "it is not part of the chain: entry %d links past it to entry %d", keySeq, prevPrev.seq)
				default:
					v.add(prev.seq, KindChanged, "entry %d does not link to it: it was replaced (and re-hashed), or entry %d was forged", keySeq, keySeq)
				}
			}
			if !misplaced {
				// A misplaced entry's keys are at its own seq; the
				// reordering is the problem, reported above.
				v.checkIndexes(idx, keySeq, &e)
			}
			prevPrev, prev = prev, cur
			skipLink = misplaced
		}
	}
	v.checkTail(entries, meta, prev)
	v.checkIndexExtras(entries, idx)
}

func (v *verifier) missing(first, last uint64) {
	v.gone = append(v.gone, [2]uint64{first, last})
	if first == last {
		v.add(first, KindMissing, "the entry is gone (deleted from the middle of the log)")
		return
	}
	v.add(first, KindMissing, "entries %d to %d are gone (deleted from the middle of the log)", first, last)
}

// checkTail compares the end of the walk (last) with the end of the log
// as recorded by every append: the tail record and the bucket sequence.
func (v *verifier) checkTail(entries, meta *bbolt.Bucket, last link) {
	if meta == nil {
		if last.seq > 0 {
			v.add(0, KindMissing, "the bucket %s, which records the end of the log, is gone", BucketMeta)
		}
		return
	}
	var counter uint64
	if entries != nil {
		counter = entries.Sequence()
	}
	tailSeq, tailHash, ok, err := readTail(meta)
	switch {
	case err != nil:
		v.add(0, KindChanged, "%s", strings.TrimPrefix(err.Error(), ErrDamaged.Error()+": "))
		tailSeq = counter
	case !ok:
		if last.seq > 0 || counter > 0 {
			v.add(0, KindMissing, "the record of the end of the log is gone")
		}
		tailSeq = counter
	case tailSeq > last.seq:
		v.missing0(last.seq+1, tailSeq, "removed from the end of the log, which ended at entry %d", tailSeq)
	case tailSeq < last.seq:
		v.inserted(tailSeq+1, last.seq, "the recorded end of the log (entry %d)", tailSeq)
	case last.valid && tailHash != last.hash:
		v.add(last.seq, KindChanged, "the last entry's hash is not the recorded end of the log: it was replaced")
	}
	if counter != tailSeq {
		switch {
		case counter > last.seq:
			v.missing0(last.seq+1, counter, "removed from the end of the log: its sequence counter is at %d", counter)
		case counter < last.seq:
			v.inserted(counter+1, last.seq, "the log's sequence counter (%d)", counter)
		default:
			v.add(0, KindChanged, "the log's sequence counter (%d) and its recorded end (entry %d) disagree", counter, tailSeq)
		}
	}
}

func (v *verifier) missing0(first, last uint64, format string, args ...any) {
	v.gone = append(v.gone, [2]uint64{first, last})
	what := fmt.Sprintf("entries %d to %d are gone, ", first, last)
	if first == last {
		what = "the entry is gone, "
	}
	v.add(first, KindMissing, what+format, args...)
}

func (v *verifier) inserted(first, last uint64, format string, args ...any) {
	what := fmt.Sprintf("entries %d to %d come after ", first, last)
	if first == last {
		what = "it comes after "
	}
	v.add(first, KindInserted, what+format+": Append did not write it", args...)
}

// checkIndexes checks that each index has e's key with e's time.
func (v *verifier) checkIndexes(idx []*indexCheck, seq uint64, e *Entry) {
	for _, ix := range idx {
		id := ix.idOf(e)
		if ix.b == nil || id == 0 {
			continue
		}
		val := ix.b.Get(indexKey(id, seq))
		if val == nil {
			v.add(seq, KindBadIndex, "%s has no key for it", ix.name)
			continue
		}
		ix.present++
		if len(val) != 8 || int64(binary.BigEndian.Uint64(val)) != e.Time.UnixNano() {
			v.add(seq, KindBadIndex, "%s has a wrong time for it", ix.name)
		}
	}
}

// checkIndexExtras finds index keys that belong to no entry. Each index
// has one key per indexed entry; only when its key count says there are
// more is it walked key by key.
func (v *verifier) checkIndexExtras(entries *bbolt.Bucket, idx []*indexCheck) {
	for _, ix := range idx {
		if ix.b == nil {
			if v.checked > 0 {
				v.add(0, KindBadIndex, "the index bucket %s is gone", ix.name)
			}
			continue
		}
		n := 0
		c := ix.b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			n++
		}
		if n == ix.present {
			continue
		}
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if len(k) != 16 {
				v.add(0, KindBadIndex, "%s has a malformed key %x", ix.name, k)
				continue
			}
			id, seq := binary.BigEndian.Uint64(k), binary.BigEndian.Uint64(k[8:])
			var val []byte
			if entries != nil {
				val = entries.Get(k[8:])
			}
			if val == nil {
				if !v.isGone(seq) {
					v.add(seq, KindBadIndex, "%s points at it, but it is not in the log", ix.name)
				}
				continue
			}
			e, err := decodeValue(val)
			if err != nil || e.Seq != seq {
				continue // unreadable or misplaced: reported by the walk
			}
			if ix.idOf(&e) != id {
				v.add(seq, KindBadIndex, "%s files it under id %d, which is not its own", ix.name, id)
			}
		}
	}
}

// VerifyFile verifies the audit log in the database file at path,
// offline: it opens the file read-only, waiting at most timeout
// (storage.DefaultTimeout if zero) for the lock. The report is for a
// person, e.g. "audit log: 12345 entries, chain intact (...)"; ok says the
// log verified. err is set only when the check could not run, such as
// while clinicbox is running: it holds the file, so stop the service first.
func VerifyFile(path string, timeout time.Duration) (report string, ok bool, err error) {
	if timeout <= 0 {
		timeout = storage.DefaultTimeout
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", false, fmt.Errorf("auditlog: database %s does not exist", path)
	case err != nil:
		return "", false, fmt.Errorf("auditlog: %w", err)
	case !fi.Mode().IsRegular():
		return "", false, fmt.Errorf("auditlog: database %s is not a regular file", path)
	}
	db, err := openReadOnly(path, timeout)
	if err != nil {
		return "", false, err
	}
	defer db.Close()

	var (
		checked  int
		problems []Problem
		tailSeq  uint64
		tailHash [32]byte
	)
	err = guard(func() error {
		return db.View(func(tx *bbolt.Tx) error {
			// The meta bucket and box_id are storage's (storage/doc.go):
			// raw bytes, readable by any release.
			meta := tx.Bucket([]byte("meta"))
			var boxID []byte
			if meta != nil {
				boxID = meta.Get([]byte("box_id"))
			}
			if len(boxID) != 32 {
				return fmt.Errorf("auditlog: %s is not a clinicbox database (it has no box id)", path)
			}
			checked, problems, err = Verify(tx, string(boxID))
			if err != nil {
				return err
			}
			if m := tx.Bucket([]byte(BucketMeta)); m != nil {
				tailSeq, tailHash, _, _ = readTail(m)
			}
			return nil
		})
	})
	if err != nil {
		return "", false, err
	}
	return formatReport(checked, problems, tailSeq, tailHash), len(problems) == 0, nil
}

func formatReport(checked int, problems []Problem, tailSeq uint64, tailHash [32]byte) string {
	var b strings.Builder
	noun := "entries"
	if checked == 1 {
		noun = "entry"
	}
	if len(problems) == 0 {
		fmt.Fprintf(&b, "audit log: %d %s, chain intact", checked, noun)
		if tailSeq > 0 {
			fmt.Fprintf(&b, " (last entry %d, sha256 %s)", tailSeq, hex.EncodeToString(tailHash[:]))
		}
		return b.String()
	}
	pn := "problems"
	if len(problems) == 1 {
		pn = "problem"
	}
	fmt.Fprintf(&b, "audit log: %d %s checked, %d %s: the log has been altered or damaged", checked, noun, len(problems), pn)
	if len(problems) == MaxProblems {
		fmt.Fprintf(&b, " (only the first %d are listed)", MaxProblems)
	}
	for _, p := range problems {
		fmt.Fprintf(&b, "\n  - %s", p)
	}
	b.WriteString("\nThe file was not changed. Keep a copy of it for investigation, and compare with the backups.")
	return b.String()
}

// openReadOnly opens path read-only. A running clinicbox holds an
// exclusive lock that excludes the shared one taken here.
func openReadOnly(path string, timeout time.Duration) (*bbolt.DB, error) {
	var db *bbolt.DB
	err := guard(func() error {
		var err error
		db, err = bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: timeout})
		return err
	})
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("auditlog: database %s is in use (is clinicbox running?); "+
			"stop the service first (systemctl stop clinicbox) and verify again: %w (%w)", path, storage.ErrLocked, err)
	default:
		return nil, fmt.Errorf("auditlog: cannot open database %s read-only (run `clinicbox db check` on it): %w", path, err)
	}
}

// guard turns a panic in fn into an error: bbolt reads the file through
// mmap and may fault or panic on a damaged file, which must end in an
// error message, not a crash.
func guard(fn func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("auditlog: reading the database failed (%v); run `clinicbox db check`", r)
		}
	}()
	return fn()
}
