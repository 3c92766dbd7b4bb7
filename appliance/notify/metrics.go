package notify

import "github.com/prometheus/client_golang/prometheus"

// metrics are the notifier's counters, labelled by channel only: never a
// user or room id.
type metrics struct {
	sent      *prometheus.CounterVec
	failed    *prometheus.CounterVec
	debounced prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clinicbox_notify_sent_total",
			Help: "Notifications handed to the SMTP server or SMS gateway, by channel.",
		}, []string{"channel"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clinicbox_notify_failed_total",
			Help: "Notifications not delivered after every attempt (or dropped with the queue full), by channel.",
		}, []string{"channel"}),
		debounced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clinicbox_notify_debounced_total",
			Help: "Notifications not sent because the person was notified about the same room within the interval.",
		}),
	}
	// Both channels show from the start, so an alert on a rate of
	// failures has a series to look at.
	for _, ch := range []string{ChannelEmail, ChannelSMS} {
		m.sent.WithLabelValues(ch)
		m.failed.WithLabelValues(ch)
	}
	return m
}

func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	m.sent.Describe(ch)
	m.failed.Describe(ch)
	m.debounced.Describe(ch)
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.sent.Collect(ch)
	m.failed.Collect(ch)
	m.debounced.Collect(ch)
}

// Collector is the notifier's metrics, to register with the box's
// registry.
func (n *Notifier) Collector() prometheus.Collector { return n.m }

var _ prometheus.Collector = (*metrics)(nil)
