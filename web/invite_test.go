package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"clinicbox/appliance/identity"
)

var _ = expect(map[string]string{
	"GET /account/data":           "admin staff client relative technician",
	"GET /api/v1/me/export":       "admin staff client relative technician",
	"POST /account/delete":        "admin staff client relative technician",
	"GET /invite":                 "admin staff",
	"POST /invite":                "admin staff",
	"GET /invite/{token}":         "public",
	"POST /invite/{token}":        "public",
	"GET /terms":                  "admin staff client relative technician",
	"POST /terms":                 "admin staff client relative technician",
	"GET /account":                "admin staff client relative technician",
	"POST /account/contact":       "admin staff client relative technician",
	"POST /account/password":      "admin staff client relative technician",
	"POST /account/language":      "admin staff client relative technician",
	"POST /account/notifications": "admin staff client relative technician",
	"POST /account/units/leave":   "client relative",
	"GET /first-run":              "public",
	"POST /first-run":             "public",
})

// post sends a form as a browser would (same origin) with a session.
func post(t *testing.T, s *Server, path, cookie string, form url.Values) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("POST", "https://box.test"+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: SessionCookie, Value: cookie})
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return rec
}

func getPage(s *Server, path, cookie string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", "https://box.test"+path, nil)
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: SessionCookie, Value: cookie})
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return rec
}

func sessionCookieOf(rec *httptest.ResponseRecorder) string {
	for _, c := range rec.Result().Cookies() {
		if c.Name == SessionCookie && c.MaxAge >= 0 {
			return c.Value
		}
	}
	return ""
}

func TestInvitationToTermsToStart(t *testing.T) {
	ti := newTestIdentity(t)
	s, _ := New(Options{Identity: ti.store, Keys: ti.keys})
	staff, _ := ti.store.CreateUser(identity.RoleStaff, identity.Profile{Name: "Sara Staff", Email: "sara@example.se"}, nil)
	stok, ssess, _ := ti.store.StartSession(staff, true)

	// Bad role: a field error, nothing created.
	rec := post(t, s, "/invite", stok, url.Values{"csrf": {ssess.CSRFToken()}, "name": {"Kalle"}, "role": {"admin"}})
	if rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("bad role: %d", rec.Code)
	}
	rec = post(t, s, "/invite", stok, url.Values{"csrf": {ssess.CSRFToken()}, "name": {"Kalle Klient"}, "role": {"client"}})
	if rec.Code != http.StatusCreated {
		t.Fatalf("invite: %d", rec.Code)
	}
	i := strings.Index(rec.Body.String(), "/invite/")
	link := rec.Body.String()[i : i+len("/invite/")+43]

	// The invited person: a weak password is refused and the link survives.
	rec = post(t, s, link, "", url.Values{"email": {"kalle@example.se"}, "password": {"kalle"}, "password2": {"kalle"}})
	if rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("weak password: %d", rec.Code)
	}
	const pw = "blåbär och hallon i skogen"
	rec = post(t, s, link, "", url.Values{"email": {"kalle@example.se"}, "password": {pw}, "password2": {pw}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/terms" {
		t.Fatalf("accept: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	ctok := sessionCookieOf(rec)
	// Used link: a clear page.
	if rec := getPage(s, link, ""); rec.Code != http.StatusGone {
		t.Fatalf("used link: %d", rec.Code)
	}
	// Until the terms are accepted, every page leads to them.
	if rec := getPage(s, "/start", ctok); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/terms" {
		t.Fatalf("before terms: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	sess, _ := ti.store.Session(ctok)
	if rec := post(t, s, "/terms", ctok, url.Values{"csrf": {sess.CSRFToken()}, "decision": {"accept"}}); rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("accept without the tick: %d", rec.Code)
	}
	if rec := post(t, s, "/terms", ctok, url.Values{"csrf": {sess.CSRFToken()}, "decision": {"accept"}, "read": {"yes"}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("accept: %d", rec.Code)
	}
	u, _ := ti.store.UserByEmail("kalle@example.se")
	if u.TermsVersion != TermsVersion || u.TermsAccepted.IsZero() || u.Status != identity.StatusActive {
		t.Fatalf("after terms: %+v", u)
	}
	if rec := getPage(s, "/start", ctok); rec.Code != 200 || !strings.Contains(rec.Body.String(), "Kalle Klient") {
		t.Fatalf("start: %d", rec.Code)
	}
	// A client cannot invite.
	if rec := getPage(s, "/invite", ctok); rec.Code != http.StatusForbidden {
		t.Fatalf("client inviting: %d", rec.Code)
	}
}

func TestAccountChanges(t *testing.T) {
	ti := newTestIdentity(t)
	s, _ := New(Options{Identity: ti.store, Keys: ti.keys})
	u, _ := ti.store.CreateUser(identity.RoleClient, identity.Profile{Name: "Klara"}, nil)
	const pw = "en lång mening om vädret i maj"
	if err := ti.store.SetPassword(u.ID, pw); err != nil {
		t.Fatal(err)
	}
	ti.store.AcceptTerms(u.ID, TermsVersion)
	tok, sess, _ := ti.store.StartSession(u, true)
	other, _, _ := ti.store.StartSession(u, true)
	csrf := sess.CSRFToken()

	if rec := post(t, s, "/account/contact", tok, url.Values{"csrf": {csrf}, "email": {"not an address"}}); rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("bad e-mail: %d", rec.Code)
	}
	if rec := post(t, s, "/account/contact", tok, url.Values{"csrf": {csrf}, "email": {"klara@example.se"}, "phone": {"070-123 45 67"}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("contact: %d", rec.Code)
	}
	if got, err := ti.store.UserByEmail("KLARA@example.se"); err != nil || got.Profile.Phone != "070-123 45 67" {
		t.Fatalf("contact saved: %+v %v", got.Profile, err)
	}
	if rec := post(t, s, "/account/password", tok, url.Values{"csrf": {csrf}, "current": {"wrong"}, "password": {"x"}, "password2": {"x"}}); rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("wrong current: %d", rec.Code)
	}
	const next = "ett nytt lösenord för hösten"
	if rec := post(t, s, "/account/password", tok, url.Values{"csrf": {csrf}, "current": {pw}, "password": {next}, "password2": {next}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("change: %d", rec.Code)
	}
	if _, err := ti.store.Session(other); err == nil {
		t.Fatal("other sessions must end on a password change")
	}
	if _, err := ti.store.Session(tok); err != nil {
		t.Fatal("the changing session stays")
	}
	if _, err := ti.store.CheckPassword("klara@example.se", next); err != nil {
		t.Fatal(err)
	}
	if rec := post(t, s, "/account/language", tok, url.Values{"csrf": {csrf}, "lang": {"en"}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("language: %d", rec.Code)
	}
	if rec := post(t, s, "/account/language", tok, url.Values{"csrf": {csrf}, "lang": {"xx"}}); rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("bad language: %d", rec.Code)
	}
	if rec := post(t, s, "/account/notifications", tok, url.Values{"csrf": {csrf}, "email": {"yes"}, "sms": {"yes"}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("notifications: %d", rec.Code)
	}
	if u, _ := ti.store.User(u.ID); !u.NotifyEmail || !u.NotifySMS {
		t.Fatalf("channels not saved: %+v", u)
	}
	ti.store.UpdateContact(u.ID, "klara@example.se", "")
	if rec := post(t, s, "/account/notifications", tok, url.Values{"csrf": {csrf}, "sms": {"yes"}}); rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("SMS without a phone number: %d", rec.Code)
	}
}

func TestFirstRun(t *testing.T) {
	ti := newTestIdentity(t)
	s, _ := New(Options{Identity: ti.store, Keys: ti.keys})
	code := s.firstRun.code
	if code == "" {
		t.Fatal("a box without admin must offer first-run")
	}
	if rec := post(t, s, "/first-run", "", url.Values{"code": {"wrong-code-here"}, "name": {"A"}, "email": {"a@example.se"}}); rec.Code != http.StatusUnauthorized {
		t.Fatalf("wrong code: %d", rec.Code)
	}
	rec := post(t, s, "/first-run", "", url.Values{"code": {strings.ToUpper(code)}, "name": {"Anna Admin"}, "email": {"anna@example.se"}})
	if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/setup/") {
		t.Fatalf("first run: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	if rec := getPage(s, "/first-run", ""); rec.Code != http.StatusNotFound {
		t.Fatalf("after the first admin: %d", rec.Code)
	}
	// A restarted box with an admin offers nothing.
	s2, _ := New(Options{Identity: ti.store, Keys: ti.keys})
	if s2.firstRun.code != "" {
		t.Fatal("first-run after an admin exists")
	}
}

// validPnr completes 9 digits (YYMMDDNNN) with their Luhn check digit.
func validPnr(nine string) string {
	sum := 0
	for i, c := range nine {
		d := int(c-'0') * (2 - i%2)
		sum += d/10 + d%10
	}
	return nine[:6] + "-" + nine[6:] + string(rune('0'+(10-sum%10)%10))
}

func TestInviteWithPersonnummer(t *testing.T) {
	ti := newTestIdentity(t)
	s, _ := New(Options{Identity: ti.store, Keys: ti.keys})
	staff, _ := ti.store.CreateUser(identity.RoleStaff, identity.Profile{Name: "Sara Staff", Email: "sara@example.se"}, nil)
	tok, sess, _ := ti.store.StartSession(staff, true)
	good := validPnr("900101238")
	bad := good[:len(good)-1] + string(rune('0'+(int(good[len(good)-1]-'0')+1)%10))
	for _, c := range []struct{ pnr, msg string }{
		{"19900101", "ÅÅÅÅMMDD-NNNN"},
		{"901301-2384", "finns inte"},
		{bad, "kontrollsiffra"},
	} {
		rec := post(t, s, "/invite", tok, url.Values{"csrf": {sess.CSRFToken()}, "name": {"Kalle"}, "role": {"client"}, "pnr": {c.pnr}})
		if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), c.msg) || !strings.Contains(rec.Body.String(), `id="pnr"`) {
			t.Errorf("%s: %d, message %q expected", c.pnr, rec.Code, c.msg)
		}
	}
	if users, _ := ti.store.Users(identity.RoleClient); len(users) != 0 {
		t.Fatal("a refused invitation stored a user")
	}
	rec := post(t, s, "/invite", tok, url.Values{"csrf": {sess.CSRFToken()}, "name": {"Kalle"}, "role": {"client"}, "pnr": {good}})
	if rec.Code != http.StatusCreated {
		t.Fatalf("valid personnummer: %d", rec.Code)
	}
	users, _ := ti.store.Users(identity.RoleClient)
	if len(users) != 1 || users[0].Profile.Personnummer == "" || users[0].Profile.NameFromEID {
		t.Fatalf("invited client: %+v", users)
	}
	// The same number twice: a field error.
	rec = post(t, s, "/invite", tok, url.Values{"csrf": {sess.CSRFToken()}, "name": {"Kalle 2"}, "role": {"client"}, "pnr": {good}})
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "annat konto") {
		t.Fatalf("taken personnummer: %d", rec.Code)
	}
}
