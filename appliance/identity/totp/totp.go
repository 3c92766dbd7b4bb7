// Package totp implements time-based one-time passwords (RFC 6238) as
// authenticator apps support them: HMAC-SHA-1, six digits, 30-second
// steps, a 160-bit secret shown as base32 or as an otpauth:// URI (which
// the enrolment page turns into a QR code). It also makes and hashes the
// recovery codes that stand in for a lost phone.
//
// Replay protection is the caller's half of the bargain: store the step
// Validate returns and pass it back as lastUsedStep next time, so a code
// seen over someone's shoulder cannot be used again, not even within its
// own 90-second window.
package totp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"net/url"
	"strings"
	"time"
)

const (
	// Digits is the length of a code.
	Digits = 6
	// Period is the length of a time step.
	Period = 30 * time.Second
	// SecretSize is the length of a new secret in bytes: 160 bits, the
	// size of an HMAC-SHA-1 output, as RFC 4226 recommends.
	SecretSize = 20
	// Skew is how many steps before and after the current one Validate
	// accepts, for phones whose clocks drift.
	Skew = 1
)

// NewSecret returns SecretSize random bytes. The error is always nil
// (crypto/rand does not fail since Go 1.24) and kept for callers that
// may one day use another source.
func NewSecret() ([]byte, error) {
	s := make([]byte, SecretSize)
	rand.Read(s)
	return s, nil
}

// b32 is RFC 4648 base32 without padding: what authenticator apps accept
// and what people type.
func b32() *base32.Encoding { return base32.StdEncoding.WithPadding(base32.NoPadding) }

// Base32 is the secret as authenticator apps want it typed: upper-case
// RFC 4648 base32 without padding.
func Base32(secret []byte) string { return b32().EncodeToString(secret) }

// URI is the otpauth:// URI of Google Authenticator's key-URI format,
// the content of the enrolment QR code:
//
//	otpauth://totp/Issuer:account?secret=...&issuer=Issuer&algorithm=SHA1&digits=6&period=30
//
// issuer and account are escaped. A colon in the issuer would end the
// label's issuer part, so it is dropped there (the issuer parameter keeps
// it); '+' is escaped because some apps read it as a space.
func URI(issuer, account string, secret []byte) string {
	esc := func(s string) string {
		s = url.PathEscape(s)
		return strings.NewReplacer("+", "%2B", ":", "%3A").Replace(s)
	}
	label := esc(strings.ReplaceAll(issuer, ":", "")) + ":" + esc(account)
	q := url.Values{}
	q.Set("secret", Base32(secret))
	q.Set("issuer", issuer)
	q.Set("algorithm", "SHA1")
	q.Set("digits", "6")
	q.Set("period", "30")
	// url.Values.Encode writes '+' for a space, which some apps show
	// literally; %20 is read right by all.
	return "otpauth://totp/" + label + "?" + strings.ReplaceAll(q.Encode(), "+", "%20")
}

// Step is the number of the time step t falls in: whole periods since
// the Unix epoch.
func Step(t time.Time) int64 {
	s := t.Unix()
	p := int64(Period / time.Second)
	if s < 0 {
		return (s - p + 1) / p
	}
	return s / p
}

// Code is the code for t.
func Code(secret []byte, t time.Time) string {
	return code(secret, Step(t), Digits)
}

// code is RFC 4226's HOTP: HMAC-SHA-1 of the big-endian counter,
// dynamically truncated to 31 bits, the last digits digits of it in
// decimal.
func code(secret []byte, counter int64, digits int) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(counter))
	m := hmac.New(sha1.New, secret)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	out := make([]byte, digits)
	for i := digits - 1; i >= 0; i-- {
		out[i] = byte('0' + v%10)
		v /= 10
	}
	return string(out)
}

// Validate checks a code typed at time t. It accepts the codes of the
// current step and of Skew steps either side, except any step at or
// before lastUsedStep (pass 0 before the first use), and returns the step
// that matched, for the caller to store as the new lastUsedStep. Spaces
// and hyphens in code are ignored ("123 456" is fine).
func Validate(secret []byte, code string, t time.Time, lastUsedStep int64) (step int64, ok bool) {
	return validate(secret, code, t, lastUsedStep, Digits)
}

func validate(secret []byte, input string, t time.Time, lastUsedStep int64, digits int) (int64, bool) {
	c := normalize(input)
	if len(c) != digits {
		return 0, false
	}
	for i := 0; i < len(c); i++ {
		if c[i] < '0' || c[i] > '9' {
			return 0, false
		}
	}
	now := Step(t)
	var matched int64
	found := false
	// Every candidate is computed and compared in constant time, so the
	// time taken does not tell which step matched.
	for s := now - Skew; s <= now+Skew; s++ {
		eq := hmac.Equal([]byte(code(secret, s, digits)), []byte(c))
		if eq && s > lastUsedStep && !found {
			matched, found = s, true
		}
	}
	return matched, found
}

// normalize drops the spaces and hyphens people and apps put in codes.
func normalize(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '\t', '\u00a0', '\u202f':
			return -1
		}
		return r
	}, s)
}
