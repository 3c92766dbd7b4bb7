package web

import (
	"net/http/httptest"
	"testing"
)

// BenchmarkHealthzHandler is the cost of the middleware chain and routing
// for the cheapest route, without TLS or the network.
func BenchmarkHealthzHandler(b *testing.B) {
	s, _ := newTestServer(&testing.T{}, nil)
	h := s.Handler()
	req := httptest.NewRequest("GET", "/healthz", nil)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}
