package storage

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// writePair is one write transaction that keeps an invariant a torn
// snapshot would break: buckets a and b hold the same keys, and
// count/n is how many.
func writePair(tx *bbolt.Tx) error {
	a, err := tx.CreateBucketIfNotExists([]byte("a"))
	if err != nil {
		return err
	}
	b, err := tx.CreateBucketIfNotExists([]byte("b"))
	if err != nil {
		return err
	}
	c, err := tx.CreateBucketIfNotExists([]byte("count"))
	if err != nil {
		return err
	}
	id, err := NextID(a)
	if err != nil {
		return err
	}
	val := make([]byte, 512)
	binary.BigEndian.PutUint64(val, id)
	if err := a.Put(ID(id), val); err != nil {
		return err
	}
	if err := b.Put(ID(id), val); err != nil {
		return err
	}
	var n uint64
	if raw := c.Get([]byte("n")); raw != nil {
		n, _ = ParseID(raw)
	}
	return c.Put([]byte("n"), ID(n+1))
}

// pairInvariant opens a snapshot and checks the invariant of writePair.
func pairInvariant(t *testing.T, path string) uint64 {
	t.Helper()
	b, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var n uint64
	_ = b.View(func(tx *bbolt.Tx) error {
		n, _ = ParseID(tx.Bucket([]byte("count")).Get([]byte("n")))
		na := tx.Bucket([]byte("a")).Stats().KeyN
		nb := tx.Bucket([]byte("b")).Stats().KeyN
		if uint64(na) != n || uint64(nb) != n {
			t.Errorf("snapshot %s is torn: a has %d keys, b %d, count says %d", path, na, nb, n)
		}
		return nil
	})
	return n
}

func TestSnapshotUnderConcurrentWrites(t *testing.T) {
	path := dbPath(t)
	db := openTest(t, path, Options{})
	// Some volume, so that a snapshot takes a while.
	if err := db.Update(func(tx *bbolt.Tx) error {
		for range 20000 {
			if err := writePair(tx); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writes atomic.Int64
	for w := range 4 {
		wg.Go(func() {
			write := db.Update
			if w%2 == 0 {
				write = db.Batch
			}
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := write(writePair); err != nil {
					t.Error(err)
					return
				}
				writes.Add(1)
			}
		})
	}

	outDir := t.TempDir()
	var counts []uint64
	var during int64 // writes committed while a snapshot was being taken
	for i := range 5 {
		before := writes.Load()
		snap := filepath.Join(outDir, "snap-"+string(rune('0'+i))+".db")
		if err := db.SnapshotToFile(snap); err != nil {
			t.Fatal(err)
		}
		during += writes.Load() - before
		counts = append(counts, pairInvariant(t, snap))
		// Let writers commit something between snapshots.
		for writes.Load() < before+20 {
			time.Sleep(time.Millisecond)
		}
	}
	close(stop)
	wg.Wait()
	for i := 1; i < len(counts); i++ {
		if counts[i] <= counts[i-1] {
			t.Errorf("snapshot counts %v: no writes landed between snapshots", counts)
		}
	}
	t.Logf("%d writes during the test, %d of them during snapshots; snapshot counts %v", writes.Load(), during, counts)
	if during == 0 {
		t.Error("no write landed while a snapshot was taken: writers were blocked")
	}

	// A snapshot is a full copy: it opens as this box.
	snapDB := openTest(t, filepath.Join(outDir, "snap-4.db"), Options{})
	if snapDB.BoxID() != db.BoxID() || snapDB.SchemaVersion() != db.SchemaVersion() {
		t.Errorf("snapshot box %s schema %d, want %s %d", snapDB.BoxID(), snapDB.SchemaVersion(), db.BoxID(), db.SchemaVersion())
	}
}

func TestSnapshotToFile(t *testing.T) {
	db := openTest(t, dbPath(t), Options{})
	if err := db.Update(fillRecords("data", 100, 50)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	dst := filepath.Join(dir, "backup.db")
	writeFile(t, dst, []byte("an older backup"))
	if err := db.SnapshotToFile(dst); err != nil {
		t.Fatal(err)
	}
	rep, err := Check(dst, time.Second)
	if err != nil || rep.Buckets["data"] != 100 {
		t.Fatalf("Check(snapshot) = %v, %v", rep, err)
	}
	fi, _ := os.Stat(dst)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("snapshot mode = %v, want 0600", fi.Mode().Perm())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files in the snapshot dir: %v, want only backup.db", entries)
	}

	if err := db.SnapshotToFile(db.Path()); err == nil {
		t.Error("SnapshotToFile over the database itself succeeded")
	}
	if err := db.SnapshotToFile(filepath.Join(dir, "missing", "x.db")); err == nil {
		t.Error("SnapshotToFile into a missing directory succeeded")
	}
	errFull := errors.New("disk full")
	// bbolt formats the writer's error with %s, so only its text survives.
	if _, err := db.Snapshot(failingWriter{errFull}); err == nil || !strings.HasPrefix(err.Error(), "storage: ") || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Snapshot to a failing writer = %v", err)
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }
