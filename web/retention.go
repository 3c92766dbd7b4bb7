package web

import (
	"errors"
	"net/http"
	"sort"
	"strconv"

	"clinicbox/appliance/identity"
	"clinicbox/appliance/privacy/retention"
)

func (s *Server) retentionRoutes() {
	admin := Roles(identity.RoleAdmin)
	s.route("GET /admin/retention", admin, s.retentionPage)
	s.route("POST /admin/retention", admin, s.retentionSave)
	s.route("POST /admin/retention/run", admin, s.retentionRun)
}

type policyRow struct {
	Key    string
	Amount int
	Unit   string // days, months, years
	Fixed  bool   // the law or a promise fixes it
	Period string
}

type runRow struct {
	At     string
	DryRun bool
	Counts []countRow
}

type countRow struct {
	Key string
	N   int
}

type retentionData struct {
	Policies []policyRow
	Runs     []runRow
	Report   *runRow
	Errors   map[string]string
}

// asAmount shows a period as one number and unit, the way an office
// manager thinks of it ("5 years", "13 months", "30 days").
func asAmount(p retention.Period) (int, string) {
	switch {
	case p.Days == 0 && p.Months == 0:
		return p.Years, "years"
	case p.Days == 0:
		return p.Years*12 + p.Months, "months"
	}
	return p.Days, "days"
}

func (s *Server) retentionData(report *retention.Report) (*retentionData, error) {
	set, err := s.opts.Retention.Settings()
	if err != nil {
		return nil, err
	}
	d := &retentionData{Errors: map[string]string{}}
	for _, p := range retention.Policies() {
		cur := set.Global(p.Key)
		n, unit := asAmount(cur)
		d.Policies = append(d.Policies, policyRow{Key: p.Key, Amount: n, Unit: unit, Fixed: p.Max == p.Min && !p.Min.IsZero(), Period: cur.String()})
	}
	runs, err := s.opts.Retention.Runs(10)
	if err != nil {
		return nil, err
	}
	for _, r := range runs {
		d.Runs = append(d.Runs, toRunRow(r))
	}
	if report != nil {
		row := toRunRow(*report)
		d.Report = &row
	}
	return d, nil
}

func toRunRow(r retention.Report) runRow {
	row := runRow{At: clockText(r.At), DryRun: r.DryRun}
	for k, n := range r.Counts {
		row.Counts = append(row.Counts, countRow{k, n})
	}
	sort.Slice(row.Counts, func(i, j int) bool { return row.Counts[i].Key < row.Counts[j].Key })
	return row
}

func (s *Server) retentionPage(w http.ResponseWriter, r *http.Request) {
	d, err := s.retentionData(nil)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "retention", "retention.title", s.form(r, d))
}

// retentionSave stores the global periods; values outside the legal
// bounds come back as field errors and nothing is stored.
func (s *Server) retentionSave(w http.ResponseWriter, r *http.Request) {
	set, err := s.opts.Retention.Settings()
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	bad := map[string]string{}
	for _, p := range retention.Policies() {
		n, err := strconv.Atoi(r.PostFormValue(p.Key))
		if err != nil || n <= 0 || n > 100000 {
			bad[p.Key] = "retention.number"
			continue
		}
		switch r.PostFormValue(p.Key + "-unit") {
		case "years":
			set.Periods[p.Key] = retention.Period{Years: n}
		case "months":
			set.Periods[p.Key] = retention.Period{Months: n}
		default:
			set.Periods[p.Key] = retention.Period{Days: n}
		}
	}
	if len(bad) == 0 {
		err = s.opts.Retention.SetSettings(set)
		var fes retention.FieldErrors
		if errors.As(err, &fes) {
			for _, fe := range fes {
				bad[fe.Field] = "retention.bound"
			}
			err = nil
		}
		if err != nil {
			s.serverError(w, r, err)
			return
		}
	}
	d, derr := s.retentionData(nil)
	if derr != nil {
		s.serverError(w, r, derr)
		return
	}
	if len(bad) > 0 {
		d.Errors = bad
		for i, p := range d.Policies { // show what was typed
			if n, err := strconv.Atoi(r.PostFormValue(p.Key)); err == nil {
				d.Policies[i].Amount, d.Policies[i].Unit = n, r.PostFormValue(p.Key+"-unit")
			}
		}
		f := s.form(r, d)
		f.Error = "retention.invalid"
		s.render(w, r, http.StatusUnprocessableEntity, "retention", "retention.title", f)
		return
	}
	s.log.Info("retention settings changed", "actor", authOf(r).user.ID)
	f := s.form(r, d)
	s.render(w, r, http.StatusOK, "retention", "retention.title", f)
}

// retentionRun runs the rules now, or previews them (counts only).
func (s *Server) retentionRun(w http.ResponseWriter, r *http.Request) {
	dry := r.PostFormValue("mode") != "run"
	rep, err := s.opts.Retention.Run(r.Context(), dry)
	if err != nil && len(rep.Failed) == 0 {
		s.serverError(w, r, err)
		return
	}
	s.log.Info("retention run by an admin", "actor", authOf(r).user.ID, "dry_run", dry)
	d, err := s.retentionData(&rep)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "retention", "retention.title", s.form(r, d))
}
