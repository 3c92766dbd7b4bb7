package storage

import (
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/bbolt"
)

// Transaction kinds, the only label.
const (
	kindRead = iota
	kindWrite
	kindBatch
	numKinds
)

func kindName(kind int) string {
	return [numKinds]string{kindRead: "read", kindWrite: "write", kindBatch: "batch"}[kind]
}

// collector exports the database's metrics. Counters live here, per DB,
// so that tests can run many databases side by side; sizes are read at
// scrape time.
type collector struct {
	db *DB

	txTotal    *prometheus.CounterVec
	txDuration *prometheus.HistogramVec
	counters   [numKinds]prometheus.Counter
	observers  [numKinds]prometheus.Observer

	fileSize *prometheus.Desc
	inUse    *prometheus.Desc
	schema   *prometheus.Desc
}

var _ prometheus.Collector = (*collector)(nil)

func newCollector(db *DB) *collector {
	c := &collector{
		db: db,
		txTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clinicbox_storage_transactions_total",
			Help: "Database transactions run, by kind (read, write, batch).",
		}, []string{"kind"}),
		txDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "clinicbox_storage_transaction_duration_seconds",
			Help: "Time from calling View, Update or Batch to its return, by kind; write and batch include the fsync, batch the wait for its batch.",
			// From in-memory reads (tens of µs) to fsyncs on a slow SD card.
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"kind"}),
		fileSize: prometheus.NewDesc("clinicbox_storage_file_size_bytes",
			"Size of the database file on disk.", nil, nil),
		inUse: prometheus.NewDesc("clinicbox_storage_in_use_bytes",
			"Bytes of the database file holding live pages (pages in use minus free and pending pages); file size minus this is what compaction could reclaim.", nil, nil),
		schema: prometheus.NewDesc("clinicbox_storage_schema_version",
			"Schema version of the open database.", nil, nil),
	}
	// Resolve the children once: the hot path then skips the label lookup,
	// and every kind is exported from the start, at zero.
	for k := range numKinds {
		c.counters[k] = c.txTotal.WithLabelValues(kindName(k))
		c.observers[k] = c.txDuration.WithLabelValues(kindName(k))
	}
	return c
}

func (c *collector) observe(kind int, start time.Time) {
	c.counters[kind].Inc()
	c.observers[kind].Observe(time.Since(start).Seconds())
}

// Collector returns the database's metrics, for a registry of the
// appliance's own (one per DB: register it once).
func (db *DB) Collector() prometheus.Collector { return db.metrics }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	c.txTotal.Describe(ch)
	c.txDuration.Describe(ch)
	ch <- c.fileSize
	ch <- c.inUse
	ch <- c.schema
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.txTotal.Collect(ch)
	c.txDuration.Collect(ch)
	ch <- prometheus.MustNewConstMetric(c.schema, prometheus.GaugeValue, float64(c.db.schema))
	if fi, err := os.Stat(c.db.path); err == nil {
		ch <- prometheus.MustNewConstMetric(c.fileSize, prometheus.GaugeValue, float64(fi.Size()))
	}
	if n, ok := c.db.inUseBytes(); ok {
		ch <- prometheus.MustNewConstMetric(c.inUse, prometheus.GaugeValue, float64(n))
	}
}

// inUseBytes is the high-water mark of the file's pages minus the pages on
// the freelist (free now, or pending until older readers finish). Its
// short read transaction is not counted in the metrics.
func (db *DB) inUseBytes() (int64, bool) {
	var size int64
	if err := db.bolt.View(func(tx *bbolt.Tx) error {
		size = tx.Size()
		return nil
	}); err != nil {
		return 0, false // closed
	}
	st := db.bolt.Stats()
	free := int64(st.FreePageN+st.PendingPageN) * int64(db.bolt.Info().PageSize)
	return max(size-free, 0), true
}
