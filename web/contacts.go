package web

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"clinicbox/appliance/identity"
	"clinicbox/appliance/privacy/auditlog"
)

func (s *Server) contactRoutes() {
	staff := Roles(identity.RoleStaff, identity.RoleAdmin)
	s.route("GET /contacts", staff, s.contactsPage)
	s.route("GET /contacts/{id}", staff, s.contactPage)
}

type contactRow struct {
	ID     uint64
	Name   string
	Role   string
	Status string
	Client bool
}

// contactsPage lists the people in the staff member's units with their
// presence, searchable by name. Contact details are one click further
// (contactPage), where opening them is written to the access log.
func (s *Server) contactsPage(w http.ResponseWriter, r *http.Request) {
	users, err := s.contacts(authOf(r).user)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	var rows []contactRow
	for _, u := range users {
		if q != "" && !strings.Contains(strings.ToLower(u.Profile.Name), strings.ToLower(q)) {
			continue
		}
		rows = append(rows, contactRow{u.ID, u.Profile.Name, string(u.Role), string(s.presence.Status(u.ID)),
			u.Role == identity.RoleClient || u.Role == identity.RoleRelative})
	}
	f := s.form(r, rows)
	f.Values["q"] = q
	s.render(w, r, http.StatusOK, "contacts", "contacts.title", f)
}

type contactDetail struct {
	Name, Role, Masked, Email, Phone, Status string
}

// contactPage shows one client's details as the client gave them (staff
// can't enter or change them), with the personnummer masked. Opening it
// is access to client data: it goes to the access log.
func (s *Server) contactPage(w http.ResponseWriter, r *http.Request) {
	me := authOf(r).user
	id, _ := strconv.ParseUint(r.PathValue("id"), 10, 64)
	users, err := s.contacts(me)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	i := slices.IndexFunc(users, func(u identity.User) bool { return u.ID == id })
	if i < 0 {
		s.renderError(w, r, http.StatusNotFound)
		return
	}
	u := users[i]
	if (u.Role == identity.RoleClient || u.Role == identity.RoleRelative) && s.opts.Audit != nil {
		unit := uint64(0)
		for _, uid := range u.Units {
			if slices.Contains(me.Units, uid) {
				unit = uid
				break
			}
		}
		if _, err := s.opts.Audit.Append(auditlog.Entry{ActorID: me.ID, ActorRole: string(me.Role), SubjectID: u.ID,
			UnitID: unit, Action: "contact.read"}); err != nil {
			s.serverError(w, r, err) // no log entry, no data
			return
		}
	}
	d := contactDetail{Name: u.Profile.Name, Role: string(u.Role), Email: u.Profile.Email, Phone: u.Profile.Phone,
		Status: string(s.presence.Status(u.ID))}
	if p := u.Profile.Personnummer; len(p) == 12 {
		d.Masked = p[:8] + "-****"
	}
	s.render(w, r, http.StatusOK, "contact", "contacts.title", s.form(r, d))
}
