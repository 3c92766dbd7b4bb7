package appliance

import (
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"clinicbox/internal/testenv"
)

// TestPromtoolCheckMetrics lints a live scrape with Prometheus' own linter
// (Debian package prometheus): names, units, help texts, counter suffixes.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	testenv.Require(t, err == nil, "promtool (apt-get install prometheus)")
	b := startBox(t, testConfig(t))
	// Exercise the paths that create labelled series before scraping.
	get(t, b.client, b.url("/"))
	get(t, b.client, b.url("/missing"))
	get(t, b.client, "http://"+b.Addrs().HTTP+"/x")
	_, body := get(t, http.DefaultClient, "http://"+b.Addrs().Metrics+"/metrics")

	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestPromtoolCheckRules checks the fleet alerting rules shipped for
// technicians.
func TestPromtoolCheckRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	testenv.Require(t, err == nil, "promtool (apt-get install prometheus)")
	out, err := exec.Command(promtool, "check", "rules", "../image/prometheus/clinicbox.rules.yml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}
