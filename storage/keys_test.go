package storage

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

func TestID(t *testing.T) {
	ids := []uint64{0, 1, 2, 255, 256, 1 << 32, math.MaxUint64 - 1, math.MaxUint64}
	for i, id := range ids {
		k := ID(id)
		if len(k) != 8 {
			t.Fatalf("ID(%d) is %d bytes", id, len(k))
		}
		if got, err := ParseID(k); err != nil || got != id {
			t.Errorf("ParseID(ID(%d)) = %d, %v", id, got, err)
		}
		if i > 0 && bytes.Compare(ID(ids[i-1]), k) >= 0 {
			t.Errorf("ID(%d) does not sort after ID(%d)", id, ids[i-1])
		}
	}
	for _, bad := range [][]byte{nil, {1}, make([]byte, 7), make([]byte, 9)} {
		if _, err := ParseID(bad); err == nil {
			t.Errorf("ParseID(%x) succeeded", bad)
		}
	}
}

func TestTimeKeyOrder(t *testing.T) {
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	// In the order they must sort.
	keys := []struct {
		t  time.Time
		id uint64
	}{
		{time.Time{}, 5}, // clamped to the earliest key time
		{time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), 1},
		{time.Unix(0, -1), 1},
		{time.Unix(0, 0), 0},
		{time.Unix(0, 0), 1},
		{time.Unix(0, 1), 0},
		{base, 1},
		{base, 2}, // same instant: by id
		{base, math.MaxUint64},
		{base.Add(time.Nanosecond), 0},
		{base.In(time.FixedZone("CET", 3600)).Add(time.Second), 0}, // zone does not matter
		{base.Add(time.Hour), 7},
		{time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC), 1},
		{time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), 1}, // clamped to the latest
	}
	for i, k := range keys {
		key := TimeKey(k.t, k.id)
		if len(key) != 16 {
			t.Fatalf("TimeKey is %d bytes", len(key))
		}
		if i > 0 {
			prev := TimeKey(keys[i-1].t, keys[i-1].id)
			if bytes.Compare(prev, key) >= 0 {
				t.Errorf("key %d (%v, %d) does not sort after key %d (%v, %d)", i, k.t, k.id, i-1, keys[i-1].t, keys[i-1].id)
			}
		}
		gotT, gotID, err := ParseTimeKey(key)
		if err != nil || gotID != k.id {
			t.Errorf("ParseTimeKey: %v %d %v", gotT, gotID, err)
		}
		if i > 0 && i < len(keys)-1 && !gotT.Equal(k.t) {
			t.Errorf("ParseTimeKey time = %v, want %v", gotT, k.t)
		}
		if gotT.Location() != time.UTC {
			t.Errorf("ParseTimeKey location = %v, want UTC", gotT.Location())
		}
	}
	if _, _, err := ParseTimeKey(make([]byte, 15)); err == nil {
		t.Error("ParseTimeKey of 15 bytes succeeded")
	}
}

// Time keys put in a bucket in random order come back in time order.
func TestTimeKeysInBucket(t *testing.T) {
	db := openTest(t, dbPath(t), Options{})
	r := rand.New(rand.NewPCG(3, 4))
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	type entry struct {
		t  time.Time
		id uint64
	}
	var want []entry
	for i := range 500 {
		// Few distinct times, so that many keys share one.
		want = append(want, entry{base.Add(time.Duration(r.IntN(50)-25) * time.Second), uint64(i + 1)})
	}
	if err := db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket([]byte("log"))
		if err != nil {
			return err
		}
		for _, e := range want {
			if err := b.Put(TimeKey(e.t, e.id), nil); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(want, func(a, b entry) int {
		if c := a.t.Compare(b.t); c != 0 {
			return c
		}
		return int(a.id) - int(b.id)
	})
	var got []entry
	_ = db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("log")).ForEach(func(k, _ []byte) error {
			tt, id, err := ParseTimeKey(k)
			got = append(got, entry{tt, id})
			return err
		})
	})
	if len(got) != len(want) {
		t.Fatalf("got %d keys, want %d", len(got), len(want))
	}
	for i := range got {
		if !got[i].t.Equal(want[i].t) || got[i].id != want[i].id {
			t.Fatalf("key %d = %v/%d, want %v/%d", i, got[i].t, got[i].id, want[i].t, want[i].id)
		}
	}
}

func TestNextID(t *testing.T) {
	path := dbPath(t)
	db := openTest(t, path, Options{})
	next := func() uint64 {
		var id uint64
		if err := db.Update(func(tx *bbolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("things"))
			if err != nil {
				return err
			}
			id, err = NextID(b)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	for want := uint64(1); want <= 3; want++ {
		if got := next(); got != want {
			t.Fatalf("NextID = %d, want %d", got, want)
		}
	}
	// In a read transaction it fails instead of handing out an id twice.
	err := db.View(func(tx *bbolt.Tx) error {
		_, err := NextID(tx.Bucket([]byte("things")))
		return err
	})
	if err == nil {
		t.Error("NextID in a read transaction succeeded")
	}
	db.Close()
	db = openTest(t, path, Options{})
	if got := next(); got != 4 {
		t.Errorf("NextID after reopen = %d, want 4", got)
	}
}
