package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"clinicbox/appliance/identity"
)

// SetupLinkTTL is how long a staff member's set-up link works.
const SetupLinkTTL = 24 * time.Hour

func (s *Server) adminRoutes() {
	s.route("GET /admin/staff", Roles(identity.RoleAdmin), s.staffPage)
	s.route("POST /admin/staff", Roles(identity.RoleAdmin), s.staffCreate)
	s.route("POST /admin/staff/{id}/deactivate", Roles(identity.RoleAdmin), s.staffDeactivate)
	s.route("POST /admin/staff/{id}/reset-second-factor", Roles(identity.RoleAdmin), s.staffResetSecondFactor)
}

// staffRow is one colleague in the admin's list. Last active is a date:
// nothing finer about presence is kept.
type staffRow struct {
	ID         uint64
	Name       string
	Email      string
	Title      string
	Role       string
	Status     string
	LastActive string
	IsSelf     bool
}

type staffPageData struct {
	Staff     []staffRow
	SetupLink string // shown once after creating an account
	Notice    string // an i18n key
}

func (s *Server) staffPage(w http.ResponseWriter, r *http.Request) {
	s.renderStaff(w, r, http.StatusOK, s.form(r, nil), &staffPageData{Notice: r.URL.Query().Get("done")})
}

func (s *Server) renderStaff(w http.ResponseWriter, r *http.Request, status int, f formData, d *staffPageData) {
	users, err := s.opts.Identity.Users(identity.RoleAdmin, identity.RoleStaff, identity.RoleTechnician)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	self := authOf(r).user.ID
	for _, u := range users {
		last := ""
		if !u.LastActiveAt.IsZero() {
			last = u.LastActiveAt.Format("2006-01-02")
		}
		d.Staff = append(d.Staff, staffRow{ID: u.ID, Name: u.Profile.Name, Email: u.Profile.Email, Title: u.Profile.Title,
			Role: string(u.Role), Status: string(u.Status), LastActive: last, IsSelf: u.ID == self})
	}
	switch d.Notice {
	case "deactivated", "reset":
	default:
		d.Notice = ""
	}
	f.Extra = d
	s.render(w, r, status, "admin-staff", "staff.title", f)
}

// staffCreate makes an account for a colleague and shows the set-up link
// once, for the admin to hand over (e-mail delivery comes with the
// notification capability).
func (s *Server) staffCreate(w http.ResponseWriter, r *http.Request) {
	f := s.form(r, nil)
	for _, k := range []string{"name", "email", "title", "role"} {
		f.Values[k] = strings.TrimSpace(r.PostFormValue(k))
	}
	role := identity.Role(f.Values["role"])
	if role != identity.RoleStaff && role != identity.RoleAdmin && role != identity.RoleTechnician {
		f.Error, f.Field = "staff.role.bad", "role"
		s.renderStaff(w, r, http.StatusUnprocessableEntity, f, &staffPageData{})
		return
	}
	u, err := s.opts.Identity.CreateUser(role, identity.Profile{Name: f.Values["name"], Email: f.Values["email"], Title: f.Values["title"]}, nil)
	if err != nil {
		var fe *identity.FieldError
		if errors.As(err, &fe) || errors.Is(err, identity.ErrEmailTaken) {
			f.Error, f.Field = errorKey(err), "email"
			if fe != nil {
				f.Field = fe.Field
			}
			s.renderStaff(w, r, http.StatusUnprocessableEntity, f, &staffPageData{})
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
	s.log.Info("staff account created", "actor", authOf(r).user.ID, "user", u.ID, "role", string(role))
	s.renderStaff(w, r, http.StatusCreated, s.form(r, nil), &staffPageData{SetupLink: "https://" + r.Host + "/setup/" + tok})
}

func (s *Server) staffTarget(w http.ResponseWriter, r *http.Request) (identity.User, bool) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err == nil {
		u, err := s.opts.Identity.User(id)
		if err == nil && u.Role != identity.RoleClient && u.Role != identity.RoleRelative {
			return u, true
		}
	}
	s.renderError(w, r, http.StatusNotFound)
	return identity.User{}, false
}

func (s *Server) staffDeactivate(w http.ResponseWriter, r *http.Request) {
	u, ok := s.staffTarget(w, r)
	if !ok {
		return
	}
	if u.ID == authOf(r).user.ID {
		s.renderMessage(w, r, http.StatusConflict, "staff.title", "staff.self")
		return
	}
	if u.Role == identity.RoleAdmin {
		if n, err := s.opts.Identity.CountAdmins(); err != nil || n <= 1 {
			s.renderMessage(w, r, http.StatusConflict, "staff.title", "staff.lastadmin")
			return
		}
	}
	if err := s.opts.Identity.SetStatus(u.ID, identity.StatusDeactivated); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.log.Info("account deactivated", "actor", authOf(r).user.ID, "user", u.ID)
	http.Redirect(w, r, "/admin/staff?done=deactivated", http.StatusSeeOther)
}

func (s *Server) staffResetSecondFactor(w http.ResponseWriter, r *http.Request) {
	u, ok := s.staffTarget(w, r)
	if !ok {
		return
	}
	if err := s.opts.Identity.ResetSecondFactor(u.ID); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.log.Info("second factor reset", "actor", authOf(r).user.ID, "user", u.ID)
	http.Redirect(w, r, "/admin/staff?done=reset", http.StatusSeeOther)
}
