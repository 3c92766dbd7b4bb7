package web

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"clinicbox/appliance/identity"
	"clinicbox/appliance/privacy/retention"
	"clinicbox/appliance/rooms"
	"clinicbox/storage"
	"clinicbox/storage/keystore"
)

// expectedAccess is who may use each route. A route registered without a
// line here fails TestRouteRoleTable: deciding who may use a new route is
// part of adding it.
//
// Other files of this package add their routes' lines with
// `var _ = expect(map[string]string{...})`.
var expectedAccess = map[string]string{
	"GET /static/":                      "public",
	"GET /healthz":                      "public",
	"GET /readyz":                       "public",
	"GET /ca.crt":                       "public",
	"GET /ca":                           "public",
	"GET /{$}":                          "public",
	"/":                                 "public",
	"GET /login":                        "public",
	"POST /login":                       "public",
	"GET /setup/{token}":                "public",
	"POST /setup/{token}":               "public",
	"GET /login/code":                   "partial admin staff client relative technician",
	"POST /login/code":                  "partial admin staff client relative technician",
	"GET /account/second-factor":        "partial admin staff client relative technician",
	"POST /account/second-factor":       "partial admin staff client relative technician",
	"POST /logout":                      "partial admin staff client relative technician",
	"POST /account/logout-everywhere":   "admin staff client relative technician",
	"GET /start":                        "admin staff client relative technician",
	"GET /admin/staff":                  "admin",
	"POST /admin/staff":                 "admin",
	"POST /admin/staff/{id}/deactivate": "admin",
	"POST /admin/staff/{id}/reset-second-factor": "admin",
}

func expect(m map[string]string) bool {
	for k, v := range m {
		if _, dup := expectedAccess[k]; dup {
			panic("expectedAccess: " + k + " declared twice")
		}
		expectedAccess[k] = v
	}
	return true
}

type testIdentity struct {
	store *identity.Store
	keys  *keystore.Store
	db    *storage.DB
}

func newTestIdentity(t *testing.T) testIdentity {
	t.Helper()
	dir := t.TempDir()
	db, err := storage.Open(filepath.Join(dir, "clinicbox.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	keys, err := keystore.Open(filepath.Join(dir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keys.Close() })
	ik, _ := keys.DeriveKey("identity/email-index")
	store, err := identity.New(identity.Options{DB: db, Keys: keys, IndexKey: ik})
	if err != nil {
		t.Fatal(err)
	}
	return testIdentity{store, keys, db}
}

// visitor is one column of the table: anonymous, half logged in, or a
// complete session of a role.
type visitor struct {
	name     string
	user     identity.User
	complete bool
}

func TestRouteRoleTable(t *testing.T) {
	ti := newTestIdentity(t)
	rs, err := rooms.New(rooms.Options{DB: ti.db, Keys: ti.keys})
	if err != nil {
		t.Fatal(err)
	}
	ret, err := retention.New(retention.Options{DB: ti.db, Rooms: rs})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Identity: ti.store, Keys: ti.keys, Rooms: rs, Retention: ret})
	if err != nil {
		t.Fatal(err)
	}
	visitors := []visitor{{name: "anonymous"}}
	for _, role := range identity.Roles() {
		u, err := ti.store.CreateUser(role, identity.Profile{Name: "Test " + string(role), Email: string(role) + "@example.se"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		visitors = append(visitors, visitor{string(role), u, true})
		if role == identity.RoleStaff {
			visitors = append(visitors, visitor{"partial", u, false})
		}
	}

	seen := map[string]bool{}
	for _, rt := range s.registered {
		seen[rt.Pattern] = true
		want, ok := expectedAccess[rt.Pattern]
		if !ok {
			t.Errorf("route %q is not in expectedAccess: declare who may use it", rt.Pattern)
			continue
		}
		method, path, found := strings.Cut(rt.Pattern, " ")
		if !found {
			method, path = "GET", rt.Pattern
		}
		path = regexp.MustCompile(`\{\$\}`).ReplaceAllString(path, "")
		path = regexp.MustCompile(`\{[a-z]+\}`).ReplaceAllString(path, "1")
		for _, v := range visitors {
			allowed := want == "public" || strings.Contains(" "+want+" ", " "+v.name+" ")
			if v.name == "partial" && !strings.Contains(want, "partial") && want != "public" {
				allowed = false
			}
			req := httptest.NewRequest(method, "https://box.test"+path, nil)
			if v.name != "anonymous" {
				// A fresh session per request: logout routes end theirs.
				tok, sess, err := ti.store.StartSession(v.user, v.complete)
				if err != nil {
					t.Fatal(err)
				}
				req.AddCookie(&http.Cookie{Name: SessionCookie, Value: tok})
				req.Header.Set("X-CSRF-Token", sess.CSRFToken())
			}
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			// The three answers of deny(); a handler's own 401 for a wrong
			// password is not a denial of the route.
			loc := rec.Header().Get("Location")
			denied := rec.Code == http.StatusSeeOther && (strings.HasPrefix(loc, "/login?next=") || loc == "/login/code") ||
				rec.Code == http.StatusForbidden && strings.Contains(rec.Body.String(), "har inte tillgång") ||
				strings.HasPrefix(path, "/api/") && (rec.Code == http.StatusUnauthorized && strings.Contains(rec.Body.String(), "Log in first") ||
					rec.Code == http.StatusForbidden && strings.Contains(rec.Body.String(), "does not have access"))
			if allowed == denied {
				t.Errorf("%s as %s: status %d (Location %q), want allowed=%v", rt.Pattern, v.name, rec.Code, rec.Header().Get("Location"), allowed)
			}
		}
	}
	for p := range expectedAccess {
		if !seen[p] {
			t.Errorf("expectedAccess lists %q, which is not registered", p)
		}
	}
}

func TestCSRFTokenRequired(t *testing.T) {
	ti := newTestIdentity(t)
	s, _ := New(Options{Identity: ti.store, Keys: ti.keys})
	u, _ := ti.store.CreateUser(identity.RoleAdmin, identity.Profile{Name: "Ann Admin", Email: "ann@example.se"}, nil)
	tok, sess, _ := ti.store.StartSession(u, true)
	for _, csrf := range []string{"", "wrong", sess.CSRFToken()} {
		req := httptest.NewRequest("POST", "https://box.test/account/logout-everywhere", strings.NewReader("csrf="+csrf))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: SessionCookie, Value: tok})
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if (csrf == sess.CSRFToken()) != (rec.Code == 200) {
			t.Errorf("csrf %q: status %d", csrf, rec.Code)
		}
	}
}

func TestCrossOriginPostRefused(t *testing.T) {
	ti := newTestIdentity(t)
	s, _ := New(Options{Identity: ti.store, Keys: ti.keys})
	req := httptest.NewRequest("POST", "https://box.test/login", strings.NewReader("email=a%40b.se&password=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Fatalf("cross-site POST: %d", rec.Code)
	}
}
