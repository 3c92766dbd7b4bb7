package totp

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
)

// Recovery codes look like "7kqm-x3dp-hv9c-tr2a": 16 characters from a
// 31-character alphabet without 0/o, 1/l/i, in groups of four. That is
// 79 bits each. The brief's example had 12 characters (59 bits); 16
// keep a fast unsalted hash safe even against an attacker who steals the
// database and tries all users' codes at once (see HashRecoveryCode).
const (
	recoveryAlphabet = "23456789abcdefghjkmnpqrstuvwxyz"
	recoveryLen      = 16
	recoveryGroup    = 4
)

// ErrRecoveryCodeFormat is returned by NormalizeRecoveryCode for input
// that cannot be a recovery code.
var ErrRecoveryCodeFormat = errors.New("recovery code: it has 16 letters and digits, like 7kqm-x3dp-hv9c-tr2a")

// NewRecoveryCodes returns n new codes, in display form. Show them to the
// user once and store only their HashRecoveryCode.
func NewRecoveryCodes(n int) ([]string, error) {
	if n < 0 || n > 100 {
		return nil, errors.New("totp: recovery code count out of range")
	}
	codes := make([]string, n)
	for i := range codes {
		raw := make([]byte, recoveryLen)
		for j := range raw {
			raw[j] = recoveryAlphabet[randIndex(len(recoveryAlphabet))]
		}
		codes[i] = group(string(raw))
	}
	return codes, nil
}

// randIndex is uniform in [0, n) for n <= 256: bytes that would bias the
// result are thrown away.
func randIndex(n int) int {
	limit := 256 - 256%n
	var b [1]byte
	for {
		rand.Read(b[:])
		if int(b[0]) < limit {
			return int(b[0]) % n
		}
	}
}

func group(raw string) string {
	var b strings.Builder
	for i := 0; i < len(raw); i += recoveryGroup {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(raw[i:min(i+recoveryGroup, len(raw))])
	}
	return b.String()
}

// compact lower-cases s and drops separators: spaces, hyphens and the
// like.
func compact(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '\t', '\u00a0', '\u202f', '_', '.':
			return -1
		}
		if r >= 'A' && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, s)
}

// NormalizeRecoveryCode returns the display form of a typed code:
// lower-case, grouped with hyphens, whatever spaces, hyphens or capitals
// were typed. It refuses input that is not 16 characters of the
// alphabet, so a form can say so before any lookup.
func NormalizeRecoveryCode(s string) (string, error) {
	c := compact(s)
	if len(c) != recoveryLen {
		return "", ErrRecoveryCodeFormat
	}
	for i := 0; i < len(c); i++ {
		if strings.IndexByte(recoveryAlphabet, c[i]) < 0 {
			return "", ErrRecoveryCodeFormat
		}
	}
	return group(c), nil
}

// HashRecoveryCode is the hex SHA-256 of the code with case and
// separators removed, for storing and for lookup. A fast hash is enough
// here, unlike for passwords, because the codes are random rather than
// chosen by people: at 79 bits, an attacker with a copy of the database
// who tries ten billion SHA-256 a second (one fast GPU) against ten
// thousand stored codes at once still needs about a century on average
// to find any one of them, and a found code is only a second factor. A
// slow hash would cost every recovery login and buy little. Unsalted for
// the same reason, and so that a login can find the code by its hash.
func HashRecoveryCode(code string) string {
	sum := sha256.Sum256([]byte(compact(code)))
	return hex.EncodeToString(sum[:])
}
