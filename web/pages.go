package web

import (
	"bytes"
	"context"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"clinicbox/web/i18n"
	"clinicbox/web/ui"
)

// parsePages parses every templates/<name>.html page, each rendered
// inside layout.html.
func parsePages() (map[string]*template.Template, error) {
	files, err := fs.Glob(ui.Files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(f, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.New(name).ParseFS(ui.Files, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		pages[name] = t
	}
	return pages, nil
}

// pageData is what every template gets.
type pageData struct {
	Page    string
	Title   string
	L       *i18n.Localizer
	Version string
	Data    any
	// LoggedIn loads the live connection (presence) on the page.
	LoggedIn bool
}

// render writes a whole page. It renders into a buffer first so that a
// template error becomes a clean 500 page, not half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page, titleKey string, data any) {
	l := s.catalogs.For(langOf(w, r))
	var buf bytes.Buffer
	err := s.pages[page].ExecuteTemplate(&buf, "layout", pageData{
		Page: page, Title: l.T(titleKey), L: l, Version: s.opts.Version, Data: data, LoggedIn: authOf(r) != nil,
	})
	if err != nil {
		s.log.Error("rendering page failed", "page", page, "err", err)
		http.Error(w, "Internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Language", l.Code)
	h.Set("Cache-Control", "no-store")
	h.Add("Vary", "Accept-Language, Cookie")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// langOf picks the page language; an explicit ?lang= switch is
// remembered in a cookie for the pages that follow.
func langOf(w http.ResponseWriter, r *http.Request) string {
	lang, explicit := i18n.Negotiate(r)
	if explicit {
		http.SetCookie(w, &http.Cookie{Name: i18n.CookieName, Value: lang, Path: "/", MaxAge: 365 * 24 * 3600,
			Secure: r.TLS != nil, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
	return lang
}

func (s *Server) renderError(w http.ResponseWriter, r *http.Request, status int) {
	msg := "error.internal"
	if status == http.StatusNotFound {
		msg = "error.notfound"
	}
	s.render(w, r, status, "error", "error.title", struct{ Message string }{msg})
}

// renderMessage shows a short page: a heading and one sentence.
func (s *Server) renderMessage(w http.ResponseWriter, r *http.Request, status int, titleKey, msgKey string) {
	s.render(w, r, status, "message", titleKey, struct{ Message string }{msgKey})
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.renderError(w, r, http.StatusNotFound)
}

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	problem := ""
	if err := s.ready(r.Context()); err != nil {
		problem = err.Error()
	}
	s.render(w, r, http.StatusOK, "home", "home.title", struct {
		Problem    string
		HasLocalCA bool
	}{problem, s.rootPEM() != nil})
}

// caPlatforms are the install guides on the CA page, in display order.
var caPlatforms = []string{"windows", "mac", "ios", "android", "firefox"}

func (s *Server) caPage(w http.ResponseWriter, r *http.Request) {
	fp := ""
	if s.opts.Certs != nil {
		fp = s.opts.Certs.RootFingerprint()
	}
	s.render(w, r, http.StatusOK, "ca", "ca.title", struct {
		HasLocalCA  bool
		Fingerprint string
		Platforms   []string
	}{s.rootPEM() != nil, fp, caPlatforms})
}

func (s *Server) rootPEM() []byte {
	if s.opts.Certs == nil {
		return nil
	}
	return s.opts.Certs.RootCertPEM()
}

// caCert serves the local CA root. It is public by nature (only the
// private key is secret), so it is served over plain HTTP too, which is
// how a device that does not trust the box yet can fetch it.
func (s *Server) caCert(w http.ResponseWriter, r *http.Request) {
	pem := s.rootPEM()
	if pem == nil {
		s.renderError(w, r, http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/x-x509-ca-cert")
	w.Header().Set("Content-Disposition", `attachment; filename="clinicbox-ca.crt"`)
	w.Write(pem)
}

// healthz answers as long as the process can serve HTTP at all.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write([]byte("ok\n"))
}

// readyz answers 200 only when storage and certificates work, so a load
// balancer or the systemd watchdog can tell a wedged box.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.ready(r.Context()); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("not ready: " + err.Error() + "\n"))
		return
	}
	w.Write([]byte("ready\n"))
}

func (s *Server) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return s.opts.Ready(ctx)
}

// staticHandler serves the embedded assets with a validator so browsers
// revalidate cheaply; the files change only with the binary.
func staticHandler(fsys fs.FS) http.Handler {
	fileServer := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" || r.URL.Path[len(r.URL.Path)-1] == '/' {
			http.NotFound(w, r) // no directory listings
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fileServer.ServeHTTP(w, r)
	})
}
