package web

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"clinicbox/appliance/identity"
	"clinicbox/web/i18n"
)

func (s *Server) accountRoutes() {
	s.route("GET /account", AnyUser, s.accountPage)
	s.route("POST /account/contact", AnyUser, s.accountContact)
	s.route("POST /account/password", AnyUser, s.accountPassword)
	s.route("POST /account/language", AnyUser, s.accountLanguage)
	s.route("POST /account/notifications", AnyUser, s.accountNotifications)
	s.route("POST /account/units/leave", Roles(identity.RoleClient, identity.RoleRelative), s.accountLeaveUnit)
}

// accountLeaveUnit is "stop sharing with a unit": the client leaves the
// unit's contact list and its rooms (their messages stay for the others).
func (s *Server) accountLeaveUnit(w http.ResponseWriter, r *http.Request) {
	u := authOf(r).user
	unit, _ := strconv.ParseUint(r.PostFormValue("unit"), 10, 64)
	if !slices.Contains(u.Units, unit) {
		s.accountFail(w, r, "form.invalid", "unit")
		return
	}
	if s.opts.Rooms != nil {
		ms, err := s.opts.Rooms.Memberships(u.ID)
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		for _, m := range ms {
			if m.Room.UnitID == unit {
				if err := s.opts.Rooms.Leave(actorOf(r), m.Room.ID); err != nil {
					s.serverError(w, r, err)
					return
				}
			}
		}
	}
	rest := slices.DeleteFunc(slices.Clone(u.Units), func(id uint64) bool { return id == unit })
	if err := s.opts.Identity.SetUnits(u.ID, rest); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.log.Info("stopped sharing with a unit", "user", u.ID, "unit", unit)
	http.Redirect(w, r, "/account?done=unit", http.StatusSeeOther)
}

// accountNotifications saves how the user wants to hear that something
// waits: e-mail and/or SMS, to the details they gave themselves.
func (s *Server) accountNotifications(w http.ResponseWriter, r *http.Request) {
	err := s.opts.Identity.SetNotifyChannels(authOf(r).user.ID, r.PostFormValue("email") == "yes", r.PostFormValue("sms") == "yes")
	if err != nil {
		var fe *identity.FieldError
		if errors.As(err, &fe) {
			s.accountFail(w, r, "account.notify.missing", "notify-"+fe.Field)
			return
		}
		s.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, "/account?done=notifications", http.StatusSeeOther)
}

type accountData struct {
	Name        string
	NameFromEID bool
	Role        string
	Masked      string // personnummer, masked
	HasTOTP     bool
	Lang        string
	NotifyEmail bool
	NotifySMS   bool
	Units       []identity.Unit // for clients: the units they share with
	Notice      string          // an i18n key
}

func (s *Server) accountData(u identity.User, notice string) *accountData {
	d := &accountData{Name: u.Profile.Name, NameFromEID: u.Profile.NameFromEID, Role: string(u.Role),
		HasTOTP: u.HasTOTP, Lang: u.Lang, Notice: notice, NotifyEmail: u.NotifyEmail, NotifySMS: u.NotifySMS}
	if isClient(u) {
		all, _ := s.opts.Identity.Units()
		for _, unit := range all {
			if slices.Contains(u.Units, unit.ID) {
				d.Units = append(d.Units, unit)
			}
		}
	}
	if p := u.Profile.Personnummer; len(p) == 12 {
		d.Masked = p[:8] + "-****"
	}
	return d
}

func (s *Server) accountPage(w http.ResponseWriter, r *http.Request) {
	a := authOf(r)
	notice := r.URL.Query().Get("done")
	switch notice {
	case "contact", "password", "language", "notifications", "unit":
		notice = "account.done." + notice
	default:
		notice = ""
	}
	f := s.form(r, s.accountData(a.user, notice))
	f.Values["email"], f.Values["phone"] = a.user.Profile.Email, a.user.Profile.Phone
	s.render(w, r, http.StatusOK, "account", "account.title", f)
}

func (s *Server) accountFail(w http.ResponseWriter, r *http.Request, key, field string) {
	a := authOf(r)
	f := s.form(r, s.accountData(a.user, ""))
	f.Values["email"] = strings.TrimSpace(r.PostFormValue("email"))
	f.Values["phone"] = strings.TrimSpace(r.PostFormValue("phone"))
	if f.Values["email"] == "" && field != "email" {
		f.Values["email"], f.Values["phone"] = a.user.Profile.Email, a.user.Profile.Phone
	}
	f.Error, f.Field = key, field
	s.render(w, r, http.StatusUnprocessableEntity, "account", "account.title", f)
}

// accountContact saves the contact details the user gives: the only
// source of a client's e-mail and phone.
func (s *Server) accountContact(w http.ResponseWriter, r *http.Request) {
	a := authOf(r)
	err := s.opts.Identity.UpdateContact(a.user.ID, r.PostFormValue("email"), r.PostFormValue("phone"))
	if err != nil {
		var fe *identity.FieldError
		switch {
		case errors.As(err, &fe):
			s.accountFail(w, r, errorKey(err), fe.Field)
		case errors.Is(err, identity.ErrEmailTaken):
			s.accountFail(w, r, "form.email.taken", "email")
		default:
			s.serverError(w, r, err)
		}
		return
	}
	http.Redirect(w, r, "/account?done=contact", http.StatusSeeOther)
}

// accountPassword changes the password; the user's other sessions end.
func (s *Server) accountPassword(w http.ResponseWriter, r *http.Request) {
	a := authOf(r)
	next := r.PostFormValue("password")
	if next != r.PostFormValue("password2") {
		s.accountFail(w, r, "setup.mismatch", "password2")
		return
	}
	err := s.opts.Identity.ChangePassword(a.user.ID, r.PostFormValue("current"), next, sessionToken(r))
	if err != nil {
		var fe *identity.FieldError
		switch {
		case errors.As(err, &fe) && fe.Field == "current":
			s.accountFail(w, r, "account.current.bad", "current")
		case errors.As(err, &fe):
			s.accountFail(w, r, errorKey(err), "password")
		default:
			s.serverError(w, r, err)
		}
		return
	}
	s.log.Info("password changed", "user", a.user.ID)
	http.Redirect(w, r, "/account?done=password", http.StatusSeeOther)
}

func (s *Server) accountLanguage(w http.ResponseWriter, r *http.Request) {
	lang := r.PostFormValue("lang")
	if !i18n.Supported(lang) {
		s.accountFail(w, r, "form.invalid", "lang")
		return
	}
	if err := s.opts.Identity.SetLang(authOf(r).user.ID, lang); err != nil {
		s.serverError(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: i18n.CookieName, Value: lang, Path: "/", MaxAge: 365 * 24 * 3600,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/account?done=language", http.StatusSeeOther)
}
