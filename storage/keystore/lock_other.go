//go:build !unix

package keystore

import (
	"fmt"
	"os"
	"path/filepath"
)

// lockDir only opens dir/lock where flock is missing: the appliance runs
// on Linux, and there one process owning the directory is enforced.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("keys: cannot open %s: %w", path, err)
	}
	return f, nil
}

func unlockDir(f *os.File) error { return f.Close() }
