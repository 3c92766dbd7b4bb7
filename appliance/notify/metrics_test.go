package notify_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"clinicbox/appliance/notify"
	"clinicbox/internal/testenv"
)

// TestMetricsLint scrapes the notifier's metrics and lints them with
// Prometheus' own promtool.
func TestMetricsLint(t *testing.T) {
	n := startNotifier(t, notify.Config{}, nil, nil)
	reg := prometheus.NewRegistry()
	reg.MustRegister(n.Collector())
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(b)
	for _, want := range []string{`clinicbox_notify_sent_total{channel="email"} 0`, `clinicbox_notify_sent_total{channel="sms"} 0`,
		`clinicbox_notify_failed_total{channel="email"} 0`, `clinicbox_notify_failed_total{channel="sms"} 0`, "clinicbox_notify_debounced_total 0"} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q:\n%s", want, body)
		}
	}
	promtool, err := exec.LookPath("promtool")
	testenv.Require(t, err == nil, "promtool (apt-get install prometheus)")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}
