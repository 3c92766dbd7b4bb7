package web

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"sync"

	"clinicbox/appliance/identity"
)

// firstRun guards the page that creates the first administrator of a new
// box. Its one-time code is printed to the log (the journal) at start, so
// only someone who can read the box's log can claim it; it lives in
// memory only and is gone once an administrator exists.
type firstRun struct {
	mu   sync.Mutex
	code string // "" when there is nothing to set up
}

// codeAlphabet has no look-alike characters (0/O, 1/l/I).
const codeAlphabet = "abcdefghjkmnpqrstuvwxyz23456789"

func newFirstRunCode() string {
	b := make([]byte, 12)
	rand.Read(b)
	for i := range b {
		b[i] = codeAlphabet[int(b[i])%len(codeAlphabet)]
	}
	return string(b[:4]) + "-" + string(b[4:8]) + "-" + string(b[8:])
}

// startFirstRun makes a code when the box has no administrator.
func (s *Server) startFirstRun() {
	n, err := s.opts.Identity.CountAdmins()
	if err != nil || n > 0 {
		return
	}
	s.firstRun.code = newFirstRunCode()
	// The code is meant to be read from the log: that is its whole point.
	s.log.Warn("this box has no administrator yet: open https://<this box>/first-run and enter the one-time code",
		"first_run_code", s.firstRun.code)
}

func (s *Server) firstRunRoutes() {
	s.route("GET /first-run", Public, s.firstRunPage)
	s.route("POST /first-run", Public, s.firstRunSubmit)
}

func (s *Server) firstRunOpen() bool {
	s.firstRun.mu.Lock()
	defer s.firstRun.mu.Unlock()
	return s.firstRun.code != ""
}

func (s *Server) firstRunPage(w http.ResponseWriter, r *http.Request) {
	if !s.firstRunOpen() {
		s.renderError(w, r, http.StatusNotFound)
		return
	}
	s.render(w, r, http.StatusOK, "first-run", "firstrun.title", s.form(r, nil))
}

func (s *Server) firstRunSubmit(w http.ResponseWriter, r *http.Request) {
	f := s.form(r, nil)
	f.Values["name"] = strings.TrimSpace(r.PostFormValue("name"))
	f.Values["email"] = strings.TrimSpace(r.PostFormValue("email"))
	keys := s.throttleKeys(r, "first-run")
	if wait := s.throttle.Check(keys...); wait > 0 {
		f.Error, f.Wait = "login.throttled", humanWait(wait, langOf(w, r))
		s.render(w, r, http.StatusTooManyRequests, "first-run", "firstrun.title", f)
		return
	}
	s.firstRun.mu.Lock()
	defer s.firstRun.mu.Unlock()
	if s.firstRun.code == "" {
		s.renderError(w, r, http.StatusNotFound)
		return
	}
	typed := strings.ToLower(strings.Join(strings.Fields(r.PostFormValue("code")), ""))
	if subtle.ConstantTimeCompare([]byte(typed), []byte(s.firstRun.code)) != 1 {
		s.throttle.Fail(keys...)
		f.Error, f.Field = "firstrun.code.bad", "code"
		s.render(w, r, http.StatusUnauthorized, "first-run", "firstrun.title", f)
		return
	}
	u, err := s.opts.Identity.CreateUser(identity.RoleAdmin, identity.Profile{Name: f.Values["name"], Email: f.Values["email"]}, nil)
	if err != nil {
		var fe *identity.FieldError
		if errors.As(err, &fe) || errors.Is(err, identity.ErrEmailTaken) {
			f.Error, f.Field = errorKey(err), "email"
			if fe != nil {
				f.Field = fe.Field
			}
			s.render(w, r, http.StatusUnprocessableEntity, "first-run", "firstrun.title", f)
			return
		}
		s.serverError(w, r, err)
		return
	}
	tok, err := s.opts.Identity.NewToken(identity.TokenSetup, u.ID, SetupLinkTTL)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.firstRun.code = ""
	s.log.Info("first administrator created", "user", u.ID)
	http.Redirect(w, r, "/setup/"+tok, http.StatusSeeOther)
}
