package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func newTestServer(t *testing.T, ready func(context.Context) error) (*Server, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	s, err := New(Options{Metrics: reg, Ready: ready, Version: "test", HTTPSPort: "8443"})
	if err != nil {
		t.Fatal(err)
	}
	return s, reg
}

// The scenario table: method, URL, status, a piece of the body.
func TestRoutes(t *testing.T) {
	s, _ := newTestServer(t, nil)
	cases := []struct {
		method, url string
		status      int
		body        string
	}{
		{"GET", "/", 200, "<html lang=\"sv\">"},
		{"GET", "/?lang=en", 200, "Welcome"},
		{"GET", "/healthz", 200, "ok"},
		{"GET", "/readyz", 200, "ready"},
		{"GET", "/static/style.css", 200, ":root"},
		{"GET", "/static/", 404, ""},
		{"GET", "/static/%2e%2e/templates/layout.html", 404, ""},
		{"GET", "/nope", 404, "finns inte"},
		{"POST", "/healthz", 404, ""},
		{"GET", "/ca.crt", 404, ""}, // no local CA in this server
		{"GET", "/ca", 200, "inget att installera"},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.url, func(t *testing.T) {
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, httptest.NewRequest(c.method, c.url, nil))
			if rec.Code != c.status {
				t.Fatalf("status %d, want %d", rec.Code, c.status)
			}
			if !strings.Contains(rec.Body.String(), c.body) {
				t.Fatalf("body lacks %q: %.300s", c.body, rec.Body.String())
			}
			if rec.Header().Get("Content-Security-Policy") == "" || rec.Header().Get("Strict-Transport-Security") == "" {
				t.Fatal("security headers missing")
			}
		})
	}
}

func TestNotReady(t *testing.T) {
	s, _ := newTestServer(t, func(context.Context) error { return errors.New("storage: disk full") })
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), "disk full") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if !strings.Contains(rec.Body.String(), "disk full") {
		t.Fatal("the landing page must say what is wrong")
	}
}

func TestRedirect(t *testing.T) {
	s, _ := newTestServer(t, nil)
	cases := map[string]string{
		"http://box.local:8080/a?b=c": "https://box.local:8443/a?b=c",
		"http://192.168.1.10/":        "https://192.168.1.10:8443/",
		"http://[fe80::1]:8080/x":     "https://[fe80::1]:8443/x",
	}
	for in, want := range cases {
		rec := httptest.NewRecorder()
		s.HTTPHandler().ServeHTTP(rec, httptest.NewRequest("POST", in, nil))
		if rec.Code != http.StatusPermanentRedirect || rec.Header().Get("Location") != want {
			t.Errorf("%s → %d %q, want %q", in, rec.Code, rec.Header().Get("Location"), want)
		}
	}
	s.opts.HTTPSPort = "443"
	rec := httptest.NewRecorder()
	s.HTTPHandler().ServeHTTP(rec, httptest.NewRequest("GET", "http://box.local/", nil))
	if got := rec.Header().Get("Location"); got != "https://box.local/" {
		t.Errorf("port 443 must be left out: %q", got)
	}
}

func TestPanicGivesErrorPageAndNoDetails(t *testing.T) {
	s, _ := newTestServer(t, nil)
	s.Handle("GET /boom", Public, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("secret patient detail")
	}))
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/boom", nil))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "secret") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

func TestRequestMetricsByRoute(t *testing.T) {
	s, reg := newTestServer(t, nil)
	for _, u := range []string{"/healthz", "/healthz", "/no/such/thing/123"} {
		s.Handler().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", u, nil))
	}
	n, err := testutil.GatherAndCount(reg, "clinicbox_http_request_duration_seconds")
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 { // /healthz 2xx and / 4xx: raw paths never become labels
		t.Fatalf("%d series", n)
	}
}

func TestMetricsHandlerToken(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := MetricsHandler(reg, "tok")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 401 {
		t.Fatal(rec.Code)
	}
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Authorization", "Bearer tok")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatal(rec.Code)
	}
	io.Copy(io.Discard, rec.Body)
}

func TestServerErrorGoesToTheErrorLog(t *testing.T) {
	var codes []string
	s, err := New(Options{Errors: func(code string, user uint64) { codes = append(codes, code) }})
	if err != nil {
		t.Fatal(err)
	}
	s.Handle("GET /Fails/{$}", Public, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.serverError(w, r, errors.New("disk on fire"))
	}))
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/Fails/", nil))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "fire") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if len(codes) != 1 || codes[0] != "http.500./fails/{}" {
		t.Fatalf("codes %q", codes)
	}
}
