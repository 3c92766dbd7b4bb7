package attachments

import (
	"errors"
	"fmt"
	"io"
)

// Sentinel errors; test for them with errors.Is.
var (
	// ErrTooLarge: the upload passed the size limit; the rest was not read.
	ErrTooLarge = errors.New("attachments: the file is larger than the limit")
	// ErrType: the content is not a kind of file that may be attached,
	// or it is a damaged one. errors.As gives a *TypeError with the reason.
	ErrType = errors.New("attachments: this kind of file cannot be attached")
	// ErrNotFound: no stored file has this id.
	ErrNotFound = errors.New("attachments: no such file")
	// ErrDamaged: a stored file was altered or cut short, or it belongs
	// to another subject.
	ErrDamaged = errors.New("attachments: the stored file is damaged, altered, or belongs to another subject")
)

// Reason says why an upload was refused with ErrType, as a stable code the
// web layer maps to a sentence in the reader's language.
type Reason string

// Reasons for ErrType.
const (
	ReasonUnsupported Reason = "unsupported" // not a picture, PDF or office document
	ReasonProgram     Reason = "program"     // an executable or script
	ReasonArchive     Reason = "archive"     // ZIP, RAR, 7z, gzip, …
	ReasonScript      Reason = "script"      // HTML, SVG, XML: can carry script
	ReasonHEIF        Reason = "heif"        // HEIC/HEIF/AVIF: convert to JPEG
	ReasonMacro       Reason = "macro"       // an office document with macros
	ReasonEncrypted   Reason = "encrypted"   // password-protected: cannot be checked
	ReasonDamaged     Reason = "damaged"     // claims a known type but its structure is broken
)

// TypeError is the error for a refused type; it matches ErrType.
type TypeError struct {
	Reason Reason
	Detail string // for the log: what was found
}

func (e *TypeError) Error() string { return "attachments: cannot attach this file: " + e.Detail }

// Is makes errors.Is(err, ErrType) true.
func (e *TypeError) Is(target error) bool { return target == ErrType }

func refuse(r Reason, format string, args ...any) error {
	return &TypeError{Reason: r, Detail: fmt.Sprintf(format, args...)}
}

// damagedf reports broken structure in an upload of a known type.
func damagedf(format string, args ...any) error {
	return refuse(ReasonDamaged, format, args...)
}

// readErr turns a premature end of the upload inside a structure into a
// TypeError (the file is cut short); other errors (the network, the size
// limit) pass through unchanged.
func readErr(err error, what string) error {
	var se *sourceError
	if errors.As(err, &se) || errors.Is(err, ErrTooLarge) {
		return err
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return damagedf("%s is cut short", what)
	}
	return err
}

// storedDamaged reports a problem with a stored file.
func storedDamaged(id, why string) error {
	return fmt.Errorf("%w: file %s: %s", ErrDamaged, id, why)
}

// sourceError is a failure of the reader Put was given (the network), as
// opposed to a premature end of the content: it passes through the
// strippers unchanged, even when it wraps io.ErrUnexpectedEOF.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return "attachments: reading the upload: " + e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }
