package web

import (
	"bytes"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"clinicbox/appliance/identity"
	"clinicbox/appliance/identity/eid"
	"clinicbox/appliance/identity/personnummer"
	"clinicbox/internal/oidctest"
)

var _ = expect(map[string]string{
	"GET /login/eid":          "public",
	"GET /login/eid/callback": "public",
})

// The people at the test broker. Their numbers pass the Luhn check except
// bad's.
const (
	annaPnr = "199001012385"
	bertPnr = "198512240170"
	eidPass = "broker password"
)

var eidPeople = []oidctest.Person{
	{Username: "anna", Password: eidPass, GivenName: "Anna", FamilyName: "Lind", Personnummer: annaPnr},
	{Username: "bert", Password: eidPass, GivenName: "Bert", FamilyName: "Ek", Personnummer: bertPnr},
	{Username: "cissi", Password: eidPass, GivenName: "Cissi", FamilyName: "Okänd", Personnummer: "200002290005"},
	{Username: "bad", Password: eidPass, GivenName: "Bad", FamilyName: "Number", Personnummer: "199001012380"},
}

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// eidBox is the web server over TLS with eID login at a real OpenID
// provider, and a browser-like client (cookie jar, no automatic
// redirects).
type eidBox struct {
	t      *testing.T
	ids    testIdentity
	p      *oidctest.Provider
	srv    *httptest.Server
	client *http.Client
	logs   *syncBuffer
}

func newEIDBox(t *testing.T, claimsInIDToken bool) *eidBox {
	t.Helper()
	b := &eidBox{t: t, ids: newTestIdentity(t), logs: &syncBuffer{}}
	b.p = oidctest.Start(t, oidctest.Options{ClaimsInIDToken: claimsInIDToken, People: eidPeople})
	key := make([]byte, 32)
	rand.Read(key)
	log := slog.New(slog.NewTextHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	client, err := eid.New(eid.Config{Issuer: b.p.Issuer, ClientID: b.p.ClientID, ClientSecret: b.p.ClientSecret,
		Scopes: []string{"openid", "profile"}, PnrClaim: "https://id.oidc.se/claim/personalIdentityNumber", NameClaim: "name",
		Roots: b.p.Roots, FlowKey: key, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Identity: b.ids.store, Keys: b.ids.keys, EID: client, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	b.srv = httptest.NewTLSServer(s.Handler())
	t.Cleanup(b.srv.Close)
	b.p.AllowRedirect(b.srv.URL + "/login/eid/callback")
	b.newBrowser()
	return b
}

// newBrowser forgets every cookie.
func (b *eidBox) newBrowser() {
	jar, _ := cookiejar.New(nil)
	b.client = b.p.Client(jar)
}

func (b *eidBox) get(path string) (*http.Response, string) {
	b.t.Helper()
	if !strings.HasPrefix(path, "https://") {
		path = b.srv.URL + path
	}
	resp, err := b.client.Get(path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// start opens /login/eid (with query) and returns the broker URL it
// redirects to.
func (b *eidBox) start(query string) string {
	b.t.Helper()
	resp, body := b.get("/login/eid" + query)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), b.p.Issuer+"/authorize?") {
		b.t.Fatalf("/login/eid%s: %d %s %s", query, resp.StatusCode, resp.Header.Get("Location"), body)
	}
	return resp.Header.Get("Location")
}

// loginAs walks the whole flow up to the box's callback URL.
func (b *eidBox) loginAs(user, query string) string {
	b.t.Helper()
	back, err := b.p.SignIn(b.client, b.start(query), user, eidPass)
	if err != nil {
		b.t.Fatal(err)
	}
	if !strings.HasPrefix(back, b.srv.URL+"/login/eid/callback?") {
		b.t.Fatalf("the broker sent the browser to %s", back)
	}
	return back
}

func (b *eidBox) sessionUser() (identity.User, bool) {
	b.t.Helper()
	u, _ := url.Parse(b.srv.URL)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == SessionCookie {
			sess, err := b.ids.store.Session(c.Value)
			if err != nil {
				return identity.User{}, false
			}
			user, err := b.ids.store.User(sess.UserID)
			return user, err == nil && sess.Complete
		}
	}
	return identity.User{}, false
}

func (b *eidBox) linked(pnr string) identity.User {
	b.t.Helper()
	n, _ := personnummer.Parse(pnr, time.Now())
	u, err := b.ids.store.UserByPersonnummer(n)
	if err != nil {
		return identity.User{}
	}
	return u
}

// clientWithPnr makes an active user linked to pnr.
func (b *eidBox) clientWithPnr(role identity.Role, name, pnr string) identity.User {
	b.t.Helper()
	p := identity.Profile{Name: name}
	if role.NeedsSecondFactor() {
		p.Email = strings.ToLower(strings.Fields(name)[0]) + "@example.se"
	}
	u, err := b.ids.store.CreateUser(role, p, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	n, _ := personnummer.Parse(pnr, time.Now())
	if err := b.ids.store.SetPersonnummer(u.ID, n, name); err != nil {
		b.t.Fatal(err)
	}
	if err := b.ids.store.SetStatus(u.ID, identity.StatusActive); err != nil {
		b.t.Fatal(err)
	}
	if err := b.ids.store.AcceptTerms(u.ID, TermsVersion); err != nil {
		b.t.Fatal(err)
	}
	return u
}

// noSecretsLogged checks that nothing personal from eID reached a log.
func (b *eidBox) noSecretsLogged() {
	b.t.Helper()
	logs := b.logs.String()
	for _, p := range eidPeople {
		for _, s := range []string{p.Personnummer, p.Personnummer[2:], p.Personnummer[:8] + "-" + p.Personnummer[8:], p.FamilyName} {
			if strings.Contains(logs, s) {
				b.t.Errorf("the log holds %q:\n%s", s, logs)
			}
		}
	}
}

func TestEIDLoginOfExistingUser(t *testing.T) {
	for _, inIDToken := range []bool{true, false} {
		b := newEIDBox(t, inIDToken)
		anna := b.clientWithPnr(identity.RoleClient, "Anna Lind", annaPnr)
		// Staff log in with eID too, with no TOTP after it (see eid.go).
		bert := b.clientWithPnr(identity.RoleStaff, "Bert Ek", bertPnr)

		_, body := b.get("/login?lang=en")
		if !strings.Contains(body, `id="eid-login"`) || !strings.Contains(body, "Log in with BankID or Freja eID") {
			t.Fatalf("no eID button on the login page:\n%s", body)
		}

		// The flow cookie: short-lived, HttpOnly, Secure, Lax, host-only.
		resp, _ := b.get("/login/eid?next=/start")
		var flow *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == eidCookie {
				flow = c
			}
		}
		if flow == nil || !flow.Secure || !flow.HttpOnly || flow.SameSite != http.SameSiteLaxMode || flow.MaxAge != 600 || flow.Path != "/" || flow.Domain != "" {
			t.Fatalf("flow cookie %+v", flow)
		}

		back := b.loginAs("anna", "?next=/start")
		resp, _ = b.get(back)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/start" {
			t.Fatalf("callback: %d → %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		if u, ok := b.sessionUser(); !ok || u.ID != anna.ID {
			t.Fatalf("session of %d (complete %v), want %d", u.ID, ok, anna.ID)
		}
		if _, body := b.get("/start"); !strings.Contains(body, "Anna Lind") {
			t.Fatalf("start page:\n%s", body)
		}

		// The same answer again, without and with the (copied) flow cookie.
		resp, body = b.get(back)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="eid-problem"`) {
			t.Fatalf("replay without cookie: %d", resp.StatusCode)
		}
		// Bert (staff) logs in in another browser; someone who copied that
		// browser's cookies and the callback URL cannot use them again.
		u, _ := url.Parse(b.srv.URL)
		b.newBrowser()
		back = b.loginAs("bert", "")
		stolen := b.client.Jar.Cookies(u)
		if resp, _ := b.get(back); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("staff eID login: %d", resp.StatusCode)
		}
		if u, ok := b.sessionUser(); !ok || u.ID != bert.ID {
			t.Fatalf("staff session: %d %v", u.ID, ok)
		}
		b.newBrowser()
		b.client.Jar.SetCookies(u, stolen)
		if resp, _ := b.get(back); resp.StatusCode != http.StatusBadRequest || !strings.Contains(b.logs.String(), "reason=replayed") {
			t.Fatalf("replay with the flow cookie: %d", resp.StatusCode)
		}
		if _, ok := b.sessionUser(); ok {
			t.Fatal("a replay made a session")
		}
		if b.p.Logins() != 2 {
			t.Fatalf("%d logins at the broker", b.p.Logins())
		}
		b.noSecretsLogged()
	}
}

func TestEIDInvitation(t *testing.T) {
	b := newEIDBox(t, true)
	invited, err := b.ids.store.CreateUser(identity.RoleClient, identity.Profile{Name: "Typed By Staff"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := b.ids.store.NewToken(identity.TokenInvite, invited.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	// A dead link is refused before the broker.
	if resp, _ := b.get("/login/eid?invite=" + strings.Repeat("x", 43)); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("bad invitation: %d", resp.StatusCode)
	}

	back := b.loginAs("bert", "?invite="+tok)
	resp, _ := b.get(back)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/terms" {
		t.Fatalf("invitation callback: %d → %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	u, ok := b.sessionUser()
	if !ok || u.ID != invited.ID || u.Status != identity.StatusActive || u.Profile.Name != "Bert Ek" || !u.Profile.NameFromEID || u.Profile.Personnummer != bertPnr {
		t.Fatalf("invited user after eID: %+v (session %v)", u, ok)
	}
	if _, err := b.ids.store.PeekToken(identity.TokenInvite, tok); err != identity.ErrTokenUsed {
		t.Fatalf("the invitation is not spent: %v", err)
	}

	// A second invitation for a person already linked elsewhere: 409,
	// nothing changes, the link stays usable.
	other, _ := b.ids.store.CreateUser(identity.RoleRelative, identity.Profile{Name: "Another Invite"}, nil)
	tok2, _ := b.ids.store.NewToken(identity.TokenInvite, other.ID, time.Hour)
	b.newBrowser()
	resp, body := b.get(b.loginAs("bert", "?invite="+tok2))
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "redan kopplad") {
		t.Fatalf("taken: %d\n%s", resp.StatusCode, body)
	}
	if _, err := b.ids.store.PeekToken(identity.TokenInvite, tok2); err != nil {
		t.Fatalf("refused invitation spent: %v", err)
	}
	if got, _ := b.ids.store.User(other.ID); got.Status != identity.StatusPending || got.Profile.Personnummer != "" {
		t.Fatalf("refused invitation changed the user: %+v", got)
	}
	if _, ok := b.sessionUser(); ok {
		t.Fatal("refused invitation made a session")
	}
	b.noSecretsLogged()
}

func TestEIDLoginProblems(t *testing.T) {
	b := newEIDBox(t, true)
	b.clientWithPnr(identity.RoleClient, "Anna Lind", annaPnr)
	gone := b.clientWithPnr(identity.RoleClient, "Bert Ek", bertPnr)
	b.ids.store.SetStatus(gone.ID, identity.StatusDeactivated)
	b.p.AddClient("other-app", "other-secret", "https://other.example/cb")
	otherAudience, err := b.p.IDToken("other-app", "other-secret", "https://other.example/cb", "anna", eidPass)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name   string
		steps  func() string // returns the callback URL to open
		status int
		text   string // in the Swedish page
	}{
		{"no account", func() string { return b.loginAs("cissi", "") }, http.StatusForbidden, "Be mottagningen om en inbjudan"},
		{"deactivated account", func() string { return b.loginAs("bert", "") }, http.StatusForbidden, "inte aktivt"},
		{"wrong state", func() string {
			u, _ := url.Parse(b.loginAs("anna", ""))
			q := u.Query()
			q.Set("state", "forged")
			u.RawQuery = q.Encode()
			return u.String()
		}, http.StatusBadRequest, "Börja om"},
		{"no flow cookie", func() string {
			back := b.loginAs("anna", "")
			b.newBrowser()
			return back
		}, http.StatusBadRequest, "Börja om"},
		{"cancelled at the broker", func() string {
			back, err := b.p.Cancel(b.client, b.start(""))
			if err != nil {
				t.Fatal(err)
			}
			return back
		}, http.StatusUnauthorized, "avbröts"},
		{"broker error", func() string {
			u, _ := url.Parse(b.loginAs("anna", ""))
			return b.srv.URL + "/login/eid/callback?error=server_error&state=" + url.QueryEscape(u.Query().Get("state"))
		}, http.StatusUnauthorized, "kunde inte genomföra"},
		{"token for another audience", func() string {
			back := b.loginAs("anna", "")
			b.p.RewriteNextIDToken(func(string) string { return otherAudience })
			return back
		}, http.StatusBadGateway, "gick inte att kontrollera"},
		{"invalid personnummer", func() string { return b.loginAs("bad", "") }, http.StatusUnprocessableEntity, "inte giltigt"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b.newBrowser()
			back := c.steps()
			resp, body := b.get(back)
			if resp.StatusCode != c.status || !strings.Contains(body, c.text) || !strings.Contains(body, `id="eid-problem"`) {
				t.Fatalf("%d, want %d with %q:\n%s", resp.StatusCode, c.status, c.text, body)
			}
			if _, ok := b.sessionUser(); ok {
				t.Fatal("a session was made")
			}
		})
	}
	// Nothing was linked along the way.
	for _, pnr := range []string{"200002290005"} {
		if u := b.linked(pnr); u.ID != 0 {
			t.Errorf("%s linked to %d", pnr[:8], u.ID)
		}
	}
	b.noSecretsLogged()
}

func TestEIDOff(t *testing.T) {
	ti := newTestIdentity(t)
	s, _ := New(Options{Identity: ti.store, Keys: ti.keys})
	if rec := getPage(s, "/login", ""); strings.Contains(rec.Body.String(), "eid-login") {
		t.Fatal("eID button without eID")
	}
	for _, p := range []string{"/login/eid", "/login/eid/callback?code=x&state=y"} {
		if rec := getPage(s, p, ""); rec.Code != http.StatusNotFound {
			t.Errorf("%s without eID: %d", p, rec.Code)
		}
	}
}

func TestEIDBrokerDown(t *testing.T) {
	b := newEIDBox(t, true)
	b.p.SetDown(true)
	resp, body := b.get("/login/eid")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "går inte att nå") {
		t.Fatalf("broker down: %d\n%s", resp.StatusCode, body)
	}
	// The login page still works and says so.
	resp, body = b.get("/login")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="eid-down"`) || !strings.Contains(body, `id="email"`) {
		t.Fatalf("login page while the broker is down: %d\n%s", resp.StatusCode, body)
	}
}
