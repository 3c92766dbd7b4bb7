package password

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// From the reference implementation's command-line tool (Debian's argon2
// package): echo -n PW | argon2 SALT -id -t T -m 16 -p 1 -l 32 -e
const (
	refOldParams = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"            // "password", "somesalt"
	refCurrent   = "$argon2id$v=19$m=65536,t=1,p=1$Y2xpbmljYm94c2FsdDE2Yg$Pi3u55EA7ZZizdyIlVde53scvQ0RLBVCKPMZ5BgdN2o" // "correct horse battery staple", "clinicboxsalt16b"
)

func TestHashVerify(t *testing.T) {
	pw := "correct horse battery staple"
	h1, err := Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\$argon2id\$v=19\$m=65536,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`).MatchString(h1) {
		t.Fatalf("Hash = %q", h1)
	}
	h2, _ := Hash(pw)
	if h1 == h2 {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
	ok, rehash, err := Verify(pw, h1)
	if !ok || rehash || err != nil {
		t.Fatalf("Verify(right) = %v, %v, %v", ok, rehash, err)
	}
	for _, wrong := range []string{"", "correct horse battery stapl", "Correct horse battery staple", pw + " "} {
		if ok, _, err := Verify(wrong, h1); ok || err != nil {
			t.Errorf("Verify(%q) = %v, %v", wrong, ok, err)
		}
	}
	if _, err := Hash(strings.Repeat("x", MaxBytes+1)); !errors.Is(err, ErrTooLong) {
		t.Errorf("Hash(too long) error = %v", err)
	}
	if _, err := Hash(strings.Repeat("x", MaxBytes)); err != nil {
		t.Errorf("Hash(MaxBytes) error = %v", err)
	}
}

func TestVerifyReference(t *testing.T) {
	tests := []struct {
		pw, enc    string
		ok, rehash bool
	}{
		{"password", refOldParams, true, true},
		{"passwore", refOldParams, false, false},
		{"correct horse battery staple", refCurrent, true, false},
		{"correct horse battery staplE", refCurrent, false, false},
	}
	for _, tt := range tests {
		ok, rehash, err := Verify(tt.pw, tt.enc)
		if err != nil || ok != tt.ok || rehash != tt.rehash {
			t.Errorf("Verify(%q, %q) = %v, %v, %v; want %v, %v", tt.pw, tt.enc, ok, rehash, err, tt.ok, tt.rehash)
		}
	}
}

func TestNeedsRehash(t *testing.T) {
	c := current()
	for _, p := range []params{
		{memory: 8 * 1024, passes: 1, lanes: 1, saltLen: 16, keyLen: 32},
		{memory: c.memory, passes: 2, lanes: 1, saltLen: 16, keyLen: 32},
		{memory: c.memory, passes: 1, lanes: 2, saltLen: 16, keyLen: 32},
		{memory: c.memory, passes: 1, lanes: 1, saltLen: 8, keyLen: 32},
		{memory: c.memory, passes: 1, lanes: 1, saltLen: 16, keyLen: 16},
	} {
		h, err := hashWith("a long enough password", p)
		if err != nil {
			t.Fatal(err)
		}
		ok, rehash, err := Verify("a long enough password", h)
		if !ok || !rehash || err != nil {
			t.Errorf("%+v: Verify = %v, %v, %v; want true, true, nil", p, ok, rehash, err)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	const salt, key = "c29tZXNhbHQ", "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	with := func(params string) string { return "$argon2id$v=19$" + params + "$" + salt + "$" + key }
	bad := []string{
		"",
		"plaintext",
		"$2b$10$abcdefghijklmnopqrstuu5xUHyLNKmSSTXcX8nC0s4bCl5EjY3d.",
		"$argon2i$v=19$m=65536,t=2,p=1$" + salt + "$" + key,
		"$argon2d$v=19$m=65536,t=2,p=1$" + salt + "$" + key,
		"$argon2id$v=16$m=65536,t=2,p=1$" + salt + "$" + key,
		"$argon2id$m=65536,t=2,p=1$" + salt + "$" + key,
		"argon2id$v=19$m=65536,t=2,p=1$" + salt + "$" + key,
		with("m=65536,t=2,p=1") + "$",
		with("t=2,m=65536,p=1"),
		with("m=65536,t=2"),
		with("m=65536,t=2,p=1,keyid=abc"),
		with("m=65536,t=2,p=x"),
		with("m=065536,t=2,p=1"),
		with("m=+65536,t=2,p=1"),
		with("m=-1,t=2,p=1"),
		with("m=,t=2,p=1"),
		with("m=65536,t=0,p=1"),
		with("m=65536,t=11,p=1"),
		with("m=65536,t=2,p=0"),
		with("m=65536,t=2,p=9"),
		with("m=262145,t=2,p=1"),
		with("m=4294967296,t=2,p=1"),
		with("m=99999999999,t=2,p=1"),
		with("m=31,t=1,p=4"),
		"$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ=$" + key,                      // padding
		"$argon2id$v=19$m=65536,t=2,p=1$c29tZXNh$" + key,                          // salt 6 bytes
		"$argon2id$v=19$m=65536,t=2,p=1$" + salt + "$CTFhFdXPJO1aFaMa",            // hash 12 bytes
		"$argon2id$v=19$m=65536,t=2,p=1$" + salt + "$" + key + "QQ",               // impossible base64 length
		"$argon2id$v=19$m=65536,t=2,p=1$" + salt + "$" + key[:42] + "d",           // non-zero trailing bits
		"$argon2id$v=19$m=65536,t=2,p=1$" + salt + "$" + strings.Repeat("A", 300), // too long
		"$argon2id$v=19$m=65536,t=2,p=1$c29t-XNhbHQ$" + key,
		"$argon2id$v=19$m=65536,t=2,p=1$c29tZXNh\nbHQ$" + key,
		"$argon2id$v=19$m=65536,t=2,p=1$" + salt + "$" + key + "\r\n",
	}
	for _, enc := range bad {
		start := time.Now()
		ok, rehash, err := Verify("password", enc)
		if ok || rehash || !errors.Is(err, ErrMalformedHash) {
			t.Errorf("Verify(%q) = %v, %v, %v; want ErrMalformedHash", enc, ok, rehash, err)
		}
		if d := time.Since(start); d > 50*time.Millisecond {
			t.Errorf("Verify(%q) spent %v before refusing", enc, d)
		}
	}
	// The limits themselves are accepted.
	if _, _, _, err := decode(with("m=262144,t=10,p=8")); err != nil {
		t.Errorf("limits refused: %v", err)
	}
}

func TestVerifyLongPassword(t *testing.T) {
	ok, rehash, err := Verify(strings.Repeat("x", MaxBytes+1), refCurrent)
	if ok || rehash || err != nil {
		t.Errorf("Verify(too long) = %v, %v, %v", ok, rehash, err)
	}
}

// TestVerifyDummyCost checks that a login with an unknown address costs
// about what one with a known address does. The bounds are loose so a
// busy CI machine does not make it flaky; the point is to catch a
// VerifyDummy that returns at once or uses other parameters.
func TestVerifyDummyCost(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	h, _ := Hash("correct horse battery staple")
	median := func(f func()) time.Duration {
		var d []time.Duration
		for range 5 {
			start := time.Now()
			f()
			d = append(d, time.Since(start))
		}
		slices.Sort(d)
		return d[2]
	}
	real := median(func() { Verify("wrong password here", h) })
	dummy := median(func() { VerifyDummy("wrong password here") })
	if r := float64(dummy) / float64(real); r < 0.5 || r > 2 {
		t.Errorf("VerifyDummy %v, Verify %v: ratio %.2f", dummy, real, r)
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{refOldParams, refCurrent, "", "$argon2id$v=19$m=1,t=1,p=1$$", "$$$$$"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := decode(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("error %v is not ErrMalformedHash", err)
			}
			return
		}
		if p.memory > maxMemoryKiB || p.passes > maxPasses || p.lanes > maxLanes || p.memory < 8*uint32(p.lanes) {
			t.Fatalf("limits passed: %+v", p)
		}
		// Decoding is strict enough that encoding gives back the input.
		if enc := encode(p, salt, key); enc != s {
			t.Fatalf("decode(%q) then encode = %q", s, enc)
		}
	})
}

func BenchmarkHash(b *testing.B) {
	for b.Loop() {
		if _, err := Hash("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}

func BenchmarkVerify(b *testing.B) {
	h, _ := Hash("correct horse battery staple")
	for b.Loop() {
		Verify("correct horse battery staple", h)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}
