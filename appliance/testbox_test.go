package appliance

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"clinicbox/appliance/config"
)

// testBox is a whole appliance on loopback ports with its own data dir.
type testBox struct {
	*Appliance
	cfg    config.Config
	cancel context.CancelFunc
	done   chan error
	client *http.Client // trusts the box's own CA
}

func testConfig(t testing.TB) config.Config {
	cfg := config.Defaults(func(string) string { return "" })
	cfg.DataDir = t.TempDir()
	cfg.HTTPSAddr = "127.0.0.1:0"
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.MetricsAddr = "127.0.0.1:0"
	cfg.TURNAddr = "127.0.0.1:0"
	cfg.Hostnames = []string{"localhost", "127.0.0.1"}
	return cfg
}

func startBox(t testing.TB, cfg config.Config) *testBox {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	a, err := New(cfg, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &testBox{Appliance: a, cfg: cfg, cancel: cancel, done: make(chan error, 1)}
	go func() { b.done <- a.Run(ctx) }()
	t.Cleanup(func() { b.stop(t) })

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(a.certs.RootCertPEM())
	b.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	// Run reports ready through systemd; here we poll /readyz.
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := b.client.Get(b.url("/readyz"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return b
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("box not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (b *testBox) url(path string) string { return "https://" + b.Addrs().HTTPS + path }

func (b *testBox) stop(t testing.TB) {
	if b.cancel == nil {
		return
	}
	b.cancel()
	b.cancel = nil
	select {
	case err := <-b.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Error("Run did not return within 15s of cancel")
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }
