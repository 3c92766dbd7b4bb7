package storage

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

func TestOpenCreatesDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "clinicbox.db") // data dir made by Open
	db := openTest(t, path, Options{})
	if got, want := db.SchemaVersion(), len(Migrations()); got != want {
		t.Errorf("SchemaVersion = %d, want %d", got, want)
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(db.BoxID()) {
		t.Errorf("BoxID = %q, want 32 hex characters", db.BoxID())
	}
	if d := time.Since(db.CreatedAt()); d < 0 || d > time.Minute {
		t.Errorf("CreatedAt = %v, want about now", db.CreatedAt())
	}
	if db.Path() != path {
		t.Errorf("Path = %q, want %q", db.Path(), path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode = %v, want 0600", fi.Mode().Perm())
	}
	boxID, created := db.BoxID(), db.CreatedAt()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// The identity is made once and kept.
	db2 := openTest(t, path, Options{})
	if db2.BoxID() != boxID || !db2.CreatedAt().Equal(created) {
		t.Errorf("after reopen: box %s created %v, want %s %v", db2.BoxID(), db2.CreatedAt(), boxID, created)
	}
}

func TestOpenRelativePath(t *testing.T) {
	t.Chdir(t.TempDir())
	db := openTest(t, "clinicbox-data/clinicbox.db", Options{})
	if !filepath.IsAbs(db.Path()) {
		t.Errorf("Path = %q, want absolute", db.Path())
	}
}

func TestOpenEmptyFileInitialises(t *testing.T) {
	path := dbPath(t)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	db := openTest(t, path, Options{})
	if db.SchemaVersion() != len(Migrations()) {
		t.Errorf("SchemaVersion = %d", db.SchemaVersion())
	}
}

// bbolt's flock belongs to the open file description, so a second Open
// in the same process conflicts just like a second process would.
func TestOpenLockedInProcess(t *testing.T) {
	path := dbPath(t)
	first := openTest(t, path, Options{})

	const timeout = 300 * time.Millisecond
	start := time.Now()
	db, err := Open(path, Options{Timeout: timeout})
	elapsed := time.Since(start)
	if err == nil {
		db.Close()
		t.Fatal("second Open succeeded, want ErrLocked")
	}
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if elapsed < timeout/2 || elapsed > 5*timeout {
		t.Errorf("second Open took %v with a %v timeout", elapsed, timeout)
	}
	want := "storage: database " + path + " is in use by another process (is clinicbox already running?)"
	if err.Error() != want {
		t.Errorf("error = %q\nwant    %q", err, want)
	}

	// Once the first closes, the file is free again.
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	openTest(t, path, Options{Timeout: timeout})
}

func TestOpenLockedByAnotherProcess(t *testing.T) {
	path := dbPath(t)
	createDB(t, path, nil)
	release := startLockHolder(t, path)

	start := time.Now()
	_, err := Open(path, Options{Timeout: 500 * time.Millisecond})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open while another process holds the file: %v, want ErrLocked naming the path", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Open took %v", d)
	}
	release()
	openTest(t, path, Options{})
}

func TestOpenDefaultTimeoutDoesNotHang(t *testing.T) {
	if testing.Short() {
		t.Skip("waits DefaultTimeout")
	}
	t.Parallel()
	path := dbPath(t)
	openTest(t, path, Options{})
	start := time.Now()
	_, err := Open(path, Options{})
	if d := time.Since(start); !errors.Is(err, ErrLocked) || d > DefaultTimeout+2*time.Second {
		t.Fatalf("Open with default timeout: %v after %v", err, d)
	}
}

// corruptions make a file that must not open. Each starts from a valid
// database with some data unless noted.
func corruptions(t *testing.T) map[string]func(path string) {
	validWithData := func(path string) {
		createDB(t, path, fillRecords("data", 3000, 200))
	}
	return map[string]func(path string){
		"garbage": func(path string) {
			data := make([]byte, 64<<10)
			r := rand.New(rand.NewPCG(1, 2))
			for i := range data {
				data[i] = byte(r.Uint32())
			}
			writeFile(t, path, data)
		},
		"a few bytes": func(path string) { writeFile(t, path, []byte("hello")) },
		"text file":   func(path string) { writeFile(t, path, bytes.Repeat([]byte("not a database\n"), 1000)) },
		"truncated to half": func(path string) {
			validWithData(path)
			if err := os.Truncate(path, usedSize(t, path)/2); err != nil {
				t.Fatal(err)
			}
		},
		"truncated inside the meta pages": func(path string) {
			validWithData(path)
			if err := os.Truncate(path, 5000); err != nil {
				t.Fatal(err)
			}
		},
		"meta pages zeroed": func(path string) {
			validWithData(path)
			overwrite(t, path, 0, make([]byte, 2*4096))
		},
		"data pages overwritten": func(path string) {
			// Meta pages stay valid, so bbolt opens the file; reading
			// the root page then fails.
			validWithData(path)
			fi, _ := os.Stat(path)
			overwrite(t, path, 2*4096, bytes.Repeat([]byte{0xff}, int(fi.Size())-2*4096))
		},
		"another program's bbolt file": func(path string) {
			b, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Update(func(tx *bbolt.Tx) error {
				_, err := tx.CreateBucket([]byte("theirs"))
				return err
			}); err != nil {
				t.Fatal(err)
			}
			b.Close()
		},
	}
}

// usedSize is the size of the pages a database file uses: bbolt grows
// the file ahead of them.
func usedSize(t *testing.T, path string) int64 {
	t.Helper()
	b, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var n int64
	_ = b.View(func(tx *bbolt.Tx) error { n = tx.Size(); return nil })
	return n
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func overwrite(t *testing.T, path string, off int64, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, off); err != nil {
		t.Fatal(err)
	}
}

func TestOpenCorruptRefuses(t *testing.T) {
	for name, corrupt := range corruptions(t) {
		t.Run(name, func(t *testing.T) {
			path := dbPath(t)
			corrupt(path)
			before := fileHash(t, path)

			db, err := Open(path, Options{Timeout: time.Second})
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded, want ErrCorrupt")
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open: %v, want ErrCorrupt", err)
			}
			for _, want := range []string{"storage: ", path, "clinicbox db check", "backup"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			if fileHash(t, path) != before {
				t.Error("Open changed the damaged file")
			}
			// A failed Open must not leave the file locked (bbolt may
			// have panicked half-way through opening it).
			_, err = Open(path, Options{Timeout: 200 * time.Millisecond})
			if errors.Is(err, ErrLocked) {
				t.Error("the file stayed locked after the failed Open")
			}
		})
	}
}

func TestOpenDataDirNotWritable(t *testing.T) {
	t.Run("parent is a file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "not-a-dir")
		writeFile(t, file, []byte("x"))
		path := filepath.Join(file, "clinicbox.db")
		_, err := Open(path, Options{})
		if err == nil || !strings.HasPrefix(err.Error(), "storage: ") || !strings.Contains(err.Error(), file) {
			t.Fatalf("Open: %v, want an error naming %s", err, file)
		}
	})
	t.Run("read-only directory", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root ignores permissions")
		}
		dir := filepath.Join(t.TempDir(), "ro")
		if err := os.Mkdir(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "clinicbox.db")
		_, err := Open(path, Options{})
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "permission denied") {
			t.Fatalf("Open: %v, want permission denied naming %s", err, path)
		}
	})
	t.Run("path is a directory", func(t *testing.T) {
		path := t.TempDir()
		_, err := Open(path, Options{})
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("Open: %v", err)
		}
	})
}

func TestCloseIsBounded(t *testing.T) {
	path := dbPath(t)
	db, err := Open(path, Options{Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.Bolt().Begin(false) // a reader that never ends in time
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = db.Close()
	if err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("Close with an open transaction: %v after %v", err, time.Since(start))
	}
	if err2 := db.Close(); err2 != err {
		t.Errorf("second Close = %v, want the first's result", err2)
	}
	// When the reader ends, the background close releases the file.
	_ = tx.Rollback()
	deadline := time.Now().Add(5 * time.Second)
	for {
		db2, err := Open(path, Options{Timeout: 100 * time.Millisecond})
		if err == nil {
			db2.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("file still locked after the reader ended: %v", err)
		}
	}
}

func TestTransactions(t *testing.T) {
	db := openTest(t, dbPath(t), Options{})
	if err := db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket([]byte("things"))
		if err != nil {
			return err
		}
		return Put(b, ID(1), "one")
	}); err != nil {
		t.Fatal(err)
	}
	errStop := errors.New("stop")
	if err := db.Batch(func(tx *bbolt.Tx) error {
		if err := Put(tx.Bucket([]byte("things")), ID(2), "two"); err != nil {
			return err
		}
		return errStop // rolls back, and comes back unchanged
	}); err != errStop {
		t.Fatalf("Batch = %v, want the function's own error", err)
	}
	if err := db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("things"))
		if v, ok, err := Get[string](b, ID(1)); v != "one" || !ok || err != nil {
			t.Errorf("Get 1 = %q %v %v", v, ok, err)
		}
		if _, ok, _ := Get[string](b, ID(2)); ok {
			t.Error("the failed batch was committed")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
