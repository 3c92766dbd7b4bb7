//go:build !unix

package storage

import "os"

// unlockFile is a no-op where bbolt does not use flock; closing the file
// is enough there.
func unlockFile(*os.File) {}
