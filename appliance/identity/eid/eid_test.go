package eid_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"clinicbox/appliance/identity/eid"
	"clinicbox/appliance/identity/personnummer"
	"clinicbox/internal/oidctest"
)

const (
	goodPnr    = "199001012385"
	badPnr     = "199001012380" // wrong check digit
	redirect   = "https://box.test/login/eid/callback"
	passphrase = "rätt lösenord"
)

var people = []oidctest.Person{
	{Username: "anna", Password: passphrase, GivenName: "Anna", FamilyName: "Svensson", Personnummer: goodPnr},
	{Username: "bad", Password: passphrase, GivenName: "Bad", FamilyName: "Number", Personnummer: badPnr},
	{Username: "none", Password: passphrase, GivenName: "No", FamilyName: "Number"},
}

type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

type setup struct {
	p     *oidctest.Provider
	c     *eid.Client
	clock *clock
}

func newSetup(t *testing.T, inIDToken bool) setup {
	t.Helper()
	p := oidctest.Start(t, oidctest.Options{ClaimsInIDToken: inIDToken, People: people})
	p.AllowRedirect(redirect)
	key := make([]byte, 32)
	rand.Read(key)
	clk := &clock{}
	c, err := eid.New(eid.Config{Issuer: p.Issuer, ClientID: p.ClientID, ClientSecret: p.ClientSecret,
		Scopes: []string{"openid", "profile"}, PnrClaim: "https://id.oidc.se/claim/personalIdentityNumber", NameClaim: "name",
		Roots: p.Roots, FlowKey: key, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return setup{p, c, clk}
}

// login runs Begin, the provider's form as user, and returns the flow
// cookie and the callback's query.
func (s setup) login(t *testing.T, user string) (string, url.Values) {
	t.Helper()
	authURL, flow, err := s.c.Begin(context.Background(), eid.Start{RedirectURI: redirect, Invite: "inv", Next: "/x", Lang: "sv"})
	if err != nil {
		t.Fatal(err)
	}
	back, err := s.p.SignIn(s.p.Client(nil), authURL, user, passphrase)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(back)
	if err != nil || !strings.HasPrefix(back, redirect+"?") {
		t.Fatalf("provider sent the browser to %q", back)
	}
	return flow, u.Query()
}

func TestLogin(t *testing.T) {
	for _, inIDToken := range []bool{true, false} {
		name := "claims in userinfo"
		if inIDToken {
			name = "claims in ID token"
		}
		t.Run(name, func(t *testing.T) {
			s := newSetup(t, inIDToken)
			flow, q := s.login(t, "anna")
			res, err := s.c.Complete(context.Background(), flow, q)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := personnummer.Parse(goodPnr, time.Now())
			if res.Personnummer != want || res.Name != "Anna Svensson" || res.Invite != "inv" || res.Next != "/x" {
				t.Fatalf("result %+v", res)
			}
			// The same answer again: refused before the broker is asked.
			if _, err := s.c.Complete(context.Background(), flow, q); !errors.Is(err, eid.ErrReplayed) {
				t.Fatalf("replay: %v", err)
			}
		})
	}
}

func TestAuthorizationRequest(t *testing.T) {
	s := newSetup(t, true)
	authURL, flow, err := s.c.Begin(context.Background(), eid.Start{RedirectURI: redirect, Lang: "en"})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(authURL)
	q := u.Query()
	if !strings.HasPrefix(authURL, s.p.Issuer+"/authorize?") || q.Get("response_type") != "code" || q.Get("client_id") != s.p.ClientID ||
		q.Get("redirect_uri") != redirect || q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 ||
		len(q.Get("state")) < 43 || len(q.Get("nonce")) < 43 || q.Get("ui_locales") != "en" || !strings.Contains(q.Get("scope"), "openid") {
		t.Fatalf("authorization URL %s", authURL)
	}
	// The cookie is sealed: neither state nor nonce shows, and it cannot be
	// altered.
	if strings.Contains(flow, q.Get("state")) || strings.Contains(flow, q.Get("nonce")) {
		t.Fatal("the flow cookie shows its secrets")
	}
	b, _ := base64.RawURLEncoding.DecodeString(flow)
	b[len(b)/2] ^= 1
	if _, err := s.c.Complete(context.Background(), base64.RawURLEncoding.EncodeToString(b), url.Values{"state": {q.Get("state")}, "code": {"x"}}); !errors.Is(err, eid.ErrNoFlow) {
		t.Fatalf("altered cookie: %v", err)
	}
}

func TestFlowProblems(t *testing.T) {
	s := newSetup(t, true)
	ctx := context.Background()

	flow, q := s.login(t, "anna")
	if _, err := s.c.Complete(ctx, "", q); !errors.Is(err, eid.ErrNoFlow) {
		t.Fatalf("no cookie: %v", err)
	}
	wrong := url.Values{"code": q["code"], "state": {"not-the-state"}}
	if _, err := s.c.Complete(ctx, flow, wrong); !errors.Is(err, eid.ErrStateMismatch) {
		t.Fatalf("wrong state: %v", err)
	}
	// Another browser's answer, with this browser's cookie.
	flow2, q2 := s.login(t, "anna")
	if _, err := s.c.Complete(ctx, flow2, q); !errors.Is(err, eid.ErrStateMismatch) {
		t.Fatalf("answer of another login: %v", err)
	}
	// The wrong-state attempts did not spend the flows.
	if _, err := s.c.Complete(ctx, flow2, q2); err != nil {
		t.Fatalf("after the mismatches: %v", err)
	}

	flow, q = s.login(t, "anna")
	s.clock.Advance(eid.FlowTTL + time.Second)
	if _, err := s.c.Complete(ctx, flow, q); !errors.Is(err, eid.ErrExpired) {
		t.Fatalf("late answer: %v", err)
	}
}

func TestProviderError(t *testing.T) {
	s := newSetup(t, true)
	authURL, flow, err := s.c.Begin(context.Background(), eid.Start{RedirectURI: redirect, Invite: "inv"})
	if err != nil {
		t.Fatal(err)
	}
	back, err := s.p.Cancel(s.p.Client(nil), authURL)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(back)
	res, err := s.c.Complete(context.Background(), flow, u.Query())
	var pe *eid.ProviderError
	if !errors.As(err, &pe) || pe.Code != "access_denied" || !pe.Cancelled() {
		t.Fatalf("cancel: %v (from %s)", err, back)
	}
	if res.Invite != "inv" || !res.Personnummer.IsZero() {
		t.Fatalf("result of a cancel: %+v", res)
	}
	// Garbage in the error parameter does not reach a log line.
	authURL, flow, _ = s.c.Begin(context.Background(), eid.Start{RedirectURI: redirect})
	u, _ = url.Parse(authURL)
	_, err = s.c.Complete(context.Background(), flow, url.Values{"state": {u.Query().Get("state")}, "error": {"<script>\n"}})
	if !errors.As(err, &pe) || pe.Code != "other" {
		t.Fatalf("odd error code: %v", err)
	}
}

func TestTokensThatMustBeRefused(t *testing.T) {
	s := newSetup(t, true)
	// A genuine token of this provider, but for another client.
	s.p.AddClient("other-app", "other-secret", "https://other.example/cb")
	otherAudience, err := s.p.IDToken("other-app", "other-secret", "https://other.example/cb", "anna", passphrase)
	if err != nil {
		t.Fatal(err)
	}
	// A genuine token for this client id, from another provider.
	other := oidctest.Start(t, oidctest.Options{ClientID: s.p.ClientID, ClaimsInIDToken: true, People: people})
	other.AllowRedirect(redirect)
	otherIssuer, err := other.IDToken(other.ClientID, other.ClientSecret, redirect, "anna", passphrase)
	if err != nil {
		t.Fatal(err)
	}
	// A genuine token for this client from this provider, but of another
	// login (its nonce is not this login's).
	otherLogin, err := s.p.IDToken(s.p.ClientID, s.p.ClientSecret, redirect, "anna", passphrase)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		rewrite func(string) string
		why     string
	}{
		{"another audience", func(string) string { return otherAudience }, "audience"},
		{"another issuer", func(string) string { return otherIssuer }, "issuer"},
		{"another login", func(string) string { return otherLogin }, "nonce"},
		{"tampered claims", func(tok string) string {
			parts := strings.Split(tok, ".")
			payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
			payload = []byte(strings.Replace(string(payload), goodPnr, "198001012384", 1))
			parts[1] = base64.RawURLEncoding.EncodeToString(payload)
			return strings.Join(parts, ".")
		}, "signature"},
		{"not signed", func(tok string) string {
			parts := strings.Split(tok, ".")
			return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + "."
		}, "signature algorithm"},
		{"garbage", func(string) string { return "not.a.token" }, "malformed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			flow, q := s.login(t, "anna")
			s.p.RewriteNextIDToken(c.rewrite)
			res, err := s.c.Complete(context.Background(), flow, q)
			if !errors.Is(err, eid.ErrVerify) || !strings.Contains(err.Error(), c.why) || !res.Personnummer.IsZero() {
				t.Fatalf("got %v, %+v; want a verification error about %s", err, res, c.why)
			}
		})
	}
}

func TestClaimProblems(t *testing.T) {
	for _, inIDToken := range []bool{true, false} {
		s := newSetup(t, inIDToken)
		flow, q := s.login(t, "bad")
		_, err := s.c.Complete(context.Background(), flow, q)
		if !errors.Is(err, eid.ErrPersonnummer) || !errors.Is(err, personnummer.ErrChecksum) {
			t.Fatalf("invalid number (in ID token %v): %v", inIDToken, err)
		}
		if strings.Contains(err.Error(), badPnr) || strings.Contains(err.Error(), badPnr[2:]) {
			t.Fatalf("the error shows the number: %v", err)
		}
		flow, q = s.login(t, "none")
		if _, err := s.c.Complete(context.Background(), flow, q); !errors.Is(err, eid.ErrClaimsMissing) {
			t.Fatalf("no number (in ID token %v): %v", inIDToken, err)
		}
	}
}

func TestBrokerDown(t *testing.T) {
	s := newSetup(t, true)
	s.p.SetDown(true)
	ctx := context.Background()
	if err := s.c.Discover(ctx); !errors.Is(err, eid.ErrUnavailable) {
		t.Fatalf("discovery of a broker that is down: %v", err)
	}
	if s.c.Available() {
		t.Fatal("available while down")
	}
	s.p.SetDown(false)
	// Not asked again at once…
	if _, _, err := s.c.Begin(ctx, eid.Start{RedirectURI: redirect}); !errors.Is(err, eid.ErrUnavailable) {
		t.Fatalf("right after a failure: %v", err)
	}
	// …but after RetryAfter.
	s.clock.Advance(eid.RetryAfter + time.Second)
	if _, _, err := s.c.Begin(ctx, eid.Start{RedirectURI: redirect}); err != nil {
		t.Fatalf("after the broker came back: %v", err)
	}
	if !s.c.Available() {
		t.Fatal("not available after it answered")
	}
}

func TestNewChecksConfig(t *testing.T) {
	key := make([]byte, 32)
	ok := eid.Config{Issuer: "https://broker.example", ClientID: "c", ClientSecret: "s", PnrClaim: "ssn", NameClaim: "name", FlowKey: key}
	if _, err := eid.New(ok); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*eid.Config){
		"http issuer":  func(c *eid.Config) { c.Issuer = "http://broker.example" },
		"no secret":    func(c *eid.Config) { c.ClientSecret = "" },
		"no pnr claim": func(c *eid.Config) { c.PnrClaim = "" },
		"short key":    func(c *eid.Config) { c.FlowKey = key[:16] },
	} {
		c := ok
		mod(&c)
		if _, err := eid.New(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
