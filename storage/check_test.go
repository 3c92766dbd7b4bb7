package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

func TestCheckGood(t *testing.T) {
	path := dbPath(t)
	createDB(t, path, func(tx *bbolt.Tx) error {
		if err := fillRecords("data", 1000, 100)(tx); err != nil {
			return err
		}
		rooms, err := tx.CreateBucket([]byte("test-rooms"))
		if err != nil {
			return err
		}
		room, err := rooms.CreateBucket(ID(1)) // nested: its keys count for rooms
		if err != nil {
			return err
		}
		for i := range uint64(5) {
			if err := room.Put(ID(i+1), []byte("m")); err != nil {
				return err
			}
		}
		return rooms.Put([]byte("index"), []byte("x"))
	})
	before := fileHash(t, path)

	rep, err := Check(path, time.Second)
	if err != nil || !rep.OK || !rep.Checked || len(rep.Problems) != 0 {
		t.Fatalf("Check = %+v, %v", rep, err)
	}
	if rep.SchemaVersion != len(Migrations()) || rep.Path != path || rep.SizeBytes == 0 {
		t.Errorf("report = %+v", rep)
	}
	want := map[string]int{"meta": 3, "data": 1000, "test-rooms": 6}
	for name, n := range want {
		if rep.Buckets[name] != n {
			t.Errorf("Buckets[%s] = %d, want %d", name, rep.Buckets[name], n)
		}
	}
	// The migrations' own buckets come on top of the test's.
	if len(rep.Buckets) < len(want) {
		t.Errorf("Buckets = %v", rep.Buckets)
	}
	re := regexp.MustCompile(`^database ` + regexp.QuoteMeta(path) + fmt.Sprintf(`: OK \(schema %d, %d buckets, \d+\.\d (KiB|MiB)\)$`, len(Migrations()), len(rep.Buckets)))
	if !re.MatchString(rep.String()) {
		t.Errorf("String() = %q", rep.String())
	}
	if fileHash(t, path) != before {
		t.Error("Check changed the file")
	}
}

func TestCheckCorrupt(t *testing.T) {
	for name, corrupt := range corruptions(t) {
		t.Run(name, func(t *testing.T) {
			path := dbPath(t)
			corrupt(path)
			before := fileHash(t, path)
			rep, err := Check(path, time.Second)
			if !errors.Is(err, ErrCorrupt) || rep.OK || !rep.Checked || len(rep.Problems) == 0 {
				t.Fatalf("Check = %+v, %v; want a damaged report and ErrCorrupt", rep, err)
			}
			s := rep.String()
			if !strings.Contains(s, "DAMAGED") || !strings.Contains(s, rep.Problems[0]) || !strings.Contains(s, "backup") {
				t.Errorf("String() = %q", s)
			}
			if fileHash(t, path) != before {
				t.Error("Check changed the file")
			}
			if _, err := Open(path, Options{Timeout: 200 * time.Millisecond}); errors.Is(err, ErrLocked) {
				t.Error("the file stayed locked after Check")
			}
		})
	}
	t.Run("truncated names the sizes", func(t *testing.T) {
		path := dbPath(t)
		corruptions(t)["truncated to half"](path)
		rep, _ := Check(path, time.Second)
		if len(rep.Problems) != 1 || !strings.HasPrefix(rep.Problems[0], "the file is truncated") {
			t.Errorf("Problems = %q", rep.Problems)
		}
	})
	t.Run("empty file", func(t *testing.T) {
		path := dbPath(t)
		writeFile(t, path, nil)
		if rep, err := Check(path, time.Second); !errors.Is(err, ErrCorrupt) || rep.OK {
			t.Errorf("Check = %+v, %v", rep, err)
		}
	})
}

// damageLeafPage overwrites the header of one leaf page of bucket (not
// the root's page), the kind of damage found only by reading the bucket.
func damageLeafPage(t *testing.T, path, bucket string) {
	t.Helper()
	b, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		t.Fatal(err)
	}
	pageSize := b.Info().PageSize
	var victim int
	_ = b.View(func(tx *bbolt.Tx) error {
		rootPage := int(tx.Cursor().Bucket().Root())
		bucketRoot := int(tx.Bucket([]byte(bucket)).Root())
		for id := 2; ; id++ {
			info, err := tx.Page(id)
			if err != nil || info == nil {
				t.Fatalf("no leaf page found in %s: %v", bucket, err)
			}
			if info.Type == "leaf" && id != rootPage && id != bucketRoot {
				victim = id
				return nil
			}
		}
	})
	b.Close()
	overwrite(t, path, int64(victim*pageSize), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
}

// Open reads only what it needs, so damage deep in a bucket passes Open;
// Check reads every page and finds it.
func TestCheckFindsDeepDamage(t *testing.T) {
	path := dbPath(t)
	createDB(t, path, fillRecords("data", 2000, 100))
	damageLeafPage(t, path, "data")

	db, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open: %v (expected to pass: the damage is deep)", err)
	}
	db.Close()
	rep, err := Check(path, time.Second)
	if !errors.Is(err, ErrCorrupt) || rep.OK || len(rep.Problems) == 0 {
		t.Fatalf("Check = %+v, %v", rep, err)
	}
	t.Logf("%s", rep)
}

// A running clinicbox holds an exclusive flock; bbolt's read-only open
// asks for a shared one, which that excludes. Check must say so within
// its timeout rather than wait.
func TestCheckWhileLocked(t *testing.T) {
	check := func(t *testing.T, path string) {
		const timeout = 300 * time.Millisecond
		start := time.Now()
		rep, err := Check(path, timeout)
		if d := time.Since(start); d > 5*timeout {
			t.Errorf("Check took %v", d)
		}
		if !errors.Is(err, ErrLocked) || rep.OK || rep.Checked {
			t.Fatalf("Check = %+v, %v; want ErrLocked, not checked", rep, err)
		}
		s := rep.String()
		for _, want := range []string{"NOT CHECKED", "in use by another process", "stop the service"} {
			if !strings.Contains(s, want) {
				t.Errorf("String() = %q, want it to mention %q", s, want)
			}
		}
	}
	t.Run("same process", func(t *testing.T) {
		path := dbPath(t)
		openTest(t, path, Options{})
		check(t, path)
	})
	t.Run("other process", func(t *testing.T) {
		path := dbPath(t)
		createDB(t, path, nil)
		release := startLockHolder(t, path)
		check(t, path)
		release()
		if _, err := Check(path, time.Second); err != nil {
			t.Errorf("Check after the holder exited: %v", err)
		}
	})
}

func TestCheckMissingFile(t *testing.T) {
	path := dbPath(t)
	rep, err := Check(path, time.Second)
	if err == nil || rep.OK || rep.Checked || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Check = %+v, %v", rep, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Error("Check created the file")
	}
	if !strings.Contains(rep.String(), "NOT CHECKED") {
		t.Errorf("String() = %q", rep.String())
	}
}

// DB.Check checks a running database through a snapshot, while writers
// go on, and leaves nothing behind.
func TestDBCheckOnline(t *testing.T) {
	path := dbPath(t)
	db := openTest(t, path, Options{})
	if err := db.Update(fillRecords("data", 2000, 100)); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := db.Batch(fillRecords("data", 1, 100)); err != nil {
				t.Error(err)
				return
			}
		}
	})
	rep, err := db.Check()
	close(stop)
	wg.Wait()
	if err != nil || !rep.OK || rep.Path != path || rep.Buckets["data"] < 2000 {
		t.Fatalf("DB.Check = %+v, %v", rep, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("files left in the data dir: %v", entries)
	}
}

func TestOpenRemovesStaleCheckSnapshots(t *testing.T) {
	path := dbPath(t)
	createDB(t, path, nil)
	dir := filepath.Dir(path)
	stale := filepath.Join(dir, ".clinicbox.db.check-123")
	other := filepath.Join(dir, ".other.db.check-123") // another database's
	writeFile(t, stale, []byte("x"))
	writeFile(t, other, []byte("x"))
	openTest(t, path, Options{})
	assertNoFile(t, stale)
	if _, err := os.Stat(other); err != nil {
		t.Error("Open removed another database's file")
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1258291: "1.2 MiB", 3 << 30: "3.0 GiB"} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
