package storage

import (
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"go.etcd.io/bbolt"
)

// A failing function gets its own error, runs alone, and does not take
// the others' writes with it; every successful write lands.
func TestBatchFailsAlone(t *testing.T) {
	db := openTestDB(t)
	db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
	boom := errors.New("boom")
	var wg sync.WaitGroup
	var failures atomic.Int32
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := db.Batch(func(tx *bbolt.Tx) error {
				if err := tx.Bucket([]byte("b")).Put(ID(uint64(i)), []byte("x")); err != nil {
					return err
				}
				if i%8 == 0 {
					return boom
				}
				return nil
			})
			if i%8 == 0 {
				if !errors.Is(err, boom) {
					t.Errorf("call %d: %v", i, err)
				}
				failures.Add(1)
			} else if err != nil {
				t.Errorf("call %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("b"))
		for i := range 64 {
			got := b.Get(ID(uint64(i))) != nil
			if got != (i%8 != 0) {
				t.Errorf("key %d stored: %v", i, got)
			}
		}
		return nil
	})
	if failures.Load() != 8 {
		t.Fatalf("%d failures", failures.Load())
	}
}

// A panic in a batched function reaches its caller, not the committer.
func TestBatchPanicReachesCaller(t *testing.T) {
	db := openTestDB(t)
	defer func() {
		if p := recover(); p != "kaboom" {
			t.Fatalf("recovered %v", p)
		}
		// The group commit still works afterwards.
		if err := db.Batch(func(*bbolt.Tx) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}()
	db.Batch(func(*bbolt.Tx) error { panic("kaboom") })
}

func openTestDB(t *testing.T) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "clinicbox.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
