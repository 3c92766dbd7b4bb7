package storage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/bbolt"
)

func TestCompactShrinks(t *testing.T) {
	src := dbPath(t)
	const n, size = 20000, 1000
	db := openTest(t, src, Options{})
	boxID := db.BoxID()
	if err := db.Update(fillRecords("data", n, size)); err != nil {
		t.Fatal(err)
	}
	// Keep every tenth record.
	if err := db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("data"))
		for id := uint64(1); id <= n; id++ {
			if id%10 != 0 {
				if err := b.Delete(ID(id)); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	srcHash := fileHash(t, src)

	dst := filepath.Join(t.TempDir(), "compact.db")
	if err := Compact(src, dst); err != nil {
		t.Fatal(err)
	}
	srcInfo, _ := os.Stat(src)
	dstInfo, _ := os.Stat(dst)
	t.Logf("compacted %d bytes to %d", srcInfo.Size(), dstInfo.Size())
	if dstInfo.Size()*4 > srcInfo.Size() {
		t.Errorf("compacted file is %d bytes, source %d: want it under a quarter", dstInfo.Size(), srcInfo.Size())
	}
	if fileHash(t, src) != srcHash {
		t.Error("Compact changed the source")
	}

	out := openTest(t, dst, Options{})
	if out.BoxID() != boxID {
		t.Errorf("box id %s, want %s", out.BoxID(), boxID)
	}
	want := make([]byte, size)
	if err := out.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("data"))
		count := 0
		err := b.ForEach(func(k, v []byte) error {
			id, _ := ParseID(k)
			for j := range want {
				want[j] = byte(id) + byte(j)
			}
			if id%10 != 0 || !bytes.Equal(v, want) {
				t.Fatalf("record %d is wrong after compaction", id)
			}
			count++
			return nil
		})
		if count != n/10 {
			t.Errorf("%d records after compaction, want %d", count, n/10)
		}
		// The sequence survives: ids are never reused.
		if next, _ := NextID(b); next != n+1 {
			t.Errorf("NextID after compaction = %d, want %d", next, n+1)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

func TestCompactRefuses(t *testing.T) {
	t.Run("running database", func(t *testing.T) {
		t.Parallel() // waits DefaultTimeout for the lock
		src := dbPath(t)
		openTest(t, src, Options{})
		dst := filepath.Join(t.TempDir(), "out.db")
		if err := Compact(src, dst); !errors.Is(err, ErrLocked) {
			t.Errorf("Compact of an open database = %v, want ErrLocked", err)
		}
		assertNoFile(t, dst)
	})
	t.Run("existing destination", func(t *testing.T) {
		src := dbPath(t)
		createDB(t, src, nil)
		dst := filepath.Join(t.TempDir(), "out.db")
		writeFile(t, dst, []byte("keep me"))
		if err := Compact(src, dst); err == nil || !strings.Contains(err.Error(), "already exists") {
			t.Errorf("Compact over an existing file = %v", err)
		}
		if data, _ := os.ReadFile(dst); string(data) != "keep me" {
			t.Error("Compact overwrote the destination")
		}
	})
	t.Run("damaged source", func(t *testing.T) {
		src := dbPath(t)
		createDB(t, src, fillRecords("data", 2000, 100))
		damageLeafPage(t, src, "data")
		dstDir := t.TempDir()
		dst := filepath.Join(dstDir, "out.db")
		if err := Compact(src, dst); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Compact of a damaged file = %v, want ErrCorrupt", err)
		}
		if entries, _ := os.ReadDir(dstDir); len(entries) != 0 {
			t.Errorf("Compact left %v", entries)
		}
	})
}

func assertNoFile(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s exists", path)
	}
}
