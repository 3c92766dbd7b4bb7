package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"runtime/debug"
	"strings"
	"syscall"

	berrors "go.etcd.io/bbolt/errors"
)

// Sentinel errors; test for them with errors.Is. The errors returned carry
// a message meant for the operator (naming the file and what to do).
var (
	// ErrLocked means another process (or another Open in this one) holds
	// the database file.
	ErrLocked = errors.New("storage: database is locked by another process")
	// ErrCorrupt means the file is damaged or is not a clinicbox database.
	// The file is left exactly as it was found.
	ErrCorrupt = errors.New("storage: database is damaged")
	// ErrSchemaTooNew means the file was written by a newer clinicbox whose
	// schema this binary does not know (a downgrade).
	ErrSchemaTooNew = errors.New("storage: database schema is newer than this binary")
)

// opError carries an operator-facing message while still matching a
// sentinel (kind) and the underlying cause with errors.Is/As.
type opError struct {
	msg  string
	kind error
	err  error
}

func (e *opError) Error() string { return e.msg }

func (e *opError) Unwrap() []error {
	errs := make([]error, 0, 2)
	if e.kind != nil {
		errs = append(errs, e.kind)
	}
	if e.err != nil {
		errs = append(errs, e.err)
	}
	return errs
}

func lockedError(path string, err error) error {
	return &opError{
		msg:  fmt.Sprintf("storage: database %s is in use by another process (is clinicbox already running?)", path),
		kind: ErrLocked,
		err:  err,
	}
}

func corruptError(path string, err error) error {
	return &opError{
		msg: fmt.Sprintf("storage: database %s is damaged or is not a clinicbox database (%s); "+
			"it was left untouched: run `clinicbox db check` for details and restore the latest backup (`clinicbox restore`)",
			path, describe(err)),
		kind: ErrCorrupt,
		err:  err,
	}
}

// describe says in words what bbolt's terse errors about a file mean.
func describe(err error) string {
	var pe *panicError
	switch {
	case errors.Is(err, berrors.ErrInvalid):
		return "not a bbolt database, or both of its meta pages are damaged"
	case errors.Is(err, berrors.ErrChecksum):
		return "both of its meta pages fail their checksum"
	case errors.Is(err, berrors.ErrVersionMismatch):
		return "unknown bbolt file format version"
	case errors.As(err, &pe):
		return "reading it failed: " + err.Error()
	case strings.HasPrefix(err.Error(), "file size too small"):
		// bbolt's mmap check; it has no sentinel error.
		return "the file is truncated: it is shorter than its two meta pages"
	default:
		return err.Error()
	}
}

// classifyOpenErr turns what bbolt.Open returned into an operator-facing
// error. Errors from the operating system (paths, errnos) are I/O
// problems; everything else bbolt says about the file's content means the
// content is bad.
func classifyOpenErr(path string, err error) error {
	if err == nil {
		return nil
	}
	var pe *panicError
	var pathErr *fs.PathError
	var errno syscall.Errno
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return lockedError(path, err)
	case errors.As(err, &pe):
		return corruptError(path, err)
	case errors.Is(err, fs.ErrPermission):
		return &opError{
			msg: fmt.Sprintf("storage: cannot open database %s: permission denied "+
				"(the data directory and the file must be writable by the user clinicbox runs as)", path),
			err: err,
		}
	case errors.As(err, &pathErr), errors.As(err, &errno):
		return &opError{msg: fmt.Sprintf("storage: cannot open database %s: %v", path, err), err: err}
	default:
		return corruptError(path, err)
	}
}

// panicError is a panic recovered from bbolt (or a migration), including a
// memory fault while reading a damaged or truncated mmap'd file.
type panicError struct{ value any }

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

func (e *panicError) Unwrap() error {
	err, _ := e.value.(error)
	return err
}

// guard runs fn and turns any panic into a *panicError. bbolt reads the
// file through mmap, so a damaged file can make it fault (SIGBUS past the
// end of a truncated file, SIGSEGV past the mapping); SetPanicOnFault
// turns those faults into panics on this goroutine instead of killing the
// process.
func guard(fn func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{value: r}
		}
	}()
	return fn()
}
