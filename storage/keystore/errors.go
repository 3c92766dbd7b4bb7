package keystore

import (
	"errors"
	"fmt"
)

// Sentinel errors; test for them with errors.Is. The errors returned carry
// a message for the operator that names the file and what to do.
var (
	// ErrNoKey means the subject has no data key: it was erased (callers
	// show "former participant") or never had one.
	ErrNoKey = errors.New("keys: no key for subject")
	// ErrDecrypt means a ciphertext is malformed, was altered, or is
	// opened with another subject or aad than it was sealed with.
	ErrDecrypt = errors.New("keys: cannot decrypt: the data is damaged or altered, or belongs to another subject or record")
	// ErrDamaged means subjects.keys is damaged, cut short or missing; it
	// is left as it was found.
	ErrDamaged = errors.New("keys: subjects.keys is damaged; restore it from a backup")
	// ErrMasterKey means master.key is unusable: readable by others, of
	// the wrong size, missing while keys exist, or not the one that wrote
	// subjects.keys.
	ErrMasterKey = errors.New("keys: master key is unusable")
	// ErrLocked means another Store (in this or another process) has the
	// key directory open.
	ErrLocked = errors.New("keys: key store is in use by another process")
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("keys: key store is closed")
)

// opError carries an operator-facing message while still matching its
// sentinel (kind) and its cause with errors.Is/As.
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

func damagedError(path, why string) error {
	return &opError{
		msg:  fmt.Sprintf("keys: subjects.keys is damaged (%s: %s); restore it from a backup", path, why),
		kind: ErrDamaged,
	}
}

func masterError(format string, args ...any) error {
	return &opError{msg: fmt.Sprintf(format, args...), kind: ErrMasterKey}
}

func noKeyError(subject string) error {
	return &opError{msg: fmt.Sprintf("keys: no key for subject %q", subject), kind: ErrNoKey}
}

func decryptError(why string) error {
	return &opError{msg: "keys: cannot decrypt: " + why, kind: ErrDecrypt}
}
