package identity_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"clinicbox/appliance/identity"
)

func newToken(t *testing.T, h *harness, kind identity.TokenKind, userID uint64, ttl time.Duration) string {
	t.Helper()
	tok, err := h.ids.NewToken(kind, userID, ttl)
	if err != nil {
		t.Fatalf("NewToken: %v", err)
	}
	return tok
}

func TestTokenSingleUse(t *testing.T) {
	h := newHarness(t)
	u := h.create(identity.RoleStaff, "Vera Vald", "vera@example.se")
	tok := newToken(t, h, identity.TokenSetup, u.ID, 24*time.Hour)
	if len(tok) != 43 || strings.ContainsAny(tok, "+/=") {
		t.Errorf("token %q: want 43 characters of URL-safe base64", tok)
	}
	if other := newToken(t, h, identity.TokenSetup, u.ID, 24*time.Hour); other == tok {
		t.Error("two links with the same token")
	}

	for i := 0; i < 2; i++ { // peeking does not spend
		got, err := h.ids.PeekToken(identity.TokenSetup, tok)
		if err != nil {
			t.Fatalf("PeekToken #%d: %v", i+1, err)
		}
		if got.Kind != identity.TokenSetup || got.UserID != u.ID || !got.ExpiresAt.Equal(t0.Add(24*time.Hour)) || !got.UsedAt.IsZero() {
			t.Errorf("PeekToken = %+v", got)
		}
	}
	h.clock.Advance(time.Hour)
	used, err := h.ids.UseToken(identity.TokenSetup, tok)
	if err != nil {
		t.Fatalf("UseToken: %v", err)
	}
	if used.UserID != u.ID || used.Kind != identity.TokenSetup || !used.UsedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("UseToken = %+v", used)
	}
	if _, err := h.ids.UseToken(identity.TokenSetup, tok); !errors.Is(err, identity.ErrTokenUsed) {
		t.Errorf("second UseToken = %v, want ErrTokenUsed", err)
	}
	if _, err := h.ids.PeekToken(identity.TokenSetup, tok); !errors.Is(err, identity.ErrTokenUsed) {
		t.Errorf("PeekToken after use = %v, want ErrTokenUsed", err)
	}
	// Used stays used, also after it would have expired.
	h.clock.Advance(48 * time.Hour)
	if _, err := h.ids.UseToken(identity.TokenSetup, tok); !errors.Is(err, identity.ErrTokenUsed) {
		t.Errorf("UseToken of a used, expired link = %v, want ErrTokenUsed", err)
	}
}

func TestTokenExpiry(t *testing.T) {
	h := newHarness(t)
	u := h.create(identity.RoleClient, "Bo Ek", "bo@example.se")
	setup := newToken(t, h, identity.TokenSetup, u.ID, 24*time.Hour)
	invite := newToken(t, h, identity.TokenInvite, u.ID, 7*24*time.Hour)

	h.clock.Advance(24 * time.Hour) // the last valid instant
	if _, err := h.ids.PeekToken(identity.TokenSetup, setup); err != nil {
		t.Errorf("PeekToken at its expiry instant: %v", err)
	}
	h.clock.Advance(time.Second)
	if _, err := h.ids.PeekToken(identity.TokenSetup, setup); !errors.Is(err, identity.ErrTokenExpired) {
		t.Errorf("PeekToken after expiry = %v, want ErrTokenExpired", err)
	}
	if _, err := h.ids.UseToken(identity.TokenSetup, setup); !errors.Is(err, identity.ErrTokenExpired) {
		t.Errorf("UseToken after expiry = %v, want ErrTokenExpired", err)
	}
	if _, err := h.ids.PeekToken(identity.TokenInvite, invite); err != nil {
		t.Errorf("7-day invitation after a day: %v", err)
	}
	h.clock.Advance(6 * 24 * time.Hour)
	if _, err := h.ids.UseToken(identity.TokenInvite, invite); !errors.Is(err, identity.ErrTokenExpired) {
		t.Errorf("invitation after 7 days and a second = %v, want ErrTokenExpired", err)
	}

	// A token with no time to live is dead at once.
	h.clock.Advance(time.Nanosecond)
	dead := newToken(t, h, identity.TokenSetup, u.ID, -time.Second)
	if _, err := h.ids.PeekToken(identity.TokenSetup, dead); !errors.Is(err, identity.ErrTokenExpired) {
		t.Errorf("a token with negative ttl: %v", err)
	}
}

func TestTokenInvalid(t *testing.T) {
	h := newHarness(t)
	u := h.create(identity.RoleClient, "Bo Ek", "bo@example.se")
	tok := newToken(t, h, identity.TokenSetup, u.ID, time.Hour)

	// The wrong kind is refused and does not spend the link.
	if _, err := h.ids.PeekToken(identity.TokenInvite, tok); !errors.Is(err, identity.ErrTokenInvalid) {
		t.Errorf("PeekToken with the wrong kind = %v, want ErrTokenInvalid", err)
	}
	if _, err := h.ids.UseToken(identity.TokenInvite, tok); !errors.Is(err, identity.ErrTokenInvalid) {
		t.Errorf("UseToken with the wrong kind = %v, want ErrTokenInvalid", err)
	}
	if _, err := h.ids.UseToken(identity.TokenKind("setup "), tok); !errors.Is(err, identity.ErrTokenInvalid) {
		t.Errorf("UseToken with a made-up kind = %v, want ErrTokenInvalid", err)
	}
	if _, err := h.ids.PeekToken(identity.TokenSetup, tok); err != nil {
		t.Errorf("the link after wrong-kind attempts: %v", err)
	}

	flipped := []byte(tok)
	if flipped[10] == 'A' {
		flipped[10] = 'B'
	} else {
		flipped[10] = 'A'
	}
	for _, junk := range []string{
		"", "abc", tok[:42], tok + "x", tok + tok, strings.Repeat("A", 43),
		string(flipped), strings.ToUpper(tok[:1]) + tok[1:] + "", " " + tok[1:],
	} {
		if junk == tok {
			continue
		}
		if _, err := h.ids.PeekToken(identity.TokenSetup, junk); !errors.Is(err, identity.ErrTokenInvalid) {
			t.Errorf("PeekToken(%q) = %v, want ErrTokenInvalid", junk, err)
		}
		if _, err := h.ids.UseToken(identity.TokenSetup, junk); !errors.Is(err, identity.ErrTokenInvalid) {
			t.Errorf("UseToken(%q) = %v, want ErrTokenInvalid", junk, err)
		}
	}
	if _, err := h.ids.UseToken(identity.TokenSetup, tok); err != nil {
		t.Errorf("the real link after junk: %v", err)
	}
}

func TestNewTokenUnknownUser(t *testing.T) {
	h := newHarness(t)
	if _, err := h.ids.NewToken(identity.TokenSetup, 42, time.Hour); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("NewToken for an unknown user = %v, want ErrNotFound", err)
	}
	if n := h.countKeys("tokens", nil); n != 0 {
		t.Errorf("%d tokens stored", n)
	}
}

func TestTokensStoredHashed(t *testing.T) {
	h := newHarness(t)
	u := h.create(identity.RoleClient, "Bo Ek", "bo@example.se")
	var toks []string
	for range 5 {
		toks = append(toks, newToken(t, h, identity.TokenInvite, u.ID, time.Hour))
	}
	if _, err := h.ids.UseToken(identity.TokenInvite, toks[0]); err != nil {
		t.Fatal(err)
	}
	h.close()
	file := h.dbFile()
	for _, tok := range toks {
		if bytes.Contains(file, []byte(tok)) {
			t.Errorf("token %q is in the database file in plaintext", tok)
		}
		sum := sha256.Sum256([]byte(tok))
		if !bytes.Contains(file, sum[:]) {
			t.Errorf("the SHA-256 of token %q is not in the database file", tok)
		}
	}
}

func TestUseTokenConcurrentlyOnlyOnce(t *testing.T) {
	h := newHarness(t)
	u := h.create(identity.RoleClient, "Bo Ek", "bo@example.se")
	tok := newToken(t, h, identity.TokenInvite, u.ID, time.Hour)
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = h.ids.UseToken(identity.TokenInvite, tok) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, identity.ErrTokenUsed):
			t.Errorf("UseToken: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d concurrent uses succeeded, want exactly 1", ok)
	}
}
