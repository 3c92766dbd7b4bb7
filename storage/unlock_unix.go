//go:build unix

package storage

import (
	"os"
	"syscall"
)

func unlockFile(f *os.File) { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
