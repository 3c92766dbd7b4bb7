package totp

import (
	"errors"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// RFC 6238's and RFC 4226's test secret.
var rfcSecret = []byte("12345678901234567890")

// TestRFC6238 uses the SHA-1 rows of RFC 6238 appendix B (8 digits).
func TestRFC6238(t *testing.T) {
	tests := []struct {
		unix int64
		code string
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
		{20000000000, "65353130"},
	}
	for _, tt := range tests {
		tm := time.Unix(tt.unix, 0)
		if got := code(rfcSecret, Step(tm), 8); got != tt.code {
			t.Errorf("T=%d: code %s, want %s", tt.unix, got, tt.code)
		}
		if got := Code(rfcSecret, tm); got != tt.code[2:] {
			t.Errorf("T=%d: Code %s, want %s", tt.unix, got, tt.code[2:])
		}
		if step, ok := validate(rfcSecret, tt.code, tm, 0, 8); !ok || step != Step(tm) {
			t.Errorf("T=%d: validate = %d, %v", tt.unix, step, ok)
		}
	}
}

// TestRFC4226 uses the HOTP values of RFC 4226 appendix D.
func TestRFC4226(t *testing.T) {
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	for i, w := range want {
		if got := code(rfcSecret, int64(i), 6); got != w {
			t.Errorf("counter %d: %s, want %s", i, got, w)
		}
	}
}

func TestStep(t *testing.T) {
	for _, tt := range []struct {
		unix int64
		step int64
	}{{0, 0}, {29, 0}, {30, 1}, {59, 1}, {-1, -1}, {-30, -1}, {-31, -2}} {
		if got := Step(time.Unix(tt.unix, 0)); got != tt.step {
			t.Errorf("Step(%d) = %d, want %d", tt.unix, got, tt.step)
		}
	}
}

func TestValidate(t *testing.T) {
	secret, _ := NewSecret()
	now := time.Unix(1_800_000_015, 0) // mid-step
	cur := Step(now)
	at := func(steps int64) string { return Code(secret, now.Add(time.Duration(steps)*Period)) }

	tests := []struct {
		name   string
		code   string
		last   int64
		ok     bool
		step   int64
		at     time.Time
		secret []byte
	}{
		{name: "current", code: at(0), ok: true, step: cur},
		{name: "previous step", code: at(-1), ok: true, step: cur - 1},
		{name: "next step", code: at(1), ok: true, step: cur + 1},
		{name: "two steps old", code: at(-2)},
		{name: "two steps ahead", code: at(2)},
		{name: "with spaces", code: at(0)[:3] + " " + at(0)[3:], ok: true, step: cur},
		{name: "surrounding spaces", code: " " + at(0) + "\t", ok: true, step: cur},
		{name: "hyphen", code: at(0)[:3] + "-" + at(0)[3:], ok: true, step: cur},
		{name: "replayed", code: at(0), last: cur},
		{name: "earlier step after later use", code: at(-1), last: cur},
		{name: "used previous, current ok", code: at(0), last: cur - 1, ok: true, step: cur},
		{name: "empty", code: ""},
		{name: "five digits", code: at(0)[:5]},
		{name: "seven digits", code: at(0) + "0"},
		{name: "letters", code: "12a456"},
		{name: "full-width digits", code: "１２３４５６"},
		{name: "wrong secret", code: at(0), secret: []byte("another secret of 20")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := secret
			if tt.secret != nil {
				s = tt.secret
			}
			step, ok := Validate(s, tt.code, now, tt.last)
			if ok != tt.ok || (ok && step != tt.step) {
				t.Errorf("Validate(%q, last %d) = %d, %v; want %d, %v", tt.code, tt.last, step, ok, tt.step, tt.ok)
			}
		})
	}
}

func TestSecretAndURI(t *testing.T) {
	s1, err := NewSecret()
	if err != nil || len(s1) != 20 {
		t.Fatalf("NewSecret = %x, %v", s1, err)
	}
	s2, _ := NewSecret()
	if string(s1) == string(s2) {
		t.Fatal("two secrets are equal")
	}
	if got := Base32(rfcSecret); got != "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" {
		t.Errorf("Base32 = %s", got)
	}
	if got := Base32([]byte{1, 2, 3}); strings.Contains(got, "=") {
		t.Errorf("Base32 padded: %s", got)
	}

	u := URI("Vårdcentralen Norr: Ö", "anna.svensson+x@example.se", rfcSecret)
	if want := "otpauth://totp/V%C3%A5rdcentralen%20Norr%20%C3%96:anna.svensson%2Bx@example.se?"; !strings.HasPrefix(u, want) {
		t.Errorf("URI = %s, want prefix %s", u, want)
	}
	if !strings.HasPrefix(u, "otpauth://totp/") || strings.Contains(u, " ") || strings.Contains(u, "+") {
		t.Fatalf("URI = %s", u)
	}
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	if p.Scheme != "otpauth" || p.Host != "totp" {
		t.Errorf("scheme/host %q %q", p.Scheme, p.Host)
	}
	if want := "/Vårdcentralen Norr Ö:anna.svensson+x@example.se"; p.Path != want {
		t.Errorf("label %q, want %q", p.Path, want)
	}
	q := p.Query()
	for k, v := range map[string]string{"secret": Base32(rfcSecret), "issuer": "Vårdcentralen Norr: Ö", "algorithm": "SHA1", "digits": "6", "period": "30"} {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
}

func TestRecoveryCodes(t *testing.T) {
	codes, err := NewRecoveryCodes(10)
	if err != nil || len(codes) != 10 {
		t.Fatalf("NewRecoveryCodes = %v, %v", codes, err)
	}
	re := regexp.MustCompile(`^[2-9a-hjkmnp-z]{4}(-[2-9a-hjkmnp-z]{4}){3}$`)
	seen := map[string]bool{}
	for _, c := range codes {
		if !re.MatchString(c) {
			t.Errorf("code %q", c)
		}
		if seen[c] {
			t.Errorf("duplicate %q", c)
		}
		seen[c] = true
		n, err := NormalizeRecoveryCode(c)
		if err != nil || n != c {
			t.Errorf("NormalizeRecoveryCode(%q) = %q, %v", c, n, err)
		}
	}
	if _, err := NewRecoveryCodes(-1); err == nil {
		t.Error("NewRecoveryCodes(-1) succeeded")
	}
	if c, _ := NewRecoveryCodes(0); len(c) != 0 {
		t.Error("NewRecoveryCodes(0)")
	}
}

func TestNormalizeAndHashRecoveryCode(t *testing.T) {
	const canon = "7kqm-x3dp-hv9c-tr2a"
	want := HashRecoveryCode(canon)
	if len(want) != 64 {
		t.Fatalf("hash %q", want)
	}
	for _, in := range []string{canon, "7KQM-X3DP-HV9C-TR2A", "7kqmx3dphv9ctr2a", " 7kqm x3dp hv9c tr2a ", "7kqm_x3dp.hv9c-tr2a"} {
		n, err := NormalizeRecoveryCode(in)
		if err != nil || n != canon {
			t.Errorf("NormalizeRecoveryCode(%q) = %q, %v", in, n, err)
		}
		if got := HashRecoveryCode(in); got != want {
			t.Errorf("HashRecoveryCode(%q) differs", in)
		}
	}
	for _, in := range []string{"", "7kqm-x3dp-hv9c", "7kqm-x3dp-hv9c-tr2a-aaaa", "0kqm-x3dp-hv9c-tr2a", "lkqm-x3dp-hv9c-tr2a", "7kqm-x3dp-hv9c-tr2å"} {
		if _, err := NormalizeRecoveryCode(in); !errors.Is(err, ErrRecoveryCodeFormat) {
			t.Errorf("NormalizeRecoveryCode(%q) error %v", in, err)
		}
	}
	if HashRecoveryCode("7kqm-x3dp-hv9c-tr2b") == want {
		t.Error("different codes, same hash")
	}
}

func FuzzValidate(f *testing.F) {
	f.Add("123456", int64(1_800_000_000), int64(0))
	f.Add(" 123 456 ", int64(-5), int64(-100))
	f.Add("１２３４５６", int64(0), int64(0))
	f.Fuzz(func(t *testing.T, c string, unix, last int64) {
		tm := time.Unix(unix, 0)
		step, ok := Validate(rfcSecret, c, tm, last)
		if ok && (step <= last || step < Step(tm)-Skew || step > Step(tm)+Skew) {
			t.Fatalf("Validate(%q, %d, %d) = %d", c, unix, last, step)
		}
		if ok && Code(rfcSecret, time.Unix(step*30, 0)) != normalize(c) {
			t.Fatalf("accepted %q for step %d", c, step)
		}
	})
}

func FuzzNormalizeRecoveryCode(f *testing.F) {
	f.Add("7kqm-x3dp-hv9c-tr2a")
	f.Add(" 7KQM X3DP HV9C TR2A ")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		n, err := NormalizeRecoveryCode(s)
		if err != nil {
			return
		}
		again, err := NormalizeRecoveryCode(n)
		if err != nil || again != n || HashRecoveryCode(n) != HashRecoveryCode(s) {
			t.Fatalf("%q → %q → %q, %v", s, n, again, err)
		}
	})
}
