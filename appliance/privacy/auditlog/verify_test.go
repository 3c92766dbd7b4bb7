package auditlog

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"clinicbox/storage"
)

// raw returns a copy of the stored value of entry seq.
func raw(tx *bbolt.Tx, seq uint64) []byte {
	return bytes.Clone(tx.Bucket([]byte(BucketEntries)).Get(storage.ID(seq)))
}

func decoded(t *testing.T, tx *bbolt.Tx, seq uint64) Entry {
	e, err := decodeValue(raw(tx, seq))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// forge returns a well-formed, correctly hashed entry as an attacker who
// knows the layout would write it.
func forge(seq uint64, prev [32]byte) Entry {
	e := Entry{Seq: seq, Time: t0.Add(time.Hour), ActorID: 666, ActorRole: RoleStaff, SubjectID: 1, UnitID: 10, Action: "room.read", PrevHash: prev}
	e.Hash = computeHash(&e)
	return e
}

func TestVerifyCatchesTampering(t *testing.T) {
	const n = 10
	tests := []struct {
		name    string
		tamper  func(t *testing.T, tx *bbolt.Tx) error
		kind    string
		seq     uint64 // of the first problem of that kind
		checked int
	}{
		{
			name: "(a) an entry's action edited in the file",
			tamper: func(t *testing.T, tx *bbolt.Tx) error {
				v := raw(tx, 4)
				i := bytes.Index(v, []byte("room.read"))
				if i < 0 {
					t.Fatal("action not found in the stored value")
				}
				copy(v[i:], "room.edit")
				return tx.Bucket([]byte(BucketEntries)).Put(storage.ID(4), v)
			},
			kind: KindChanged, seq: 4, checked: n,
		},
		{
			name: "(a) an entry's subject edited and re-hashed",
			tamper: func(t *testing.T, tx *bbolt.Tx) error {
				e := decoded(t, tx, 4)
				e.SubjectID = 5
				e.Hash = computeHash(&e)
				return tx.Bucket([]byte(BucketEntries)).Put(storage.ID(4), encodeValue(&e))
			},
			kind: KindChanged, seq: 4, checked: n,
		},
		{
			name: "(a) an entry's time edited",
			tamper: func(t *testing.T, tx *bbolt.Tx) error {
				e := decoded(t, tx, 7)
				e.Time = e.Time.Add(-24 * time.Hour)
				return tx.Bucket([]byte(BucketEntries)).Put(storage.ID(7), encodeValue(&e))
			},
			kind: KindChanged, seq: 7, checked: n,
		},
		{
			name: "(a) the last entry edited and re-hashed",
			tamper: func(t *testing.T, tx *bbolt.Tx) error {
				e := decoded(t, tx, n)
				e.Action = "room.list"
				e.Hash = computeHash(&e)
				return tx.Bucket([]byte(BucketEntries)).Put(storage.ID(n), encodeValue(&e))
			},
			kind: KindChanged, seq: n, checked: n,
		},
		{
			name: "(a) an entry truncated",
			tamper: func(t *testing.T, tx *bbolt.Tx) error {
				v := raw(tx, 2)
				return tx.Bucket([]byte(BucketEntries)).Put(storage.ID(2), v[:len(v)-5])
			},
			kind: KindChanged, seq: 2, checked: n,
		},
		{
			name: "(b) an entry deleted in the middle",
			tamper: func(t *testing.T, tx *bbolt.Tx) error {
				return tx.Bucket([]byte(BucketEntries)).Delete(storage.ID(5))
			},
			kind: KindMissing, seq: 5, checked: n - 1,
		},
		{
			name: "(b) an entry and its index keys deleted in the middle",
			tamper: func(t *testing.T, tx *bbolt.Tx) error {
				e := decoded(t, tx, 5)
				for _, d := range []struct {
					b  string
					id uint64
				}{{BucketBySubject, e.SubjectID}, {BucketByActor, e.ActorID}, {BucketByUnit, e.UnitID}} {
					if err := tx.Bucket([]byte(d.b)).Delete(indexKey(d.id, 5)); err != nil {
						return err
					}
				}
				return tx.Bucket([]byte(BucketEntries)).Delete(storage.ID(5))
			},
			kind: KindMissing, seq: 5, checked: n - 1,
		},
		{
			name: "(c) a forged entry appended after the end",
			tamper: func(t *testing.T, tx *bbolt.Tx) error {
				e := forge(n+1, decoded(t, tx, n).Hash)
				return tx.Bucket([]byte(BucketEntries)).Put(storage.ID(n+1), encodeValue(&e))
			},
			kind: KindInserted, seq: n + 1, checked: n + 1,
		},
		{
			name: "(c) a forged entry inserted in the middle, later entries shifted",
			tamper: func(t *testing.T, tx *bbolt.Tx) error {
				b := tx.Bucket([]byte(BucketEntries))
				for s := uint64(n); s >= 6; s-- {
					if err := b.Put(storage.ID(s+1), raw(tx, s)); err != nil {
						return err
					}
				}
				e := forge(6, decoded(t, tx, 5).Hash)
				return b.Put(storage.ID(6), encodeValue(&e))
			},
			kind: KindInserted, seq: n + 1, checked: n + 1,
		},
		{
			name: "(c) a forged entry under a key between two entries",
			tamper: func(t *testing.T, tx *bbolt.Tx) error {
				e := forge(5, decoded(t, tx, 4).Hash)
				return tx.Bucket([]byte(BucketEntries)).Put(append(storage.ID(5), 0), encodeValue(&e))
			},
			kind: KindInserted, seq: 0, checked: n,
		},
		{
			name: "(c) a forged entry that replaces one, linked to its predecessor",
			tamper: func(t *testing.T, tx *bbolt.Tx) error {
				e := forge(3, decoded(t, tx, 2).Hash)
				return tx.Bucket([]byte(BucketEntries)).Put(storage.ID(3), encodeValue(&e))
			},
			kind: KindChanged, seq: 3, checked: n,
		},
		{
			name: "(d) the last 3 entries removed",
			tamper: func(t *testing.T, tx *bbolt.Tx) error {
				for s := uint64(n - 2); s <= n; s++ {
					if err := tx.Bucket([]byte(BucketEntries)).Delete(storage.ID(s)); err != nil {
						return err
					}
				}
				return nil
			},
			kind: KindMissing, seq: n - 2, checked: n - 3,
		},
		{
			name: "(d) the last 3 entries removed and the tail record rewritten",
			tamper: func(t *testing.T, tx *bbolt.Tx) error {
				for s := uint64(n - 2); s <= n; s++ {
					if err := tx.Bucket([]byte(BucketEntries)).Delete(storage.ID(s)); err != nil {
						return err
					}
				}
				return tx.Bucket([]byte(BucketMeta)).Put([]byte(keyTail), tailValue(n-3, decoded(t, tx, n-3).Hash))
			},
			kind: KindMissing, seq: n - 2, checked: n - 3,
		},
		{
			name: "(d) every entry removed",
			tamper: func(t *testing.T, tx *bbolt.Tx) error {
				if err := tx.DeleteBucket([]byte(BucketEntries)); err != nil {
					return err
				}
				_, err := tx.CreateBucket([]byte(BucketEntries))
				return err
			},
			kind: KindMissing, seq: 1, checked: 0,
		},
		{
			name: "(e) two entries swapped",
			tamper: func(t *testing.T, tx *bbolt.Tx) error {
				b := tx.Bucket([]byte(BucketEntries))
				v5, v6 := raw(tx, 5), raw(tx, 6)
				if err := b.Put(storage.ID(5), v6); err != nil {
					return err
				}
				return b.Put(storage.ID(6), v5)
			},
			kind: KindReordered, seq: 5, checked: n,
		},
		{
			name: "(e) the first and last entries swapped",
			tamper: func(t *testing.T, tx *bbolt.Tx) error {
				b := tx.Bucket([]byte(BucketEntries))
				v1, vn := raw(tx, 1), raw(tx, n)
				if err := b.Put(storage.ID(1), vn); err != nil {
					return err
				}
				return b.Put(storage.ID(n), v1)
			},
			kind: KindReordered, seq: 1, checked: n,
		},
		{
			name: "index key deleted",
			tamper: func(t *testing.T, tx *bbolt.Tx) error {
				e := decoded(t, tx, 3)
				return tx.Bucket([]byte(BucketBySubject)).Delete(indexKey(e.SubjectID, 3))
			},
			kind: KindBadIndex, seq: 3, checked: n,
		},
		{
			name: "index key added for another subject",
			tamper: func(t *testing.T, tx *bbolt.Tx) error {
				e := decoded(t, tx, 3)
				return tx.Bucket([]byte(BucketBySubject)).Put(indexKey(e.SubjectID+100, 3), timeValue(e.Time))
			},
			kind: KindBadIndex, seq: 3, checked: n,
		},
		{
			name: "index key pointing nowhere",
			tamper: func(t *testing.T, tx *bbolt.Tx) error {
				return tx.Bucket([]byte(BucketByActor)).Put(indexKey(100, 77), timeValue(t0))
			},
			kind: KindBadIndex, seq: 77, checked: n,
		},
		{
			name: "index time changed",
			tamper: func(t *testing.T, tx *bbolt.Tx) error {
				e := decoded(t, tx, 8)
				return tx.Bucket([]byte(BucketByUnit)).Put(indexKey(e.UnitID, 8), timeValue(t0.Add(-time.Hour)))
			},
			kind: KindBadIndex, seq: 8, checked: n,
		},
		{
			name: "index bucket dropped",
			tamper: func(t *testing.T, tx *bbolt.Tx) error {
				return tx.DeleteBucket([]byte(BucketByActor))
			},
			kind: KindBadIndex, seq: 0, checked: n,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, l := newLog(t)
			appendN(t, l, n)
			mustVerify(t, l, n)
			if err := db.Update(func(tx *bbolt.Tx) error { return tt.tamper(t, tx) }); err != nil {
				t.Fatal(err)
			}
			checked, problems, err := l.Verify()
			if err != nil {
				t.Fatal(err)
			}
			if len(problems) == 0 {
				t.Fatal("Verify found nothing")
			}
			if checked != tt.checked {
				t.Errorf("checked %d entries, want %d", checked, tt.checked)
			}
			var first *Problem
			for i := range problems {
				if problems[i].Kind == tt.kind {
					first = &problems[i]
					break
				}
			}
			if first == nil {
				t.Fatalf("no %q problem in %v", tt.kind, problems)
			}
			if first.Seq != tt.seq {
				t.Errorf("first %q problem is at entry %d, want %d: %v", tt.kind, first.Seq, tt.seq, problems)
			}
			for _, p := range problems {
				if p.Msg == "" || !strings.Contains(p.String(), p.Kind) {
					t.Errorf("problem %#v has no message", p)
				}
			}
			t.Logf("%v", problems)
		})
	}
}

// TestVerifyOtherBox: the genesis value includes the box id, so a log
// checked against another box's id fails at entry 1 and nowhere else.
func TestVerifyOtherBox(t *testing.T) {
	db, l := newLog(t)
	appendN(t, l, 3)
	var problems []Problem
	err := db.View(func(tx *bbolt.Tx) (err error) {
		_, problems, err = Verify(tx, "ffffffffffffffffffffffffffffffff")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) != 1 || problems[0].Seq != 1 || problems[0].Kind != KindChanged {
		t.Fatalf("problems = %v, want one change at entry 1", problems)
	}
}

func TestVerifyNoBuckets(t *testing.T) {
	db := openDB(t)
	var (
		n        int
		problems []Problem
	)
	err := db.View(func(tx *bbolt.Tx) (err error) {
		n, problems, err = Verify(tx, db.BoxID())
		return err
	})
	if err != nil || n != 0 || len(problems) != 0 {
		t.Fatalf("Verify on a database without a log = %d, %v, %v", n, problems, err)
	}
}

func TestVerifyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clinicbox.db")
	db, err := storage.Open(path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(db, db.BoxID())
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 12)
	_, head, _ := l.Head()

	// While the service holds the file.
	_, _, err = VerifyFile(path, 50*time.Millisecond)
	if err == nil || !errors.Is(err, storage.ErrLocked) || !strings.Contains(err.Error(), "stop the service") {
		t.Fatalf("VerifyFile on an open database = %v, want a locked error that says to stop the service", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	report, ok, err := VerifyFile(path, 0)
	if err != nil || !ok {
		t.Fatalf("VerifyFile = %q, %v, %v", report, ok, err)
	}
	if !strings.HasPrefix(report, "audit log: 12 entries, chain intact") || !strings.Contains(report, "last entry 12") {
		t.Errorf("report = %q", report)
	}
	if !strings.Contains(report, strings.ToLower(hexString(head))) {
		t.Errorf("report %q does not give the head hash", report)
	}

	// Tamper with the closed file and check again.
	bdb, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bbolt.Tx) error { return tx.Bucket([]byte(BucketEntries)).Delete(storage.ID(12)) })
	if cerr := bdb.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	report, ok, err = VerifyFile(path, 0)
	if err != nil || ok {
		t.Fatalf("VerifyFile on a tampered log = %q, %v, %v", report, ok, err)
	}
	if !strings.Contains(report, "11 entries checked, 1 problem") || !strings.Contains(report, "entry 12: missing") {
		t.Errorf("report = %q", report)
	}
	t.Log(report)

	if _, _, err := VerifyFile(filepath.Join(t.TempDir(), "nope.db"), 0); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("VerifyFile on a missing file = %v", err)
	}
}

func hexString(h [32]byte) string {
	const digits = "0123456789abcdef"
	var b strings.Builder
	for _, c := range h {
		b.WriteByte(digits[c>>4])
		b.WriteByte(digits[c&15])
	}
	return b.String()
}

func TestDecodeRejectsMalformed(t *testing.T) {
	e := forge(1, [32]byte{})
	v := encodeValue(&e)
	got, err := decodeValue(v)
	if err != nil || got != e {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for name, bad := range map[string][]byte{
		"empty":          nil,
		"unknown layout": append([]byte{9}, v[1:]...),
		"truncated":      v[:len(v)-1],
		"trailing bytes": append(bytes.Clone(v), 0),
	} {
		if _, err := decodeValue(bad); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}
