package web

import (
	"errors"
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
	s.route("POST /contacts/{id}/deactivate", staff, s.contactDeactivate)
	s.route("POST /contacts/{id}/name", staff, s.contactRename)
	s.route("POST /contacts/{id}/export", staff, s.contactExport)
}

// contactExport produces a client's data export at the client's request
// (GDPR art. 15), for staff to hand over; it is written to the access log
// before a byte is sent.
func (s *Server) contactExport(w http.ResponseWriter, r *http.Request) {
	me, client, ok := s.contactOf(w, r, true)
	if !ok {
		return
	}
	if s.opts.Export == nil {
		s.renderError(w, r, http.StatusNotFound)
		return
	}
	if !s.logClientAccess(w, r, me, client, "export.create", "") {
		return
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", `attachment; filename="clinicbox-export-`+strconv.FormatUint(client.ID, 10)+`.zip"`)
	w.Header().Set("Cache-Control", "no-store")
	if err := s.opts.Export(r.Context(), w, client.ID); err != nil {
		s.log.Error("export failed", "actor", me.ID, "user", client.ID, "err", err)
	}
}

// contactRename is staff correcting a client's name (GDPR art. 16); a
// name from eID stays locked. The change goes to the access log.
func (s *Server) contactRename(w http.ResponseWriter, r *http.Request) {
	me, client, ok := s.contactOf(w, r, true)
	if !ok {
		return
	}
	if err := s.opts.Identity.Rename(client.ID, r.PostFormValue("name")); err != nil {
		key := errorKey(err)
		if errors.Is(err, identity.ErrNameLocked) {
			key = "contacts.name.locked"
		}
		s.renderMessage(w, r, http.StatusUnprocessableEntity, "contacts.title", key)
		return
	}
	if !s.logClientAccess(w, r, me, client, "profile.update", "name") {
		return
	}
	http.Redirect(w, r, "/contacts/"+strconv.FormatUint(client.ID, 10), http.StatusSeeOther)
}

// contactDeactivate is staff closing a client's account: the client can
// no longer log in, and the retention rules erase the account within a
// day unless a booking still ties it (seed 002). Logged as a change of
// the client's data.
func (s *Server) contactDeactivate(w http.ResponseWriter, r *http.Request) {
	me, client, ok := s.contactOf(w, r, true)
	if !ok {
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		s.renderMessage(w, r, http.StatusUnprocessableEntity, "contacts.title", "contacts.deactivate.tick")
		return
	}
	if !s.logClientAccess(w, r, me, client, "client.deactivate", "") {
		return
	}
	if err := s.opts.Identity.SetStatus(client.ID, identity.StatusDeactivated); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.log.Info("client deactivated", "actor", me.ID, "user", client.ID)
	s.renderMessage(w, r, http.StatusOK, "contacts.title", "contacts.deactivated")
}

// contactOf is the contact named by the path's {id} among the staff
// member's contacts (only clients and relatives when clientsOnly); anyone
// else answers 404.
func (s *Server) contactOf(w http.ResponseWriter, r *http.Request, clientsOnly bool) (me, contact identity.User, ok bool) {
	me = authOf(r).user
	id, _ := strconv.ParseUint(r.PathValue("id"), 10, 64)
	users, err := s.contacts(me)
	if err != nil {
		s.serverError(w, r, err)
		return me, contact, false
	}
	i := slices.IndexFunc(users, func(u identity.User) bool { return u.ID == id && (!clientsOnly || isClient(u)) })
	if i < 0 {
		s.renderError(w, r, http.StatusNotFound)
		return me, contact, false
	}
	return me, users[i], true
}

func isClient(u identity.User) bool {
	return u.Role == identity.RoleClient || u.Role == identity.RoleRelative
}

// logClientAccess writes staff access to a client's data to the access
// log; when it cannot, the request ends with an error and no data.
func (s *Server) logClientAccess(w http.ResponseWriter, r *http.Request, me, client identity.User, action, detail string) bool {
	if s.opts.Audit == nil {
		return true
	}
	_, err := s.opts.Audit.Append(auditlog.Entry{ActorID: me.ID, ActorRole: string(me.Role), SubjectID: client.ID,
		UnitID: sharedUnit(me, client), Action: action, Detail: detail})
	if err != nil {
		s.serverError(w, r, err)
		return false
	}
	return true
}

// sharedUnit is the first unit two users share (0 if none).
func sharedUnit(a, b identity.User) uint64 {
	for _, u := range b.Units {
		if slices.Contains(a.Units, u) {
			return u
		}
	}
	return 0
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
			isClient(u)})
	}
	f := s.form(r, rows)
	f.Values["q"] = q
	s.render(w, r, http.StatusOK, "contacts", "contacts.title", f)
}

type contactDetail struct {
	ID                                       uint64
	Name, Role, Masked, Email, Phone, Status string
	Client, NameLocked                       bool
}

// contactPage shows one client's details as the client gave them (staff
// can't enter or change them), with the personnummer masked. Opening it
// is access to client data: it goes to the access log.
func (s *Server) contactPage(w http.ResponseWriter, r *http.Request) {
	me, u, ok := s.contactOf(w, r, false)
	if !ok {
		return
	}
	if isClient(u) && !s.logClientAccess(w, r, me, u, "contact.read", "") {
		return // no log entry, no data
	}
	d := contactDetail{ID: u.ID, NameLocked: u.Profile.NameFromEID, Client: isClient(u), Name: u.Profile.Name, Role: string(u.Role), Email: u.Profile.Email, Phone: u.Profile.Phone,
		Status: string(s.presence.Status(u.ID))}
	if p := u.Profile.Personnummer; len(p) == 12 {
		d.Masked = p[:8] + "-****"
	}
	s.render(w, r, http.StatusOK, "contact", "contacts.title", s.form(r, d))
}
