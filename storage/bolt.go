package storage

import (
	"os"
	"time"

	"go.etcd.io/bbolt"
)

// fileMode keeps the database readable by the service user only: it holds
// patient data.
const fileMode os.FileMode = 0o600

// initialMmapSize reserves address space up front so that the file can grow
// to 1 GiB without a remap. A remap waits for every open read transaction,
// so without this a long snapshot could stall writers. It costs address
// space, not memory; a side effect is that bbolt then grows the file in
// 16 MiB steps (fewer grow-and-fsync rounds), so even a new database is
// about 16 MiB on disk.
const initialMmapSize = 1 << 30

// openBolt opens path with bbolt under guard and a lock timeout. bbolt
// waits forever for the flock when the timeout is zero, so a zero timeout
// is never passed on.
func openBolt(path string, readOnly, preloadFreelist bool, timeout time.Duration) (*bbolt.DB, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	// Keep the file bbolt opens: if bbolt panics half-way through Open
	// (a damaged file), nobody else can release its flock.
	var file *os.File
	opts := &bbolt.Options{
		Timeout:         timeout,
		ReadOnly:        readOnly,
		PreLoadFreelist: preloadFreelist,
		// etcd's choice: allocation stays O(1) when retention deletes
		// leave a long freelist.
		FreelistType: bbolt.FreelistMapType,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			if file == nil {
				file = f
			}
			return f, err
		},
	}
	if !readOnly {
		opts.InitialMmapSize = initialMmapSize
	}
	var db *bbolt.DB
	err := guard(func() error {
		var err error
		db, err = bbolt.Open(path, fileMode, opts)
		return err
	})
	if _, panicked := err.(*panicError); panicked && file != nil {
		// The mapping bbolt made still references the open file, so
		// closing the descriptor alone would keep the flock: drop it
		// explicitly. The mapping itself leaks; this path ends in an error.
		unlockFile(file)
		_ = file.Close()
	}
	if err != nil {
		return nil, classifyOpenErr(path, err)
	}
	return db, nil
}
