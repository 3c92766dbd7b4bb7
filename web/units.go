package web

import (
	"cmp"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"clinicbox/appliance/identity"
)

// Units (mottagningar) and who works in them. Staff membership is not
// client data, so nothing here writes to the access log; changes are
// logged (ids only) for the administrator's own trail.

func (s *Server) unitRoutes() {
	s.route("GET /admin/units", Roles(identity.RoleAdmin), s.unitsPage)
	s.route("POST /admin/units", Roles(identity.RoleAdmin), s.unitCreate)
	s.route("GET /admin/units/{id}", Roles(identity.RoleAdmin), s.unitPage)
	s.route("POST /admin/units/{id}/rename", Roles(identity.RoleAdmin), s.unitRename)
	s.route("POST /admin/units/{id}/members", Roles(identity.RoleAdmin), s.unitMembers)
}

// unitKinds are the kinds offered when a unit is created, the default
// first.
var unitKinds = [...]string{identity.UnitStandard, identity.UnitDigitalCare}

type unitRow struct {
	ID      uint64
	Name    string
	Kind    string
	Members int
}

type unitsPageData struct {
	Units  []unitRow
	Kinds  []string
	Notice string // an i18n key
}

func (s *Server) unitsPage(w http.ResponseWriter, r *http.Request) {
	s.renderUnits(w, r, http.StatusOK, s.form(r, nil), r.URL.Query().Get("done"))
}

func (s *Server) renderUnits(w http.ResponseWriter, r *http.Request, status int, f formData, done string) {
	units, err := s.opts.Identity.Units()
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	staff, err := s.opts.Identity.Users(identity.RoleAdmin, identity.RoleStaff)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	d := &unitsPageData{Kinds: unitKinds[:]}
	for _, u := range units {
		row := unitRow{ID: u.ID, Name: u.Name, Kind: u.Kind}
		for _, m := range staff {
			if slices.Contains(m.Units, u.ID) {
				row.Members++
			}
		}
		d.Units = append(d.Units, row)
	}
	slices.SortFunc(d.Units, func(a, b unitRow) int {
		return cmp.Or(strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)), cmp.Compare(a.ID, b.ID))
	})
	if done == "created" {
		d.Notice = "units.done.created"
	}
	if f.Values["kind"] == "" {
		f.Values["kind"] = identity.UnitStandard
	}
	f.Extra = d
	s.render(w, r, status, "admin-units", "units.title", f)
}

func (s *Server) unitCreate(w http.ResponseWriter, r *http.Request) {
	f := s.form(r, nil)
	f.Values["name"] = strings.TrimSpace(r.PostFormValue("name"))
	f.Values["kind"] = r.PostFormValue("kind")
	if !slices.Contains(unitKinds[:], f.Values["kind"]) {
		f.Error, f.Field = "units.kind.bad", "kind"
		s.renderUnits(w, r, http.StatusUnprocessableEntity, f, "")
		return
	}
	u, err := s.opts.Identity.CreateUnit(f.Values["name"], f.Values["kind"])
	if err != nil {
		if fe := (*identity.FieldError)(nil); errors.As(err, &fe) {
			f.Error, f.Field = "units.name.bad", "name"
			if fe.Field == "kind" {
				f.Error, f.Field = "units.kind.bad", "kind"
			}
			s.renderUnits(w, r, http.StatusUnprocessableEntity, f, "")
			return
		}
		s.serverError(w, r, err)
		return
	}
	s.log.Info("unit created", "actor", authOf(r).user.ID, "unit", u.ID, "kind", u.Kind)
	http.Redirect(w, r, "/admin/units?done=created", http.StatusSeeOther)
}

type unitMember struct {
	ID       uint64
	Name     string
	Title    string
	Role     string
	Status   string
	Selected bool
}

type unitPageData struct {
	Unit    identity.Unit
	Members []unitMember
	Notice  string // an i18n key
}

// unitOf loads the unit named by the path, or answers 404.
func (s *Server) unitOf(w http.ResponseWriter, r *http.Request) (identity.Unit, bool) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err == nil {
		u, err := s.opts.Identity.Unit(id)
		if err == nil {
			return u, true
		}
		if !errors.Is(err, identity.ErrNotFound) {
			s.serverError(w, r, err)
			return identity.Unit{}, false
		}
	}
	s.renderError(w, r, http.StatusNotFound)
	return identity.Unit{}, false
}

func (s *Server) unitPage(w http.ResponseWriter, r *http.Request) {
	u, ok := s.unitOf(w, r)
	if !ok {
		return
	}
	notice := ""
	switch done := r.URL.Query().Get("done"); done {
	case "renamed", "members":
		notice = "units.done." + done
	}
	f := s.form(r, nil)
	f.Values["name"] = u.Name
	s.renderUnit(w, r, http.StatusOK, f, u, notice, nil)
}

// renderUnit shows one unit: its name, and the staff with a tick for
// those in it (chosen overrides the stored membership after a refused
// form, so the admin's ticks are kept).
func (s *Server) renderUnit(w http.ResponseWriter, r *http.Request, status int, f formData, u identity.Unit, notice string, chosen []uint64) {
	staff, err := s.opts.Identity.Users(identity.RoleAdmin, identity.RoleStaff)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	d := &unitPageData{Unit: u, Notice: notice}
	for _, m := range staff {
		sel := slices.Contains(m.Units, u.ID)
		if chosen != nil {
			sel = slices.Contains(chosen, m.ID)
		}
		d.Members = append(d.Members, unitMember{ID: m.ID, Name: m.Profile.Name, Title: m.Profile.Title,
			Role: string(m.Role), Status: string(m.Status), Selected: sel})
	}
	slices.SortFunc(d.Members, func(a, b unitMember) int {
		return cmp.Or(strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)), cmp.Compare(a.ID, b.ID))
	})
	f.Extra = d
	s.render(w, r, status, "admin-unit", "units.unit.title", f)
}

func (s *Server) unitRename(w http.ResponseWriter, r *http.Request) {
	u, ok := s.unitOf(w, r)
	if !ok {
		return
	}
	name := r.PostFormValue("name")
	if _, err := s.opts.Identity.RenameUnit(u.ID, name); err != nil {
		if fe := (*identity.FieldError)(nil); errors.As(err, &fe) {
			f := s.form(r, nil)
			f.Values["name"] = strings.TrimSpace(name)
			f.Error, f.Field = "units.name.bad", "name"
			s.renderUnit(w, r, http.StatusUnprocessableEntity, f, u, "", nil)
			return
		}
		s.serverError(w, r, err)
		return
	}
	s.log.Info("unit renamed", "actor", authOf(r).user.ID, "unit", u.ID)
	http.Redirect(w, r, "/admin/units/"+strconv.FormatUint(u.ID, 10)+"?done=renamed", http.StatusSeeOther)
}

// unitMembers sets who works in the unit: each ticked staff member gets
// the unit added to their units, each unticked one has it removed.
func (s *Server) unitMembers(w http.ResponseWriter, r *http.Request) {
	u, ok := s.unitOf(w, r)
	if !ok {
		return
	}
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest)
		return
	}
	staff, err := s.opts.Identity.Users(identity.RoleAdmin, identity.RoleStaff)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	chosen := []uint64{}
	for _, v := range r.PostForm["member"] {
		id, err := strconv.ParseUint(v, 10, 64)
		if err != nil || !slices.ContainsFunc(staff, func(m identity.User) bool { return m.ID == id }) {
			f := s.form(r, nil)
			f.Values["name"] = u.Name
			f.Error, f.Field = "units.member.unknown", "member"
			s.renderUnit(w, r, http.StatusUnprocessableEntity, f, u, "", chosen)
			return
		}
		chosen = append(chosen, id)
	}
	changed := 0
	for _, m := range staff {
		want, has := slices.Contains(chosen, m.ID), slices.Contains(m.Units, u.ID)
		if want == has {
			continue
		}
		units := slices.DeleteFunc(slices.Clone(m.Units), func(id uint64) bool { return id == u.ID })
		if want {
			units = append(units, u.ID)
		}
		if err := s.opts.Identity.SetUnits(m.ID, units); err != nil {
			s.serverError(w, r, err)
			return
		}
		changed++
	}
	s.log.Info("unit staff changed", "actor", authOf(r).user.ID, "unit", u.ID, "changed", changed)
	http.Redirect(w, r, "/admin/units/"+strconv.FormatUint(u.ID, 10)+"?done=members", http.StatusSeeOther)
}
