package web

import (
	"net/http"

	"clinicbox/appliance/identity"
)

// TermsVersion is the version of the terms of use and privacy policy in
// the catalogs (terms.*). Change it with the texts: every client and
// relative is then asked to accept again.
const TermsVersion = "2026-11-25"

// needsTerms reports whether a user must accept the current terms before
// anything else. Clients and relatives accept them (SPEC: before first
// use); staff work under their employment and the clinic's own rules.
func needsTerms(u identity.User) bool {
	return isClient(u) && u.TermsVersion != TermsVersion
}

func (s *Server) termsRoutes() {
	s.route("GET /terms", AnyUser, s.termsPage)
	s.route("POST /terms", AnyUser, s.termsSubmit)
}

func (s *Server) termsPage(w http.ResponseWriter, r *http.Request) {
	a := authOf(r)
	s.render(w, r, http.StatusOK, "terms", "terms.title", s.form(r, struct {
		Version  string
		Accepted string
		Needs    bool
	}{TermsVersion, a.user.TermsAccepted.Format("2006-01-02"), needsTerms(a.user)}))
}

// termsSubmit records acceptance (the version and the time), or ends the
// session of someone who declines: the service cannot be used without.
func (s *Server) termsSubmit(w http.ResponseWriter, r *http.Request) {
	a := authOf(r)
	if r.PostFormValue("decision") != "accept" {
		s.opts.Identity.EndSession(sessionToken(r))
		clearSessionCookie(w)
		s.renderMessage(w, r, http.StatusOK, "terms.title", "terms.declined")
		return
	}
	if r.PostFormValue("read") != "yes" {
		f := s.form(r, struct {
			Version  string
			Accepted string
			Needs    bool
		}{TermsVersion, "", true})
		f.Error, f.Field = "terms.tick", "read"
		s.render(w, r, http.StatusUnprocessableEntity, "terms", "terms.title", f)
		return
	}
	if err := s.opts.Identity.AcceptTerms(a.user.ID, TermsVersion); err != nil {
		s.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, "/start", http.StatusSeeOther)
}
