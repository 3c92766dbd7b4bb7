package web

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"clinicbox/appliance/identity"
	"clinicbox/appliance/identity/passkey/passkeytest"
	"clinicbox/appliance/identity/throttle"
)

var _ = expect(map[string]string{
	"POST /api/v1/passkeys/register/begin":  "partial admin staff technician",
	"POST /api/v1/passkeys/register/finish": "partial admin staff technician",
	"POST /api/v1/passkeys/login/begin":     "partial admin staff technician",
	"POST /api/v1/passkeys/login/finish":    "partial admin staff technician",
	"GET /account/passkeys":                 "admin staff technician",
	"POST /account/passkeys/remove":         "admin staff technician",
})

const pkOrigin = "https://localhost:8443"

// pkClient is one browser: a session cookie and its CSRF token.
type pkClient struct {
	t      *testing.T
	s      *Server
	host   string // "localhost:8443"
	cookie string
	csrf   string
}

func (c *pkClient) do(method, path, contentType string, body []byte) *httptest.ResponseRecorder {
	c.t.Helper()
	req := httptest.NewRequest(method, "https://"+c.host+path, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.cookie != "" {
		req.AddCookie(&http.Cookie{Name: SessionCookie, Value: c.cookie})
	}
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	rec := httptest.NewRecorder()
	c.s.Handler().ServeHTTP(rec, req)
	if tok := sessionCookieOf(rec); tok != "" {
		c.cookie = tok
		sess, err := c.s.opts.Identity.Session(tok)
		if err != nil {
			c.t.Fatal(err)
		}
		c.csrf = sess.CSRFToken()
	}
	return rec
}

func (c *pkClient) api(path string, body any) (*httptest.ResponseRecorder, map[string]any) {
	c.t.Helper()
	b, _ := json.Marshal(body)
	rec := c.do("POST", path, "application/json", b)
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		c.t.Fatalf("%s: not JSON (%d): %s", path, rec.Code, rec.Body)
	}
	return rec, out
}

// wantRefused checks a clear JSON error with a 4xx status.
func wantRefused(t *testing.T, rec *httptest.ResponseRecorder, out map[string]any, status int, code string) {
	t.Helper()
	if rec.Code != status || out["code"] != code || out["error"] == "" || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("status %d, body %v; want %d %q", rec.Code, out, status, code)
	}
}

type pkWorld struct {
	ti   testIdentity
	s    *Server
	user identity.User
}

func newPKWorld(t *testing.T, limiter *throttle.Limiter) pkWorld {
	t.Helper()
	ti := newTestIdentity(t)
	if limiter == nil {
		cfg := throttle.DefaultConfig()
		cfg.Free = 1000
		limiter = throttle.New(cfg)
	}
	s, err := New(Options{Identity: ti.store, Keys: ti.keys, Hostnames: []string{"localhost", "127.0.0.1"}, Throttle: limiter})
	if err != nil {
		t.Fatal(err)
	}
	u, err := ti.store.CreateUser(identity.RoleStaff, identity.Profile{Name: "Sara Staff", Email: "sara@example.se"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ti.store.SetPassword(u.ID, "kanelbulle-cykel-fönster"); err != nil {
		t.Fatal(err)
	}
	return pkWorld{ti, s, u}
}

// login starts a session as after the password: half logged in.
func (w pkWorld) login(t *testing.T, host string) *pkClient {
	t.Helper()
	u, _ := w.ti.store.User(w.user.ID)
	tok, sess, err := w.ti.store.StartSession(u, !u.Role.NeedsSecondFactor())
	if err != nil {
		t.Fatal(err)
	}
	return &pkClient{t: t, s: w.s, host: host, cookie: tok, csrf: sess.CSRFToken()}
}

func (w pkWorld) enrol(t *testing.T, c *pkClient, auth *passkeytest.Authenticator, label string) map[string]any {
	t.Helper()
	rec, opts := c.api("/api/v1/passkeys/register/begin", map[string]string{"label": label})
	if rec.Code != 200 {
		t.Fatalf("register/begin: %d %s", rec.Code, rec.Body)
	}
	answer, err := auth.Create(rec.Body.Bytes())
	if err != nil {
		t.Fatalf("authenticator: %v (options %v)", err, opts)
	}
	rec, out := c.api("/api/v1/passkeys/register/finish", map[string]any{"credential": json.RawMessage(answer)})
	if rec.Code != 200 {
		t.Fatalf("register/finish: %d %s", rec.Code, rec.Body)
	}
	return out
}

func (w pkWorld) count(t *testing.T) int {
	t.Helper()
	n, err := w.ti.store.Passkeys().Count(w.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (c *pkClient) complete() bool {
	sess, err := c.s.opts.Identity.Session(c.cookie)
	return err == nil && sess.Complete
}

// A staff member enrols a passkey instead of TOTP, then logs in with
// password and passkey.
func TestPasskeyEnrolAndLogin(t *testing.T) {
	w := newPKWorld(t, nil)
	auth := passkeytest.New(pkOrigin)
	c := w.login(t, "localhost:8443")
	partialCookie := c.cookie

	// The enrolment page offers a passkey.
	page := c.do("GET", "/account/second-factor?lang=en", "", nil)
	if page.Code != 200 || !strings.Contains(page.Body.String(), `data-passkey="register"`) || !strings.Contains(page.Body.String(), "/static/passkey.js") {
		t.Fatalf("enrolment page: %d", page.Code)
	}
	out := w.enrol(t, c, auth, "Work laptop")
	codes, _ := out["recovery_codes"].([]any)
	if out["redirect"] != "/start" || len(codes) != 10 {
		t.Fatalf("enrolment answer: %v", out)
	}
	if c.cookie == partialCookie || !c.complete() {
		t.Fatal("the session was not completed under a new token")
	}
	if _, err := w.ti.store.Session(partialCookie); err == nil {
		t.Fatal("the half-logged-in token still works")
	}
	u, _ := w.ti.store.User(w.user.ID)
	if u.Status != identity.StatusActive || !u.HasPasskey {
		t.Fatalf("after enrolment: %+v", u)
	}
	list := c.do("GET", "/account/passkeys?lang=en", "", nil)
	if list.Code != 200 || !strings.Contains(list.Body.String(), "Work laptop") {
		t.Fatalf("passkeys page: %d", list.Code)
	}

	// Next login: the password leads to the code page, which offers the
	// passkey; the TOTP enrolment page is closed to this half session.
	c = w.login(t, "localhost:8443")
	code := c.do("GET", "/login/code?next=/account", "", nil)
	if !strings.Contains(code.Body.String(), `data-passkey="login"`) || !strings.Contains(code.Body.String(), `data-next="/account"`) {
		t.Fatal("code page offers no passkey")
	}
	if rec := c.do("GET", "/account/second-factor", "", nil); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/login/code" {
		t.Fatalf("TOTP enrolment without the second factor: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	// Nor may it add a passkey of its own: the password alone is not enough.
	rec, out := c.api("/api/v1/passkeys/register/begin", map[string]string{"label": "Intruder"})
	wantRefused(t, rec, out, http.StatusForbidden, "log-in-first")

	rec, _ = c.api("/api/v1/passkeys/login/begin", struct{}{})
	if rec.Code != 200 {
		t.Fatalf("login/begin: %d %s", rec.Code, rec.Body)
	}
	answer, err := auth.Get(rec.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	rec, out = c.api("/api/v1/passkeys/login/finish", map[string]any{"credential": json.RawMessage(answer), "next": "/account"})
	if rec.Code != 200 || out["redirect"] != "/account" || !c.complete() {
		t.Fatalf("login/finish: %d %v", rec.Code, out)
	}
	if rec := c.do("GET", "/start", "", nil); rec.Code != 200 {
		t.Fatalf("start after passkey login: %d", rec.Code)
	}
	// A recovery code works at the code step too.
	c = w.login(t, "localhost:8443")
	rec = c.do("POST", "/login/code", "application/x-www-form-urlencoded",
		[]byte(url.Values{"csrf": {c.csrf}, "code": {codes[0].(string)}}.Encode()))
	if rec.Code != http.StatusSeeOther || !c.complete() {
		t.Fatalf("recovery code: %d", rec.Code)
	}
}

// Bad answers get a clear JSON error with a 4xx status and change
// nothing: the session stays half logged in, no counter moves, no
// passkey is stored.
func TestPasskeyBadInput(t *testing.T) {
	w := newPKWorld(t, nil)
	auth := passkeytest.New(pkOrigin)
	w.enrol(t, w.login(t, "localhost:8443"), auth, "Laptop")
	signCount := func() uint32 {
		list, _ := w.ti.store.Passkeys().List(w.user.ID)
		return list[0].WebAuthn.Authenticator.SignCount
	}
	begin := func(c *pkClient) []byte {
		t.Helper()
		rec, _ := c.api("/api/v1/passkeys/login/begin", struct{}{})
		if rec.Code != 200 {
			t.Fatalf("login/begin: %d %s", rec.Code, rec.Body)
		}
		return rec.Body.Bytes()
	}
	finish := func(c *pkClient, answer []byte) (*httptest.ResponseRecorder, map[string]any) {
		return c.api("/api/v1/passkeys/login/finish", map[string]any{"credential": json.RawMessage(answer)})
	}

	c := w.login(t, "localhost:8443")
	before := signCount()

	// A tampered assertion.
	answer, _ := auth.Get(begin(c))
	tampered, _ := passkeytest.Tamper(answer, "signature")
	rec, out := finish(c, tampered)
	wantRefused(t, rec, out, http.StatusBadRequest, "invalid")

	// A replayed one: its challenge was spent by the first answer.
	rec, out = finish(c, answer)
	wantRefused(t, rec, out, http.StatusBadRequest, "expired")

	// A challenge from another session, answered here.
	other := w.login(t, "localhost:8443")
	begin(c)
	answer, _ = auth.Get(begin(other))
	rec, out = finish(c, answer)
	wantRefused(t, rec, out, http.StatusBadRequest, "invalid")

	// An unknown credential (a passkey of another account).
	stranger := passkeytest.New(pkOrigin)
	ou, _ := w.ti.store.CreateUser(identity.RoleStaff, identity.Profile{Name: "Olle", Email: "olle@example.se"}, nil)
	w.ti.store.SetPassword(ou.ID, "kanelbulle-cykel-fönster")
	otk, osess, _ := w.ti.store.StartSession(ou, false)
	w.enrol(t, &pkClient{t: t, s: w.s, host: "localhost:8443", cookie: otk, csrf: osess.CSRFToken()}, stranger, "Olle's")
	answer, _ = stranger.GetWith(stranger.CredentialIDs()[0], begin(c))
	rec, out = finish(c, answer)
	wantRefused(t, rec, out, http.StatusBadRequest, "unknown")

	// Garbage, and not JSON at all.
	begin(c)
	rec, out = finish(c, []byte(`{"id":"AAAA"}`))
	wantRefused(t, rec, out, http.StatusBadRequest, "invalid")
	rec = c.do("POST", "/api/v1/passkeys/login/finish", "application/json", []byte("not json"))
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"code":"invalid"`) {
		t.Fatalf("not JSON: %d %s", rec.Code, rec.Body)
	}

	if c.complete() || signCount() != before {
		t.Fatalf("a refused login changed something: complete %v, count %d → %d", c.complete(), before, signCount())
	}

	// Registration: bad answers store nothing.
	n := w.count(t)
	full := w.login(t, "localhost:8443")
	answer, _ = auth.Get(begin(full))
	finish(full, answer) // complete now
	rec, _ = full.api("/api/v1/passkeys/register/begin", map[string]string{"label": "Phone"})
	phish := passkeytest.New("https://clinicbox.example.net")
	reg, _ := phish.Create(rec.Body.Bytes())
	rec, out = full.api("/api/v1/passkeys/register/finish", map[string]any{"credential": json.RawMessage(reg)})
	wantRefused(t, rec, out, http.StatusBadRequest, "invalid")
	rec, out = full.api("/api/v1/passkeys/register/finish", map[string]any{"credential": json.RawMessage(reg)})
	wantRefused(t, rec, out, http.StatusBadRequest, "expired")
	rec, out = full.api("/api/v1/passkeys/register/begin", map[string]string{"label": strings.Repeat("x", 61)})
	wantRefused(t, rec, out, http.StatusBadRequest, "label")
	if w.count(t) != n {
		t.Fatal("a refused registration stored a passkey")
	}

	// Without the CSRF token the API refuses.
	full.csrf = ""
	rec = full.do("POST", "/api/v1/passkeys/register/begin", "application/json", []byte(`{}`))
	if rec.Code != http.StatusForbidden {
		t.Fatalf("no CSRF token: %d", rec.Code)
	}
}

// Passkeys are bound to a name: at an IP address none is offered, the
// page says to use the name, and the API refuses; a name the box does
// not serve is refused too.
func TestPasskeyNeedsTheBoxName(t *testing.T) {
	w := newPKWorld(t, nil)
	c := w.login(t, "127.0.0.1:8443")
	page := c.do("GET", "/account/second-factor?lang=en", "", nil).Body.String()
	if strings.Contains(page, `data-passkey="register"`) || !strings.Contains(page, `id="passkey-use-name"`) ||
		!strings.Contains(page, "by its name") {
		t.Fatal("the enrolment page at an address offers a passkey or does not explain")
	}
	rec, out := c.api("/api/v1/passkeys/register/begin", map[string]string{"label": "x"})
	wantRefused(t, rec, out, http.StatusBadRequest, "use-name")
	c.host = "elsewhere.example:8443"
	rec, out = c.api("/api/v1/passkeys/register/begin", map[string]string{"label": "x"})
	wantRefused(t, rec, out, http.StatusBadRequest, "use-name")

	for _, tc := range []struct {
		host string
		ok   bool
	}{{"localhost", true}, {"LOCALHOST:8443", true}, {"127.0.0.1:8443", false}, {"[::1]:8443", false}, {"1.2.3", false},
		{"clinic.example.se", false}, {"", false}, {"bad_name", false}} {
		r := httptest.NewRequest("GET", "https://localhost/", nil)
		r.Host = tc.host
		rp, ok := w.s.relyingParty(r)
		if ok != tc.ok {
			t.Errorf("relyingParty(%q) = %+v, %v", tc.host, rp, ok)
		}
	}
	r := httptest.NewRequest("GET", "https://localhost:8443/", nil)
	if rp, _ := w.s.relyingParty(r); rp.ID != "localhost" || rp.Origin != "https://localhost:8443" {
		t.Errorf("RP %+v", rp)
	}
}

// The last second factor cannot be removed; beside another one it can.
func TestPasskeyRemove(t *testing.T) {
	w := newPKWorld(t, nil)
	auth := passkeytest.New(pkOrigin)
	c := w.login(t, "localhost:8443")
	w.enrol(t, c, auth, "Laptop")
	list, _ := w.ti.store.Passkeys().List(w.user.ID)
	id := base64.RawURLEncoding.EncodeToString(list[0].ID())
	remove := func(id string) *httptest.ResponseRecorder {
		return c.do("POST", "/account/passkeys/remove?lang=en", "application/x-www-form-urlencoded",
			[]byte(url.Values{"csrf": {c.csrf}, "id": {id}}.Encode()))
	}
	rec := remove(id)
	if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "only second step") || w.count(t) != 1 {
		t.Fatalf("removing the only passkey: %d", rec.Code)
	}
	if rec := remove("AAAA"); rec.Code != http.StatusNotFound {
		t.Fatalf("unknown passkey: %d", rec.Code)
	}
	// A second one (another authenticator) from the passkeys page.
	rec, _ = c.api("/api/v1/passkeys/register/begin", map[string]string{"label": "Phone"})
	reg, _ := passkeytest.New(pkOrigin).Create(rec.Body.Bytes())
	rec, out := c.api("/api/v1/passkeys/register/finish", map[string]any{"credential": json.RawMessage(reg)})
	if rec.Code != 200 || out["redirect"] != "/account/passkeys?added=1" || out["recovery_codes"] != nil {
		t.Fatalf("second passkey: %d %v", rec.Code, out)
	}
	rec = remove(id)
	if rec.Code != http.StatusSeeOther || w.count(t) != 1 {
		t.Fatalf("removing one of two: %d", rec.Code)
	}
	if page := c.do("GET", "/account/passkeys?removed=1&lang=en", "", nil).Body.String(); strings.Contains(page, "Laptop") || !strings.Contains(page, "Phone") {
		t.Fatal("the list did not change")
	}
}

// Failed passkey logins count against the same limit as wrong codes.
func TestPasskeyLoginThrottled(t *testing.T) {
	w := newPKWorld(t, throttle.New(throttle.DefaultConfig()))
	w.enrol(t, w.login(t, "localhost:8443"), passkeytest.New(pkOrigin), "Laptop")
	c := w.login(t, "localhost:8443")
	for range 5 {
		c.api("/api/v1/passkeys/login/begin", struct{}{})
		rec, out := c.api("/api/v1/passkeys/login/finish", map[string]any{"credential": map[string]string{"id": "AAAA"}})
		wantRefused(t, rec, out, http.StatusBadRequest, "invalid")
	}
	rec, out := c.api("/api/v1/passkeys/login/begin", struct{}{})
	wantRefused(t, rec, out, http.StatusTooManyRequests, "throttled")
}
