package certs

import "github.com/prometheus/client_golang/prometheus"

// Collector returns the Manager's metrics for the box's own registry:
//
//	clinicbox_tls_certificate_expiry_timestamp_seconds  gauge, no labels:
//	    when the first of the box's certificates expires; 0 while a name
//	    has none, so "expires within N days" alerts fire then too.
//	clinicbox_tls_certificate_renewals_total{result="success|failure"}
//	    every attempt to obtain, renew or (files mode) reload one.
//
// Names are deliberately not labels: a fleet dashboard needs "is this box
// about to break", and the admin UI has the details.
func (m *Manager) Collector() prometheus.Collector { return collector{m} }

type collector struct{ m *Manager }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.m.expiryDesc
	c.m.renewals.Describe(ch)
}

// Collect computes the expiry at scrape time from the certificates in
// service, so it can never disagree with what handshakes get.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	v := 0.0
	if t := c.m.earliestExpiry(); !t.IsZero() {
		v = float64(t.Unix())
	}
	ch <- prometheus.MustNewConstMetric(c.m.expiryDesc, prometheus.GaugeValue, v)
	c.m.renewals.Collect(ch)
}
