package web

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"clinicbox/appliance/identity"
)

// SystemFact is one line of the system page: a label (an i18n key) and a
// value that holds no personal data.
type SystemFact struct {
	Label string
	Value string
	Bad   bool // shown as a problem
}

func (s *Server) systemRoutes() {
	s.route("GET /system", Roles(identity.RoleTechnician, identity.RoleAdmin), s.systemPage)
}

// systemPage is the technician's view: the box's health in plain words,
// never client data (SPEC: technicians see system health only).
func (s *Server) systemPage(w http.ResponseWriter, r *http.Request) {
	var facts []SystemFact
	if s.opts.SystemFacts != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		facts = s.opts.SystemFacts(ctx)
		cancel()
	}
	facts = append(facts, SystemFact{Label: "system.live", Value: strconv.Itoa(s.presence.Connections())})
	s.render(w, r, http.StatusOK, "system", "system.title", s.form(r, facts))
}
