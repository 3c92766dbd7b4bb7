package storage

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// lockHelperEnv makes the test binary act as a second clinicbox process
// that holds the database open until its stdin closes.
const lockHelperEnv = "CLINICBOX_STORAGE_TEST_LOCK_HOLDER"

func TestMain(m *testing.M) {
	if path := os.Getenv(lockHelperEnv); path != "" {
		os.Exit(holdLock(path))
	}
	os.Exit(m.Run())
}

func holdLock(path string) int {
	db, err := Open(path, Options{})
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Println("locked")
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := db.Close(); err != nil {
		return 1
	}
	return 0
}

// dbPath returns a fresh database path in a test directory.
func dbPath(t testing.TB) string {
	return filepath.Join(t.TempDir(), "clinicbox.db")
}

// openTest opens path and closes it when the test ends.
func openTest(t testing.TB, path string, opts Options) *DB {
	t.Helper()
	db, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// createDB makes a closed database at path with the default schema and
// fill applied in one transaction.
func createDB(t testing.TB, path string, fill func(tx *bbolt.Tx) error) {
	t.Helper()
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if fill != nil {
		if err := db.Update(fill); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// fillRecords puts n values of size bytes under ids 1..n in bucket name.
func fillRecords(name string, n, size int) func(tx *bbolt.Tx) error {
	return func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(name))
		if err != nil {
			return err
		}
		for range n {
			id, err := NextID(b)
			if err != nil {
				return err
			}
			// A new slice each time: bbolt keeps it until the commit.
			val := make([]byte, size)
			for j := range val {
				val[j] = byte(id) + byte(j)
			}
			if err := b.Put(ID(id), val); err != nil {
				return err
			}
		}
		return nil
	}
}

func fileHash(t testing.TB, path string) [32]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}

// startLockHolder runs another process that holds path open.
func startLockHolder(t *testing.T, path string) (release func()) {
	t.Helper()
	cmd := execSelf(lockHelperEnv + "=" + path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("lock holder: %q, %v", line, err)
	}
	done := false
	release = func() {
		if done {
			return
		}
		done = true
		_ = stdin.Close()
		ch := make(chan error, 1)
		go func() { ch <- cmd.Wait() }()
		select {
		case err := <-ch:
			if err != nil {
				t.Errorf("lock holder: %v", err)
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("lock holder did not exit")
		}
	}
	t.Cleanup(release)
	return release
}

// execSelf runs this test binary again with an extra environment variable
// (see TestMain).
func execSelf(env string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env)
	return cmd
}
