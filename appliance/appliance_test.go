package appliance

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"clinicbox/storage"
)

func get(t *testing.T, c *http.Client, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

func TestServesHTTPSWithOwnCA(t *testing.T) {
	b := startBox(t, testConfig(t))

	resp, body := get(t, b.client, b.url("/healthz"))
	if resp.StatusCode != 200 || body != "ok\n" {
		t.Fatalf("healthz: %d %q", resp.StatusCode, body)
	}
	if resp.TLS == nil || resp.TLS.Version < 0x0303 {
		t.Fatalf("TLS version %x", resp.TLS.Version)
	}
	resp, body = get(t, b.client, b.url("/readyz"))
	if resp.StatusCode != 200 || !strings.Contains(body, "ready") {
		t.Fatalf("readyz: %d %q", resp.StatusCode, body)
	}
	for _, h := range []string{"Content-Security-Policy", "Strict-Transport-Security", "X-Content-Type-Options",
		"Referrer-Policy", "Permissions-Policy"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("missing %s", h)
		}
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if pp := resp.Header.Get("Permissions-Policy"); !strings.Contains(pp, "camera=(self)") || !strings.Contains(pp, "microphone=(self)") {
		t.Errorf("Permissions-Policy %q", pp)
	}
}

func TestLandingPageLanguages(t *testing.T) {
	b := startBox(t, testConfig(t))
	resp, body := get(t, b.client, b.url("/"), "Accept-Language", "en-GB,en;q=0.9")
	if resp.StatusCode != 200 || !strings.Contains(body, `<html lang="en">`) || !strings.Contains(body, "Welcome") {
		t.Fatalf("english landing: %d %s", resp.StatusCode, body)
	}
	_, body = get(t, b.client, b.url("/"), "Accept-Language", "sv-SE")
	if !strings.Contains(body, `<html lang="sv">`) || !strings.Contains(body, "Välkommen") {
		t.Fatalf("swedish landing: %s", body)
	}
	// An explicit choice is remembered in a cookie and beats the browser.
	resp, body = get(t, b.client, b.url("/?lang=en"), "Accept-Language", "sv-SE")
	if !strings.Contains(body, `<html lang="en">`) {
		t.Fatal("?lang=en ignored")
	}
	var cookie string
	for _, c := range resp.Cookies() {
		if c.Name == "lang" {
			cookie = c.Value
			if !c.Secure || !c.HttpOnly {
				t.Errorf("lang cookie flags: %+v", c)
			}
		}
	}
	if cookie != "en" {
		t.Fatalf("lang cookie %q", cookie)
	}
	_, body = get(t, b.client, b.url("/ca"), "Accept-Language", "sv-SE", "Cookie", "lang=en")
	if !strings.Contains(body, "Install the clinic") || !strings.Contains(body, b.certs.RootFingerprint()) {
		t.Fatalf("CA page: %s", body)
	}
	resp, body = get(t, b.client, b.url("/no/such/page"), "Accept-Language", "en")
	if resp.StatusCode != 404 || !strings.Contains(body, "does not exist") {
		t.Fatalf("404 page: %d %s", resp.StatusCode, body)
	}
}

func TestPlainHTTP(t *testing.T) {
	b := startBox(t, testConfig(t))
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	httpURL := "http://" + b.Addrs().HTTP

	resp, body := get(t, noRedirect, httpURL+"/ca.crt")
	if resp.StatusCode != 200 || !bytes.Equal([]byte(body), b.certs.RootCertPEM()) {
		t.Fatalf("ca.crt over HTTP: %d", resp.StatusCode)
	}
	resp, _ = get(t, noRedirect, httpURL+"/some/page?x=1")
	_, httpsPort, _ := net.SplitHostPort(b.Addrs().HTTPS)
	want := "https://127.0.0.1:" + httpsPort + "/some/page?x=1"
	if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
		t.Fatalf("redirect: %d %q, want %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	if resp.Header.Get("Strict-Transport-Security") != "" {
		t.Error("HSTS must not be sent over plain HTTP")
	}
}

func TestMetricsScrape(t *testing.T) {
	b := startBox(t, testConfig(t))
	get(t, b.client, b.url("/healthz"))
	resp, body := get(t, http.DefaultClient, "http://"+b.Addrs().Metrics+"/metrics")
	if resp.StatusCode != 200 {
		t.Fatalf("metrics: %d", resp.StatusCode)
	}
	for _, name := range []string{"clinicbox_build_info", "clinicbox_ready 1", "go_goroutines", "process_resident_memory_bytes",
		`clinicbox_http_request_duration_seconds_count{code="2xx",route="/healthz",server="https"}`,
		"clinicbox_storage_file_size_bytes", "clinicbox_tls_certificate_expiry_timestamp_seconds"} {
		if !strings.Contains(body, name) {
			t.Errorf("metrics lack %s", name)
		}
	}
}

func TestMetricsToken(t *testing.T) {
	cfg := testConfig(t)
	cfg.MetricsToken = "s3cret-token"
	b := startBox(t, cfg)
	url := "http://" + b.Addrs().Metrics + "/metrics"
	if resp, _ := get(t, http.DefaultClient, url); resp.StatusCode != 401 {
		t.Fatalf("no token: %d", resp.StatusCode)
	}
	if resp, _ := get(t, http.DefaultClient, url, "Authorization", "Bearer wrong"); resp.StatusCode != 401 {
		t.Fatalf("wrong token: %d", resp.StatusCode)
	}
	if resp, _ := get(t, http.DefaultClient, url, "Authorization", "Bearer s3cret-token"); resp.StatusCode != 200 {
		t.Fatalf("right token: %d", resp.StatusCode)
	}
}

func TestRestartKeepsCA(t *testing.T) {
	cfg := testConfig(t)
	b := startBox(t, cfg)
	root := b.certs.RootCertPEM()
	b.stop(t)
	b2 := startBox(t, cfg)
	if !bytes.Equal(root, b2.certs.RootCertPEM()) {
		t.Fatal("a restart must keep the CA root")
	}
	if resp, _ := get(t, b.client, b2.url("/healthz")); resp.StatusCode != 200 {
		t.Fatal("old trust must still work after a restart")
	}
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestSecondInstanceFails(t *testing.T) {
	cfg := testConfig(t)
	startBox(t, cfg)
	start := time.Now()
	_, err := New(cfg, quietLog())
	if !errors.Is(err, storage.ErrLocked) {
		t.Fatalf("want ErrLocked, got %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %v", d)
	}
	if !strings.Contains(err.Error(), cfg.DataDir) {
		t.Errorf("error does not name the path: %v", err)
	}
}

func TestPortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := testConfig(t)
	cfg.HTTPSAddr = busy.Addr().String()
	_, err = New(cfg, quietLog())
	if err == nil || !strings.Contains(err.Error(), busy.Addr().String()) || !strings.Contains(err.Error(), "HTTPS") {
		t.Fatalf("want an error naming %s, got %v", busy.Addr(), err)
	}
	// Everything opened before the failure is released: a retry on a free
	// port with the same data dir works.
	cfg.HTTPSAddr = "127.0.0.1:0"
	startBox(t, cfg)
}

func TestDataDirNotWritable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	os.WriteFile(file, []byte("x"), 0o600)
	cfg := testConfig(t)
	cfg.DataDir = filepath.Join(file, "data")
	_, err := New(cfg, quietLog())
	if err == nil || !strings.Contains(err.Error(), cfg.DataDir) {
		t.Fatalf("want an error naming %s, got %v", cfg.DataDir, err)
	}
}

func TestCorruptDatabaseIsNeverOverwritten(t *testing.T) {
	cfg := testConfig(t)
	path := filepath.Join(cfg.DataDir, DatabaseFile)
	garbage := bytes.Repeat([]byte("not a bbolt file "), 1000)
	os.WriteFile(path, garbage, 0o600)
	before := sha256.Sum256(garbage)
	_, err := New(cfg, quietLog())
	if !errors.Is(err, storage.ErrCorrupt) {
		t.Fatalf("want ErrCorrupt, got %v", err)
	}
	after, _ := os.ReadFile(path)
	if sha256.Sum256(after) != before {
		t.Fatal("the corrupt database was changed")
	}
}
