package web

import (
	"errors"
	"net/http"
	"time"

	"clinicbox/appliance/identity"
)

func (s *Server) myDataRoutes() {
	s.route("GET /account/data", AnyUser, s.myDataPage)
	s.route("GET /api/v1/me/export", AnyUser, s.myExport)
	s.route("POST /account/delete", AnyUser, s.deleteAccount)
}

// freshLogin is how recent a login must be to delete an account without
// a password (eID users).
const freshLogin = 15 * time.Minute

func (s *Server) myDataPage(w http.ResponseWriter, r *http.Request) {
	u := authOf(r).user
	s.render(w, r, http.StatusOK, "mydata", "mydata.title", s.form(r, struct{ HasPassword bool }{u.HasPassword}))
}

// myExport streams everything about the requester as a ZIP: data.json and
// their files (docs/EXPORT.md).
func (s *Server) myExport(w http.ResponseWriter, r *http.Request) {
	if s.opts.Export == nil {
		s.renderError(w, r, http.StatusNotFound)
		return
	}
	u := authOf(r).user
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", `attachment; filename="clinicbox-my-data.zip"`)
	w.Header().Set("Cache-Control", "no-store")
	if err := s.opts.Export(r.Context(), w, u.ID); err != nil {
		// Headers are gone; the truncated ZIP fails to open, and the log says why.
		s.log.Error("export failed", "user", u.ID, "err", err)
	}
}

// deleteAccount erases the requester's account after a fresh
// authentication: their password, or a login within the last minutes.
func (s *Server) deleteAccount(w http.ResponseWriter, r *http.Request) {
	a := authOf(r)
	fail := func(key, field string) {
		f := s.form(r, struct{ HasPassword bool }{a.user.HasPassword})
		f.Error, f.Field = key, field
		s.render(w, r, http.StatusUnprocessableEntity, "mydata", "mydata.title", f)
	}
	if r.PostFormValue("confirm") != "yes" {
		fail("mydata.delete.tick", "confirm")
		return
	}
	if a.user.HasPassword {
		if _, err := s.opts.Identity.CheckPassword(a.user.Profile.Email, r.PostFormValue("password")); err != nil {
			fail("mydata.delete.password", "password")
			return
		}
	} else if time.Since(a.sess.CreatedAt) > freshLogin {
		fail("mydata.delete.fresh", "confirm")
		return
	}
	if s.opts.Erase == nil {
		s.renderError(w, r, http.StatusNotFound)
		return
	}
	if err := s.opts.Erase(a.user.ID); err != nil {
		if errors.Is(err, identity.ErrLastAdmin) {
			s.renderMessage(w, r, http.StatusConflict, "mydata.title", "staff.lastadmin")
			return
		}
		s.serverError(w, r, err)
		return
	}
	s.log.Info("account erased by its owner", "user", a.user.ID)
	clearSessionCookie(w)
	s.renderMessage(w, r, http.StatusOK, "mydata.title", "mydata.deleted")
}
