package web

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// contentSecurityPolicy allows nothing inline and nothing from elsewhere.
// connect-src 'self' covers the box's own WebSocket (CSP level 3).
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; " +
	"form-action 'self'; frame-ancestors 'none'"

// permissionsPolicy lets only the box's own pages use camera, microphone
// and screen sharing (for video calls) and nothing else.
const permissionsPolicy = "camera=(self), microphone=(self), display-capture=(self), fullscreen=(self), " +
	"geolocation=(), payment=(), usb=(), serial=(), bluetooth=(), midi=(), interest-cohort=()"

// middleware wraps h in the layers every response goes through, outermost
// first: panic recovery, security headers, metrics and the request log.
// The page language is negotiated only where a page is rendered.
func (s *Server) middleware(h http.Handler, overTLS bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		setSecurityHeaders(rec.Header(), overTLS)
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				// The panic value may hold request data: log only its type.
				s.log.Error("handler panicked", "route", routeOf(r), "panic_type", typeName(p))
				if !rec.wrote {
					s.renderError(rec, r, http.StatusInternalServerError)
				}
			}
			s.observe(r, rec, start, overTLS)
		}()
		h.ServeHTTP(rec, r)
	})
}

// securityHeaders go on every response. The keys are already canonical
// and the value slices are shared (Header.Set replaces a slice, it never
// writes into one), so a request costs no header allocations.
var securityHeaders = [][2]string{
	{"Content-Security-Policy", contentSecurityPolicy},
	{"X-Content-Type-Options", "nosniff"},
	{"X-Frame-Options", "DENY"},
	{"Referrer-Policy", "no-referrer"},
	{"Permissions-Policy", permissionsPolicy},
	{"Cross-Origin-Opener-Policy", "same-origin"},
	{"Cross-Origin-Resource-Policy", "same-origin"},
}

var securityHeaderValues = func() map[string][]string {
	m := map[string][]string{}
	for _, kv := range securityHeaders {
		m[kv[0]] = []string{kv[1]}
	}
	return m
}()

// hsts is one year; no includeSubDomains, which could break other hosts of
// the clinic's domain.
var hsts = []string{"max-age=31536000"}

func setSecurityHeaders(h http.Header, overTLS bool) {
	for k, v := range securityHeaderValues {
		h[k] = v
	}
	if overTLS {
		h["Strict-Transport-Security"] = hsts
	}
}

// observe records the request in the metrics and the request log. Neither
// carries the URL, query, client address or user agent: the route pattern
// is enough to find a problem and is never personal data.
func (s *Server) observe(r *http.Request, rec *statusRecorder, start time.Time, overTLS bool) {
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	elapsed := time.Since(start)
	route := routeOf(r)
	server := "http"
	if overTLS {
		server = "https"
	}
	s.metrics.duration.WithLabelValues(server, route, statusClass(status)).Observe(elapsed.Seconds())
	level := slog.LevelDebug
	if status >= 500 {
		level = slog.LevelWarn
	}
	if !s.log.Enabled(r.Context(), level) {
		return
	}
	s.log.Log(r.Context(), level, "request", "server", server, "method", r.Method, "route", route,
		"status", status, "bytes", rec.bytes, "duration_ms", float64(elapsed.Microseconds())/1000)
}

func routeOf(r *http.Request) string {
	if r.Pattern == "" {
		return "unmatched"
	}
	// "GET /static/" → "/static/": the method is its own label.
	if _, path, ok := strings.Cut(r.Pattern, " "); ok {
		return path
	}
	return r.Pattern
}

func statusClass(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code/100) + "xx"
}

func typeName(v any) string {
	switch v.(type) {
	case error:
		return "error"
	case string:
		return "string"
	default:
		return "other"
	}
}

// statusRecorder remembers the status and size of a response.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status = code
		r.wrote = true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if !r.wrote {
		r.status = http.StatusOK
		r.wrote = true
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and Hijack (WebSockets).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

type httpMetrics struct {
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) (*httpMetrics, error) {
	m := &httpMetrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "clinicbox_http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by server, route pattern and status class.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
		}, []string{"server", "route", "code"}),
	}
	if reg != nil {
		if err := reg.Register(m.duration); err != nil {
			return nil, err
		}
	}
	return m, nil
}
