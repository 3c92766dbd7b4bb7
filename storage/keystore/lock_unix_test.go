//go:build unix

package keystore

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestLocked: two Stores rewriting one subjects.keys would lose each
// other's keys, so the second Open fails at once.
func TestLocked(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	s := openT(t, dir)
	_, err := Open(dir)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("second Open = %v; want ErrLocked naming %s", err, dir)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	openT(t, dir)
}
