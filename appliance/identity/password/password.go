// Package password hashes passwords with Argon2id and decides which new
// passwords are acceptable.
//
// # Hashing
//
// Hashes are PHC strings, the format of the reference implementation and
// of most other libraries:
//
//	$argon2id$v=19$m=65536,t=1,p=1$<salt, base64>$<hash, base64>
//
// Parameters: 64 MiB of memory, one pass, one lane, a 16-byte salt and a
// 32-byte hash. Measured on the 2-core AMD EPYC development machine (Go
// 1.26, x/crypto v0.57.0, amd64 assembly) in November 2026: 52–71 ms a
// hash over several runs, so one core serves 14–19 logins a second
// (BenchmarkVerify); both cores together reached only 19–25 a second,
// since Argon2 is bound by memory bandwidth. The candidates measured were
// m=19 MiB t=2 (45 ms, OWASP's minimum), m=46 MiB t=1 (50 ms, also an
// OWASP setting), m=64 MiB t=1 (70 ms), m=32 MiB t=2 (74 ms) and m=64 MiB
// t=2 (134 ms). For a fixed time, memory hurts a GPU or ASIC attacker more
// than passes do, so we take the most memory that fits the 50–100 ms
// budget. One lane because more lanes only split the same work across
// cores that other logins need. On a small ARM box expect two to four
// times slower, and 64 MiB for every login running at once: callers
// should bound concurrent Verify calls (a semaphore of a few per core).
//
// Verify reports needsRehash when a stored hash used other parameters, so
// that a login can upgrade it. Decoding refuses parameters above 256 MiB,
// 10 passes or 8 lanes, so a planted hash cannot make a login cost
// more than a few seconds. VerifyDummy costs the same as a real Verify and is for logins
// with an unknown e-mail address: both paths take the same time, so the
// timing does not tell which addresses have accounts.
//
// # Policy
//
// Check applies the rules for a new password; see its doc comment and
// common.go for the lists it uses.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// The parameters Hash uses. See the package comment for why.
const (
	memoryKiB = 64 * 1024
	passes    = 1
	lanes     = 1
	saltLen   = 16
	keyLen    = 32
)

// Limits on stored hashes: beyond these a hash is refused as malformed
// rather than computed.
const (
	maxMemoryKiB = 256 * 1024
	maxPasses    = 10
	maxLanes     = 8
	minSaltLen   = 8
	maxSaltLen   = 64
	minKeyLen    = 16
	maxKeyLen    = 64
	maxEncoded   = 256
)

// ErrMalformedHash is returned by Verify for a stored value that is not an
// Argon2id PHC string within our limits. It means corrupt data, not a
// wrong password.
var ErrMalformedHash = errors.New("password: malformed stored hash")

// params are the Argon2id settings of one hash.
type params struct {
	memory  uint32 // KiB
	passes  uint32
	lanes   uint8
	saltLen int
	keyLen  int
}

func current() params {
	return params{memory: memoryKiB, passes: passes, lanes: lanes, saltLen: saltLen, keyLen: keyLen}
}

// Hash returns the PHC string of pw with a fresh random salt. It fails
// only for a password longer than MaxBytes.
func Hash(pw string) (string, error) {
	return hashWith(pw, current())
}

func hashWith(pw string, p params) (string, error) {
	if len(pw) > MaxBytes {
		return "", ErrTooLong
	}
	salt := make([]byte, p.saltLen)
	rand.Read(salt) // never fails (crypto/rand, Go 1.24+)
	key := argon2.IDKey([]byte(pw), salt, p.passes, p.memory, p.lanes, uint32(p.keyLen))
	return encode(p, salt, key), nil
}

func encode(p params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memory, p.passes, p.lanes, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Verify reports whether pw matches the PHC string encoded, comparing in
// constant time, and whether encoded should be replaced by Hash(pw)
// because it was made with other parameters. err is non-nil only for a
// malformed encoded (ErrMalformedHash). A password longer than MaxBytes
// never matches: Hash refuses to make one.
func Verify(pw, encoded string) (ok, needsRehash bool, err error) {
	p, salt, key, err := decode(encoded)
	if err != nil {
		return false, false, err
	}
	if len(pw) > MaxBytes {
		return false, false, nil
	}
	got := argon2.IDKey([]byte(pw), salt, p.passes, p.memory, p.lanes, uint32(len(key)))
	if subtle.ConstantTimeCompare(got, key) != 1 {
		return false, false, nil
	}
	c := current()
	needsRehash = p.memory != c.memory || p.passes != c.passes || p.lanes != c.lanes ||
		len(salt) < c.saltLen || len(key) != c.keyLen
	return true, needsRehash, nil
}

// VerifyDummy does the work of a Verify against a hash with the current
// parameters and throws the result away. Call it when a login names an
// account that does not exist, so that it takes as long as one that does.
func VerifyDummy(pw string) {
	if len(pw) > MaxBytes {
		return // as Verify does
	}
	var salt [saltLen]byte
	var want [keyLen]byte
	got := argon2.IDKey([]byte(pw), salt[:], passes, memoryKiB, lanes, keyLen)
	subtle.ConstantTimeCompare(got, want[:])
}

// decode parses "$argon2id$v=19$m=M,t=T,p=P$salt$hash" strictly: that
// order, no extra fields, canonical numbers and base64.
func decode(s string) (p params, salt, key []byte, err error) {
	bad := func(why string) (params, []byte, []byte, error) {
		return params{}, nil, nil, fmt.Errorf("%w: %s", ErrMalformedHash, why)
	}
	if len(s) > maxEncoded {
		return bad("too long")
	}
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" {
		return bad("wrong number of fields")
	}
	if f[1] != "argon2id" {
		return bad("not argon2id")
	}
	if f[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad("unsupported version")
	}
	kv := strings.Split(f[3], ",")
	if len(kv) != 3 {
		return bad("want parameters m, t and p")
	}
	var vals [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(kv[i], name)
		if !ok {
			return bad("want parameters m, t and p in that order")
		}
		n, ok := parseUint(v)
		if !ok {
			return bad("parameter " + name[:1] + " is not a number")
		}
		vals[i] = n
	}
	m, t, l := vals[0], vals[1], vals[2]
	switch {
	case l < 1 || l > maxLanes:
		return bad("p out of range")
	case t < 1 || t > maxPasses:
		return bad("t out of range")
	case m < 8*l || m > maxMemoryKiB:
		return bad("m out of range")
	}
	// encoding/base64 skips '\r' and '\n'; we want none of that.
	if !isBase64(f[4]) || !isBase64(f[5]) {
		return bad("salt or hash is not base64")
	}
	b64 := base64.RawStdEncoding.Strict()
	if salt, err = b64.DecodeString(f[4]); err != nil {
		return bad("salt is not base64")
	}
	if key, err = b64.DecodeString(f[5]); err != nil {
		return bad("hash is not base64")
	}
	if len(salt) < minSaltLen || len(salt) > maxSaltLen {
		return bad("salt length out of range")
	}
	if len(key) < minKeyLen || len(key) > maxKeyLen {
		return bad("hash length out of range")
	}
	p = params{memory: uint32(m), passes: uint32(t), lanes: uint8(l), saltLen: len(salt), keyLen: len(key)}
	return p, salt, key, nil
}

func isBase64(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}

// parseUint accepts only canonical decimal: digits, no sign, no leading
// zero, at most 10 digits.
func parseUint(s string) (uint64, bool) {
	if s == "" || len(s) > 10 || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + uint64(s[i]-'0')
	}
	return n, true
}
