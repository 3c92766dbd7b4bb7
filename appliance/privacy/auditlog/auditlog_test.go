package auditlog

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"clinicbox/storage"
)

func openDB(t testing.TB) *storage.DB {
	t.Helper()
	db, err := storage.Open(filepath.Join(t.TempDir(), "clinicbox.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func newLog(t testing.TB) (*storage.DB, *Log) {
	t.Helper()
	db := openDB(t)
	l, err := New(db, db.BoxID())
	if err != nil {
		t.Fatal(err)
	}
	return db, l
}

var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

// sample returns entry i of a fixed pattern: subjects 1..5, actors
// 100..103, units 10 and 20, one minute apart.
func sample(i int) Entry {
	return Entry{
		Time:      t0.Add(time.Duration(i) * time.Minute),
		ActorID:   100 + uint64(i%4),
		ActorRole: RoleStaff,
		SubjectID: 1 + uint64(i%5),
		UnitID:    10 * (1 + uint64(i%2)),
		Action:    "room.read",
		Detail:    fmt.Sprintf("room:%d", i),
	}
}

func appendN(t testing.TB, l *Log, n int) []Entry {
	t.Helper()
	out := make([]Entry, n)
	for i := range n {
		e, err := l.Append(sample(i))
		if err != nil {
			t.Fatal(err)
		}
		out[i] = e
	}
	return out
}

// fill writes n sample entries, a thousand per transaction (fast setup;
// one huge transaction makes bbolt's in-memory inserts quadratic).
func fill(t testing.TB, db *storage.DB, l *Log, n int) {
	t.Helper()
	for start := 0; start < n; start += 1000 {
		err := db.Update(func(tx *bbolt.Tx) error {
			for i := start; i < min(n, start+1000); i++ {
				if _, err := l.AppendTx(tx, sample(i)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func mustVerify(t testing.TB, l *Log, want int) {
	t.Helper()
	n, problems, err := l.Verify()
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) > 0 {
		t.Fatalf("Verify found problems on an untampered log: %v", problems)
	}
	if n != want {
		t.Fatalf("Verify checked %d entries, want %d", n, want)
	}
}

func seqs(es []Entry) []uint64 {
	out := make([]uint64, len(es))
	for i, e := range es {
		out[i] = e.Seq
	}
	return out
}

func TestAppendChains(t *testing.T) {
	db, l := newLog(t)
	got := appendN(t, l, 5)
	prev := genesis(db.BoxID())
	for i, e := range got {
		if e.Seq != uint64(i+1) {
			t.Errorf("entry %d has seq %d", i, e.Seq)
		}
		if e.PrevHash != prev {
			t.Errorf("entry %d does not link to the one before", e.Seq)
		}
		if e.Hash != computeHash(&e) {
			t.Errorf("entry %d: returned hash is not the hash of its encoding", e.Seq)
		}
		if !e.Time.Equal(sample(i).Time) || e.Time.Location() != time.UTC {
			t.Errorf("entry %d: time %v, want %v in UTC", e.Seq, e.Time, sample(i).Time)
		}
		prev = e.Hash
	}
	stored, ok, err := l.Get(3)
	if err != nil || !ok || stored != got[2] {
		t.Fatalf("Get(3) = %+v, %v, %v; want %+v", stored, ok, err, got[2])
	}
	if _, ok, _ := l.Get(6); ok {
		t.Error("Get(6) found an entry that was never written")
	}
	seq, hash, err := l.Head()
	if err != nil || seq != 5 || hash != got[4].Hash {
		t.Errorf("Head() = %d, %x, %v; want 5 and the last hash", seq, hash, err)
	}
	if n, err := l.Count(); err != nil || n != 5 {
		t.Errorf("Count() = %d, %v; want 5", n, err)
	}
	mustVerify(t, l, 5)

	// A second New on the same file continues the same chain.
	l2, err := New(db, "")
	if err != nil {
		t.Fatal(err)
	}
	e, err := l2.Append(sample(5))
	if err != nil || e.Seq != 6 || e.PrevHash != got[4].Hash {
		t.Fatalf("append after reopen: %+v, %v", e, err)
	}
	mustVerify(t, l2, 6)
}

func TestEmptyLog(t *testing.T) {
	_, l := newLog(t)
	mustVerify(t, l, 0)
	if n, err := l.Count(); n != 0 || err != nil {
		t.Errorf("Count() = %d, %v", n, err)
	}
	if es, err := l.Find(Query{}); len(es) != 0 || err != nil {
		t.Errorf("Find on empty log = %v, %v", es, err)
	}
}

func TestAppendDefaultsTimeToNowUTC(t *testing.T) {
	_, l := newLog(t)
	e := sample(0)
	e.Time = time.Time{}
	before := time.Now()
	got, err := l.Append(e)
	if err != nil {
		t.Fatal(err)
	}
	if got.Time.Before(before.Add(-time.Second)) || got.Time.After(time.Now()) || got.Time.Location() != time.UTC {
		t.Errorf("time = %v, want now in UTC", got.Time)
	}
	// A time in another zone is stored as the same instant in UTC.
	e.Time = time.Date(2026, 6, 1, 12, 0, 0, 5, time.FixedZone("CEST", 2*3600))
	got, err = l.Append(e)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Time.Equal(e.Time) || got.Time.Location() != time.UTC {
		t.Errorf("time = %v, want %v in UTC", got.Time, e.Time)
	}
}

func TestAppendValidates(t *testing.T) {
	_, l := newLog(t)
	tests := []struct {
		name string
		edit func(*Entry)
	}{
		{"no action", func(e *Entry) { e.Action = "" }},
		{"action with space", func(e *Entry) { e.Action = "room read" }},
		{"action starting with a digit", func(e *Entry) { e.Action = "1room" }},
		{"action starting with =", func(e *Entry) { e.Action = "=cmd" }},
		{"action too long", func(e *Entry) { e.Action = strings.Repeat("a", 65) }},
		{"unknown role", func(e *Entry) { e.ActorRole = "doctor" }},
		{"empty role", func(e *Entry) { e.ActorRole = "" }},
		{"no subject", func(e *Entry) { e.SubjectID = 0 }},
		{"no actor for a person", func(e *Entry) { e.ActorID = 0 }},
		{"free text in detail", func(e *Entry) { e.Detail = "note: feeling low" }},
		{"name in detail", func(e *Entry) { e.Detail = "name:Anna" }},
		{"e-mail in detail", func(e *Entry) { e.Detail = "anna@example.se" }},
		{"personnummer in detail", func(e *Entry) { e.Detail = "pnr:19121212-1212" }},
		{"short personnummer in detail", func(e *Entry) { e.Detail = "121212-1212" }},
		{"12 digits in detail", func(e *Entry) { e.Detail = "x:191212121212" }},
		{"detail too long", func(e *Entry) { e.Detail = strings.Repeat("a", 257) }},
		{"time out of range", func(e *Entry) { e.Time = time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := sample(0)
			tt.edit(&e)
			_, err := l.Append(e)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Append = %v, want ErrInvalid", err)
			}
			if !strings.HasPrefix(err.Error(), "auditlog: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
	// None of them reached the log.
	if n, _ := l.Count(); n != 0 {
		t.Fatalf("%d invalid entries were logged", n)
	}

	ok := []func(*Entry){
		func(e *Entry) { e.ActorID, e.ActorRole = 0, RoleSystem },
		func(e *Entry) { e.UnitID = 0 },
		func(e *Entry) { e.Detail = "" },
		func(e *Entry) { e.Detail = "room:7,file:12/part=2#x" },
		func(e *Entry) { e.Action = "export.create" },
		func(e *Entry) { e.ActorRole, e.ActorID = RoleClient, e.SubjectID },
	}
	for i, edit := range ok {
		e := sample(i)
		edit(&e)
		if _, err := l.Append(e); err != nil {
			t.Errorf("valid entry %d refused: %v", i, err)
		}
	}
	mustVerify(t, l, len(ok))
}

func TestNewChecksBoxID(t *testing.T) {
	db := openDB(t)
	if _, err := New(db, "0123456789abcdef0123456789abcdef"); err == nil || !strings.HasPrefix(err.Error(), "auditlog: ") {
		t.Fatalf("New with another box's id = %v, want an auditlog error", err)
	}
	if _, err := New(nil, ""); err == nil {
		t.Fatal("New(nil) succeeded")
	}
}

func TestAppendTxCommitsWithTheChange(t *testing.T) {
	db, l := newLog(t)
	boom := errors.New("boom")
	// The caller's change fails: its log entry goes with it.
	err := db.Update(func(tx *bbolt.Tx) error {
		if _, err := l.AppendTx(tx, sample(0)); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if n, _ := l.Count(); n != 0 {
		t.Fatalf("a rolled-back entry is in the log (count %d)", n)
	}
	// The caller's change commits: so does the entry, and the sequence
	// goes on from 1 (a rollback does not burn numbers).
	err = db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("test-data"))
		if err != nil {
			return err
		}
		if err := b.Put([]byte("k"), []byte("v")); err != nil {
			return err
		}
		e, err := l.AppendTx(tx, sample(1))
		if err == nil && e.Seq != 1 {
			err = fmt.Errorf("seq %d, want 1", e.Seq)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	mustVerify(t, l, 1)

	if err := db.View(func(tx *bbolt.Tx) error {
		_, err := l.AppendTx(tx, sample(2))
		return err
	}); err == nil {
		t.Error("AppendTx in a read transaction succeeded")
	}
}

func TestAppendRefusesWhenTheEndIsUnknown(t *testing.T) {
	db, l := newLog(t)
	appendN(t, l, 3)
	err := db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(BucketMeta)).Delete([]byte(keyTail))
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(sample(3)); !errors.Is(err, ErrDamaged) {
		t.Fatalf("Append after the tail record vanished = %v, want ErrDamaged", err)
	}
	// Buckets gone: refused too, not silently started again.
	if err := db.Update(func(tx *bbolt.Tx) error { return tx.DeleteBucket([]byte(BucketEntries)) }); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(sample(3)); err == nil {
		t.Fatal("Append without buckets succeeded")
	}
}

func TestFind(t *testing.T) {
	db, l := newLog(t)
	var all []Entry
	err := db.Update(func(tx *bbolt.Tx) error {
		for i := range 40 {
			e, err := l.AppendTx(tx, sample(i))
			if err != nil {
				return err
			}
			all = append(all, e)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	pick := func(keep func(Entry) bool) []uint64 {
		var out []uint64
		for _, e := range all {
			if keep(e) {
				out = append(out, e.Seq)
			}
		}
		return out
	}
	reversed := func(s []uint64) []uint64 { s = slices.Clone(s); slices.Reverse(s); return s }
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }

	bySubject3 := pick(func(e Entry) bool { return e.SubjectID == 3 })
	tests := []struct {
		name string
		q    Query
		want []uint64
	}{
		{"all", Query{}, pick(func(Entry) bool { return true })},
		{"subject", Query{SubjectID: 3}, bySubject3},
		{"subject newest first", Query{SubjectID: 3, NewestFirst: true}, reversed(bySubject3)},
		{"actor", Query{ActorID: 101}, pick(func(e Entry) bool { return e.ActorID == 101 })},
		{"unit", Query{UnitID: 20}, pick(func(e Entry) bool { return e.UnitID == 20 })},
		{"unknown subject", Query{SubjectID: 99}, nil},
		{"subject and unit", Query{SubjectID: 2, UnitID: 10}, pick(func(e Entry) bool { return e.SubjectID == 2 && e.UnitID == 10 })},
		{"actor and subject", Query{ActorID: 100, SubjectID: 1}, pick(func(e Entry) bool { return e.ActorID == 100 && e.SubjectID == 1 })},
		{"period", Query{From: at(10), To: at(20)}, pick(func(e Entry) bool { return e.Seq >= 11 && e.Seq <= 20 })},
		{"period newest first", Query{From: at(10), To: at(20), NewestFirst: true}, reversed(pick(func(e Entry) bool { return e.Seq >= 11 && e.Seq <= 20 }))},
		{"from only", Query{From: at(35)}, pick(func(e Entry) bool { return e.Seq >= 36 })},
		{"to only", Query{To: at(3)}, []uint64{1, 2, 3}},
		{"empty period", Query{From: at(5), To: at(5)}, nil},
		{"subject in period", Query{SubjectID: 1, From: at(10), To: at(30)}, pick(func(e Entry) bool { return e.SubjectID == 1 && e.Seq > 10 && e.Seq <= 30 })},
		{"unit in period", Query{UnitID: 10, From: at(0), To: at(10)}, pick(func(e Entry) bool { return e.UnitID == 10 && e.Seq <= 10 })},
		{"limit", Query{Limit: 3}, []uint64{1, 2, 3}},
		{"limit newest first", Query{Limit: 3, NewestFirst: true}, []uint64{40, 39, 38}},
		{"after", Query{AfterSeq: 37}, []uint64{38, 39, 40}},
		{"after newest first", Query{AfterSeq: 4, NewestFirst: true}, []uint64{3, 2, 1}},
		{"after the first, newest first", Query{AfterSeq: 1, NewestFirst: true}, nil},
		{"after the last", Query{AfterSeq: 40}, nil},
		{"subject after", Query{SubjectID: 3, AfterSeq: bySubject3[2]}, bySubject3[3:]},
		{"subject after, newest first", Query{SubjectID: 3, AfterSeq: bySubject3[2], NewestFirst: true}, reversed(bySubject3[:2])},
		{"subject limit", Query{SubjectID: 3, Limit: 2}, bySubject3[:2]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := l.Find(tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(seqs(got), tt.want) {
				t.Errorf("Find(%+v) = %v, want %v", tt.q, seqs(got), tt.want)
			}
			for _, e := range got {
				if e != all[e.Seq-1] {
					t.Errorf("entry %d read back as %+v, written as %+v", e.Seq, e, all[e.Seq-1])
				}
			}
		})
	}

	// Paging newest first through one subject's entries visits each once.
	var paged []uint64
	q := Query{SubjectID: 3, NewestFirst: true, Limit: 3}
	for {
		page, err := l.Find(q)
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, seqs(page)...)
		if len(page) < q.Limit {
			break
		}
		q.AfterSeq = page[len(page)-1].Seq
	}
	if !slices.Equal(paged, reversed(bySubject3)) {
		t.Errorf("paged %v, want %v", paged, reversed(bySubject3))
	}
}

// TestConcurrentAppend: 50 goroutines appending at once through Batch
// leave one unbroken chain with every entry in it once.
func TestConcurrentAppend(t *testing.T) {
	_, l := newLog(t)
	const writers, each = 50, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				e := sample(i)
				e.Time = time.Time{}
				e.SubjectID = uint64(1 + w)
				e.Detail = fmt.Sprintf("w:%d,i:%d", w, i)
				if _, err := l.Append(e); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	mustVerify(t, l, writers*each)
	all, err := l.Find(Query{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i, e := range all {
		if e.Seq != uint64(i+1) {
			t.Fatalf("entry %d has seq %d: a gap", i+1, e.Seq)
		}
		if seen[e.Detail] {
			t.Fatalf("%s logged twice", e.Detail)
		}
		seen[e.Detail] = true
	}
	if len(seen) != writers*each {
		t.Fatalf("%d distinct entries, want %d", len(seen), writers*each)
	}
	for w := range writers {
		got, err := l.Find(Query{SubjectID: uint64(1 + w)})
		if err != nil || len(got) != each {
			t.Fatalf("subject %d: %d entries, %v; want %d", 1+w, len(got), err, each)
		}
	}
}

// TestBatchRerun: when another function in the same batch fails, bbolt
// rolls the batch back and re-runs each function alone. Appends caught in
// such batches must still form one chain, each entry once.
func TestBatchRerun(t *testing.T) {
	db, l := newLog(t)
	const writers, each = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				e := sample(i)
				e.Detail = fmt.Sprintf("w:%d,i:%d", w, i)
				if _, err := l.Append(e); err != nil {
					errs <- err
				}
			}
		})
		wg.Go(func() {
			for range each {
				_ = db.Batch(func(tx *bbolt.Tx) error { return errors.New("fails on purpose") })
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	mustVerify(t, l, writers*each)
	all, err := l.Find(Query{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range all {
		if seen[e.Detail] {
			t.Fatalf("%s logged twice", e.Detail)
		}
		seen[e.Detail] = true
	}
	if len(seen) != writers*each {
		t.Fatalf("%d distinct entries, want %d", len(seen), writers*each)
	}
}
