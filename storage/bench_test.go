package storage

import (
	"os"
	"path/filepath"
	"testing"

	"go.etcd.io/bbolt"
)

// The benchmarks put their files in $CLINICBOX_BENCH_DIR when set (to
// measure the disk the data directory lives on), else in a temporary
// directory. Compare Update and BatchParallel with Fsync: a durable bbolt
// commit costs about two fdatasyncs (data pages, then the meta page).

func benchDir(b *testing.B) string {
	if dir := os.Getenv("CLINICBOX_BENCH_DIR"); dir != "" {
		d, err := os.MkdirTemp(dir, "bench-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(d) })
		return d
	}
	return b.TempDir()
}

func benchDB(b *testing.B) *DB {
	db, err := Open(filepath.Join(benchDir(b), "clinicbox.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if err := db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucket([]byte("bench"))
		return err
	}); err != nil {
		b.Fatal(err)
	}
	return db
}

// putOne stores one 256-byte record under a new id, a typical request's
// write.
func putOne(tx *bbolt.Tx) error {
	bk := tx.Bucket([]byte("bench"))
	id, err := NextID(bk)
	if err != nil {
		return err
	}
	return bk.Put(ID(id), make([]byte, 256))
}

// BenchmarkUpdate: one durable commit per write.
func BenchmarkUpdate(b *testing.B) {
	db := benchDB(b)
	for b.Loop() {
		if err := db.Update(putOne); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBatchParallel: concurrent request writers (32 per CPU) sharing
// commits through Batch. ns/op is per write, across all writers.
func BenchmarkBatchParallel(b *testing.B) {
	db := benchDB(b)
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := db.Batch(putOne); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkFsync: the floor, a 4 KiB page write plus fsync on the same
// disk.
func BenchmarkFsync(b *testing.B) {
	f, err := os.Create(filepath.Join(benchDir(b), "fsync"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	page := make([]byte, 4096)
	i := int64(0)
	for b.Loop() {
		// Overwrite within a preallocated region, as bbolt does.
		if _, err := f.WriteAt(page, (i%256)*4096); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
