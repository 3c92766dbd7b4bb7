package fsutil

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPrivateDir(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "keys")
	if err := PrivateDir(dir, "key directory"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("made %v %v", fi.Mode(), err)
	}
	os.Chmod(dir, 0o755)
	if err := PrivateDir(dir, "key directory"); err == nil || !strings.Contains(err.Error(), "chmod 700") {
		t.Fatalf("an open directory: %v", err)
	}
	file := filepath.Join(base, "f")
	os.WriteFile(file, nil, 0o600)
	if err := PrivateDir(file, "key directory"); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("a file: %v", err)
	}
	if err := SyncDir(base); err != nil {
		t.Fatal(err)
	}
	if err := SyncDir(filepath.Join(base, "missing")); err == nil {
		t.Fatal("syncing a missing directory must fail")
	}
}
