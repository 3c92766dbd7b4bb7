package auditlog

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// Entry is one access to a client's data. Only internal ids and codes go
// in it, never a name, personnummer, message text or contact detail.
type Entry struct {
	// Seq is the entry's place in the log (1, 2, ...). Set by Append.
	Seq uint64
	// Time is when the access happened, UTC with nanoseconds. Append
	// uses the current time when it is zero.
	Time time.Time
	// ActorID is the user who read or changed the data; 0 only for
	// RoleSystem (the box's own jobs).
	ActorID uint64
	// ActorRole is the role the actor acted in: one of the Role constants.
	ActorRole string
	// SubjectID is the client whose data it was. Never 0.
	SubjectID uint64
	// UnitID is the care unit the access was made for; 0 when none.
	UnitID uint64
	// Action is a short code, "<object>.<verb>": "room.read",
	// "profile.update", "export.create". Lowercase letters, digits and
	// . _ - only, starting with a letter; at most 64 bytes.
	Action string
	// Detail optionally says which object, by internal id: "room:7",
	// "booking:12,file:3". Lowercase letters, digits and . _ - : / , = #
	// only (no spaces, so no free text); at most 256 bytes.
	Detail string
	// PrevHash is the previous entry's Hash (the genesis value for entry
	// 1); Hash is SHA-256 of this entry's canonical encoding. Both are
	// set by Append.
	PrevHash, Hash [32]byte
}

// Roles an actor can act in. They name what the person was to the data,
// not a permission set: identity maps its roles onto these.
const (
	RoleClient   = "client"    // the client themself
	RoleRelative = "relative"  // a relative with the client's consent
	RoleStaff    = "staff"     // care staff of a unit
	RoleAdmin    = "admin"     // the clinic's administrator
	RoleOrgAdmin = "org-admin" // an organisation's admin (booking for colleagues)
	RoleSystem   = "system"    // the box itself: retention, erasure, exports run as jobs
)

// KnownRole reports whether r is one of the Role constants.
func KnownRole(r string) bool {
	switch r {
	case RoleClient, RoleRelative, RoleStaff, RoleAdmin, RoleOrgAdmin, RoleSystem:
		return true
	}
	return false
}

// ErrInvalid is matched (errors.Is) by the errors Append returns for an
// entry that cannot be logged as given.
var ErrInvalid = errors.New("auditlog: invalid entry")

// ErrDamaged is matched by errors that mean the stored log is not as
// Append left it (edited, truncated, or its indexes out of step). Run
// Verify (`clinicbox audit verify`) for the details.
var ErrDamaged = errors.New("auditlog: the audit log is damaged or has been tampered with")

const (
	maxActionLen = 64
	maxDetailLen = 256
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// prepare validates e and fills in its defaults. Seq and the hashes are
// left for the append to set.
func prepare(e Entry, now func() time.Time) (Entry, error) {
	if e.Action == "" {
		return e, invalid("no action")
	}
	if err := checkAction(e.Action); err != nil {
		return e, err
	}
	if err := checkDetail(e.Detail); err != nil {
		return e, err
	}
	if !KnownRole(e.ActorRole) {
		return e, invalid("unknown actor role %q", e.ActorRole)
	}
	if e.ActorID == 0 && e.ActorRole != RoleSystem {
		return e, invalid("no actor id (only role %q may have none)", RoleSystem)
	}
	if e.SubjectID == 0 {
		return e, invalid("no subject id")
	}
	if e.Time.IsZero() {
		e.Time = now()
	}
	if e.Time.Before(time.Unix(0, math.MinInt64)) || e.Time.After(time.Unix(0, math.MaxInt64)) {
		return e, invalid("time %s is outside 1678-2262", e.Time.Format(time.RFC3339))
	}
	e.Time = time.Unix(0, e.Time.UnixNano()).UTC()
	e.Seq, e.PrevHash, e.Hash = 0, [32]byte{}, [32]byte{}
	return e, nil
}

func checkAction(a string) error {
	if len(a) > maxActionLen {
		return invalid("action is %d bytes, at most %d", len(a), maxActionLen)
	}
	for i := 0; i < len(a); i++ {
		c := a[i]
		switch {
		case c >= 'a' && c <= 'z':
		case i > 0 && (c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'):
		default:
			return invalid("action %q: use lowercase letters, digits and . _ - only, starting with a letter", a)
		}
	}
	return nil
}

// checkDetail keeps Detail to ids and codes. The character set leaves out
// spaces, capitals and '@', so message text, names and e-mail addresses
// do not fit; a personnummer (10 or 12 digits, perhaps with '-') is
// refused by shape. This is a guard against mistakes, not a filter that
// makes personal data impossible: callers put only internal ids here.
func checkDetail(d string) error {
	if len(d) > maxDetailLen {
		return invalid("detail is %d bytes, at most %d", len(d), maxDetailLen)
	}
	for i := 0; i < len(d); i++ {
		c := d[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '.', c == '_', c == '-', c == ':', c == '/', c == ',', c == '=', c == '#':
		default:
			return invalid("detail: character %q not allowed (internal ids and codes only: lowercase letters, digits and . _ - : / , = #)", c)
		}
	}
	if looksLikePersonnummer(d) {
		return invalid("detail looks like a personal identity number; log internal ids only")
	}
	return nil
}

// looksLikePersonnummer finds 10 or more digits in a row, or 6 or 8 digits,
// a '-', then 4 digits (YYMMDD-NNNN, YYYYMMDD-NNNN).
func looksLikePersonnummer(s string) bool {
	run := func(i int) int {
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		return j - i
	}
	for i := 0; i < len(s); {
		n := run(i)
		if n == 0 {
			i++
			continue
		}
		if n >= 10 {
			return true
		}
		if (n == 6 || n == 8) && i+n < len(s) && s[i+n] == '-' && run(i+n+1) == 4 {
			return true
		}
		i += n
	}
	return false
}

// layoutV1 is the first byte of the canonical encoding. A new layout gets
// a new byte; Verify keeps recomputing old entries with their own.
const layoutV1 byte = 1

// canonicalSize is the length of e's canonical encoding.
func canonicalSize(e *Entry) int {
	return 1 + 8 + 8 + 8 + 2 + len(e.ActorRole) + 8 + 8 + 2 + len(e.Action) + 2 + len(e.Detail) + 32
}

// appendCanonical appends e's canonical encoding, the bytes its Hash is
// the SHA-256 of. A fixed layout, all integers big-endian:
//
//	layout    1 byte   (1)
//	seq       8
//	time      8        unix nanoseconds, two's complement
//	actor id  8
//	role      2 + n    length, then the bytes
//	subject   8
//	unit      8
//	action    2 + n
//	detail    2 + n
//	prev hash 32
//
// The stored value is this encoding followed by the 32-byte hash.
func appendCanonical(dst []byte, e *Entry) []byte {
	be := binary.BigEndian
	dst = append(dst, layoutV1)
	dst = be.AppendUint64(dst, e.Seq)
	dst = be.AppendUint64(dst, uint64(e.Time.UnixNano()))
	dst = be.AppendUint64(dst, e.ActorID)
	dst = appendString(dst, e.ActorRole)
	dst = be.AppendUint64(dst, e.SubjectID)
	dst = be.AppendUint64(dst, e.UnitID)
	dst = appendString(dst, e.Action)
	dst = appendString(dst, e.Detail)
	return append(dst, e.PrevHash[:]...)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

// computeHash returns SHA-256 of e's canonical encoding.
func computeHash(e *Entry) [32]byte {
	return sha256.Sum256(appendCanonical(make([]byte, 0, canonicalSize(e)), e))
}

// encodeValue returns the stored value of e: canonical encoding || hash.
func encodeValue(e *Entry) []byte {
	v := appendCanonical(make([]byte, 0, canonicalSize(e)+32), e)
	return append(v, e.Hash[:]...)
}

// decodeValue parses a stored value. It checks the structure only; whether
// the content matches the hash is for Verify to say. Strings are copied.
func decodeValue(v []byte) (Entry, error) {
	var e Entry
	r := reader{b: v}
	if layout := r.byte(); layout != layoutV1 {
		if r.err != nil {
			return e, r.err
		}
		return e, fmt.Errorf("unknown layout %d", layout)
	}
	e.Seq = r.u64()
	e.Time = time.Unix(0, int64(r.u64())).UTC()
	e.ActorID = r.u64()
	e.ActorRole = r.str()
	e.SubjectID = r.u64()
	e.UnitID = r.u64()
	e.Action = r.str()
	e.Detail = r.str()
	copy(e.PrevHash[:], r.take(32))
	copy(e.Hash[:], r.take(32))
	if r.err != nil {
		return Entry{}, r.err
	}
	if len(r.b) != 0 {
		return Entry{}, fmt.Errorf("%d stray bytes after the hash", len(r.b))
	}
	return e, nil
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.err = errors.New("value is truncated")
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) byte() byte {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u64() uint64 {
	if b := r.take(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (r *reader) str() string {
	b := r.take(2)
	if b == nil {
		return ""
	}
	return string(r.take(int(binary.BigEndian.Uint16(b))))
}

// genesis is the PrevHash of entry 1. It includes the box id, so a log
// copied from another box (or built for it) does not verify here.
func genesis(boxID string) [32]byte {
	return sha256.Sum256([]byte("clinicbox audit log v1 genesis\x00" + boxID))
}
