package web

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"clinicbox/appliance/identity"
	"clinicbox/appliance/identity/personnummer"
)

// InviteTTL is how long an invitation link works.
const InviteTTL = 7 * 24 * time.Hour

func (s *Server) inviteRoutes() {
	s.route("GET /invite", Roles(identity.RoleStaff, identity.RoleAdmin), s.invitePage)
	s.route("POST /invite", Roles(identity.RoleStaff, identity.RoleAdmin), s.inviteCreate)
	s.route("GET /invite/{token}", Public, s.acceptPage)
	s.route("POST /invite/{token}", Public, s.acceptSubmit)
}

type invitePageData struct {
	Units []identity.Unit
	Link  string
}

// inviteUnits are the units a staff member may invite to: their own, or
// every unit for an admin or a staff member not yet placed in one.
func (s *Server) inviteUnits(u identity.User) ([]identity.Unit, error) {
	all, err := s.opts.Identity.Units()
	if err != nil || u.Role == identity.RoleAdmin || len(u.Units) == 0 {
		return all, err
	}
	var mine []identity.Unit
	for _, unit := range all {
		if slices.Contains(u.Units, unit.ID) {
			mine = append(mine, unit)
		}
	}
	return mine, nil
}

func (s *Server) invitePage(w http.ResponseWriter, r *http.Request) {
	s.renderInvite(w, r, http.StatusOK, s.form(r, nil), "")
}

func (s *Server) renderInvite(w http.ResponseWriter, r *http.Request, status int, f formData, link string) {
	units, err := s.inviteUnits(authOf(r).user)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	f.Extra = &invitePageData{Units: units, Link: link}
	s.render(w, r, status, "invite", "invite.title", f)
}

// inviteCreate makes a pending client or relative and a link, valid for
// seven days, that the staff member hands over. Staff type only a name:
// the person enters their own contact details when accepting. (Delivery
// by e-mail or SMS comes with notifications, and then the address typed
// here is used for that one message and not stored.)
func (s *Server) inviteCreate(w http.ResponseWriter, r *http.Request) {
	a := authOf(r)
	f := s.form(r, nil)
	f.Values["name"] = strings.TrimSpace(r.PostFormValue("name"))
	f.Values["role"] = r.PostFormValue("role")
	f.Values["unit"] = r.PostFormValue("unit")
	f.Values["pnr"] = strings.TrimSpace(r.PostFormValue("pnr"))
	role := identity.Role(f.Values["role"])
	if role != identity.RoleClient && role != identity.RoleRelative {
		f.Error, f.Field = "invite.role.bad", "role"
		s.renderInvite(w, r, http.StatusUnprocessableEntity, f, "")
		return
	}
	var pnr personnummer.Number
	if f.Values["pnr"] != "" {
		var err error
		if pnr, err = personnummer.Parse(f.Values["pnr"], time.Now()); err != nil {
			f.Error, f.Field = pnrErrorKey(err), "pnr"
			s.renderInvite(w, r, http.StatusUnprocessableEntity, f, "")
			return
		}
		if _, err := s.opts.Identity.UserByPersonnummer(pnr); err == nil {
			f.Error, f.Field = "pnr.taken", "pnr"
			s.renderInvite(w, r, http.StatusUnprocessableEntity, f, "")
			return
		}
	}
	var units []uint64
	if f.Values["unit"] != "" {
		id, err := strconv.ParseUint(f.Values["unit"], 10, 64)
		allowed, _ := s.inviteUnits(a.user)
		if err != nil || !slices.ContainsFunc(allowed, func(u identity.Unit) bool { return u.ID == id }) {
			f.Error, f.Field = "invite.unit.bad", "unit"
			s.renderInvite(w, r, http.StatusUnprocessableEntity, f, "")
			return
		}
		units = []uint64{id}
	}
	u, err := s.opts.Identity.CreateUser(role, identity.Profile{Name: f.Values["name"]}, units)
	if err != nil {
		var fe *identity.FieldError
		if errors.As(err, &fe) {
			f.Error, f.Field = errorKey(err), fe.Field
			s.renderInvite(w, r, http.StatusUnprocessableEntity, f, "")
			return
		}
		s.serverError(w, r, err)
		return
	}
	if !pnr.IsZero() {
		if err := s.opts.Identity.RecordPersonnummer(u.ID, pnr); err != nil {
			s.serverError(w, r, err)
			return
		}
	}
	tok, err := s.opts.Identity.NewToken(identity.TokenInvite, u.ID, InviteTTL)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.log.Info("invitation created", "actor", a.user.ID, "user", u.ID, "role", string(role))
	s.renderInvite(w, r, http.StatusCreated, s.form(r, nil), "https://"+r.Host+"/invite/"+tok)
}

// acceptData is the invitation page's data.
type acceptData struct {
	Name string
	EID  bool // offer eID (BankID / Freja) instead of a password
	Link string
}

func (s *Server) acceptPage(w http.ResponseWriter, r *http.Request) {
	tok := r.PathValue("token")
	u, ok := s.linkUser(w, r, identity.TokenInvite, tok)
	if !ok {
		return
	}
	s.render(w, r, http.StatusOK, "invite-accept", "accept.title", s.form(r, &acceptData{Name: u.Profile.Name, EID: s.eidEnabled(), Link: tok}))
}

// acceptSubmit: the invited person gives their e-mail address (their
// login, and where the clinic's notifications go) and a password. Then
// the terms.
func (s *Server) acceptSubmit(w http.ResponseWriter, r *http.Request) {
	tok := r.PathValue("token")
	u, ok := s.linkUser(w, r, identity.TokenInvite, tok)
	if !ok {
		return
	}
	f := s.form(r, &acceptData{Name: u.Profile.Name, EID: s.eidEnabled(), Link: tok})
	f.Values["email"] = strings.TrimSpace(r.PostFormValue("email"))
	pw, again := r.PostFormValue("password"), r.PostFormValue("password2")
	fail := func(key, field string) {
		f.Error, f.Field = key, field
		s.render(w, r, http.StatusUnprocessableEntity, "invite-accept", "accept.title", f)
	}
	if f.Values["email"] == "" {
		fail("form.email", "email")
		return
	}
	if pw != again {
		fail("setup.mismatch", "password2")
		return
	}
	if err := s.opts.Identity.UpdateContact(u.ID, f.Values["email"], u.Profile.Phone); err != nil {
		fail(errorKey(err), "email")
		return
	}
	if err := s.opts.Identity.SetPassword(u.ID, pw); err != nil {
		fail(errorKey(err), "password")
		return
	}
	if _, err := s.opts.Identity.UseToken(identity.TokenInvite, tok); err != nil {
		s.tokenProblem(w, r, err)
		return
	}
	u, err := s.opts.Identity.User(u.ID)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	stok, _, err := s.opts.Identity.StartSession(u, true)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	setSessionCookie(w, stok)
	http.Redirect(w, r, "/terms", http.StatusSeeOther)
}

// pnrErrorKey maps a personnummer parse error to its message.
func pnrErrorKey(err error) string {
	switch {
	case errors.Is(err, personnummer.ErrDate):
		return "pnr.date"
	case errors.Is(err, personnummer.ErrChecksum):
		return "pnr.checksum"
	case errors.Is(err, personnummer.ErrFuture):
		return "pnr.future"
	}
	return "pnr.format"
}

// eidEnabled reports whether eID login is configured.
func (s *Server) eidEnabled() bool { return s.opts.EID != nil }
