package storage

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"go.etcd.io/bbolt"
)

// scrape gathers reg into name → "label=value" (or "") → value; a
// histogram's value is its sample count.
func scrape(t *testing.T, reg *prometheus.Registry) map[string]map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]float64{}
	for _, mf := range mfs {
		series := map[string]float64{}
		for _, m := range mf.Metric {
			key := ""
			for _, l := range m.Label {
				key += l.GetName() + "=" + l.GetValue()
			}
			switch {
			case m.Counter != nil:
				series[key] = m.Counter.GetValue()
			case m.Gauge != nil:
				series[key] = m.Gauge.GetValue()
			case m.Histogram != nil:
				series[key] = float64(m.Histogram.GetSampleCount())
			}
		}
		out[mf.GetName()] = series
	}
	return out
}

func TestMetrics(t *testing.T) {
	path := dbPath(t)
	db := openTest(t, path, Options{})
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(db.Collector()); err != nil {
		t.Fatal(err)
	}

	if err := db.Update(fillRecords("data", 5000, 500)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		_ = db.View(func(*bbolt.Tx) error { return nil })
	}
	_ = db.Batch(func(*bbolt.Tx) error { return nil })

	got := scrape(t, reg)
	if len(got) != 5 {
		t.Errorf("metric families: %v", got)
	}
	for _, name := range []string{"clinicbox_storage_transactions_total", "clinicbox_storage_transaction_duration_seconds"} {
		want := map[string]float64{"kind=read": 2, "kind=write": 1, "kind=batch": 1}
		if len(got[name]) != len(want) {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
		for k, v := range want {
			if got[name][k] != v {
				t.Errorf("%s{%s} = %v, want %v", name, k, got[name][k], v)
			}
		}
	}
	if v := got["clinicbox_storage_schema_version"][""]; v != float64(len(Migrations())) {
		t.Errorf("schema_version = %v", v)
	}
	fileSize := got["clinicbox_storage_file_size_bytes"][""]
	inUse := got["clinicbox_storage_in_use_bytes"][""]
	fi, _ := os.Stat(path)
	if fileSize != float64(fi.Size()) || inUse < 5000*500 || inUse > fileSize {
		t.Errorf("file size %v (stat %d), in use %v", fileSize, fi.Size(), inUse)
	}

	// Deleting frees pages: in use drops, the file does not shrink.
	if err := db.Update(func(tx *bbolt.Tx) error { return tx.DeleteBucket([]byte("data")) }); err != nil {
		t.Fatal(err)
	}
	got = scrape(t, reg)
	if fileSize2, inUse2 := got["clinicbox_storage_file_size_bytes"][""], got["clinicbox_storage_in_use_bytes"][""]; fileSize2 != fileSize || inUse2 > inUse/10 {
		t.Errorf("after deleting: file size %v (was %v), in use %v (was %v)", fileSize2, fileSize, inUse2, inUse)
	}

	// The same linter as `promtool check metrics`.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if problems, err := promlint.NewWithMetricFamilies(mfs).Lint(); err != nil || len(problems) != 0 {
		t.Errorf("lint: %v %v", problems, err)
	}

	// After Close a scrape still works; the sizes are just left out.
	db.Close()
	if _, ok := scrape(t, reg)["clinicbox_storage_in_use_bytes"]; ok {
		t.Error("in_use reported after Close")
	}
}

// The CI lints the appliance's metrics with promtool; run it here too
// when it is installed.
func TestMetricsPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed")
	}
	db := openTest(t, dbPath(t), Options{})
	_ = db.View(func(*bbolt.Tx) error { return nil })
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(db.Collector())
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(rec.Body.Bytes())
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("promtool check metrics: %v\n%s\n--- input:\n%s", err, out, rec.Body.Bytes())
	}
}
