// Package retention runs the box's retention rules: how long each kind of
// data lives (../shared/SPEC.md), with defaults an administrator can
// change within legal bounds, per unit where a seed says so. A daily job
// runs them; an administrator can run them now or preview a dry run
// (counts of what would go). Every run is recorded, as counts only.
//
// Storage (a storage migration should create it; New creates it if
// missing meanwhile):
//
//	retention          bucket
//	  settings         → Settings (JSON)
//	  runs             bucket: time key(16) → RunRecord (JSON; counts only)
package retention

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The policies' keys. They name settings fields, report counts and
// error fields.
const (
	AccountsInactive   = "accounts-inactive"   // client accounts unused this long are erased (per unit)
	DeactivatedClients = "deactivated-clients" // deactivated clients with no booking are erased within this
	RoomsIdle          = "rooms-idle"          // rooms without activity this long are inactivated
	RoomsInactive      = "rooms-inactive"      // inactive rooms' content and time log are deleted this long after inactivation
	CallRatings        = "call-ratings"
	ErrorLog           = "error-log"
	SupportCases       = "support-cases"
	RequestLogs        = "request-logs"
	Bookings           = "bookings"          // then only anonymous aggregates remain
	DigitalCareChat    = "digital-care-chat" // chat history in digital-care units (per unit)
	Backups            = "backups"
	AccessLog          = "access-log" // patient data access log: a legal minimum
)

// Extra count keys in a Report, besides the policy keys.
const (
	CountRoomTimeLog = "rooms-inactive/time-log" // activity-log entries pruned
	CountRoomFiles   = "rooms-inactive/files"    // attachment files handed to DeleteFiles
	CountSessions    = "sessions"                // expired sessions removed (housekeeping, not a setting)
)

// KindDigitalCare is identity.Unit.Kind of a digital-care unit (seed 004).
const KindDigitalCare = "digital-care"

// Period is a retention period in calendar units, applied with
// time.AddDate (13 months is 13 calendar months, not 13×30 days).
type Period struct {
	Years  int `json:"years,omitempty"`
	Months int `json:"months,omitempty"`
	Days   int `json:"days,omitempty"`
}

// Years, Months and Days make Periods.
func Years(n int) Period  { return Period{Years: n} }
func Months(n int) Period { return Period{Months: n} }
func Days(n int) Period   { return Period{Days: n} }

// Cutoff is the moment data older than the period ends at: now minus
// the period.
func (p Period) Cutoff(now time.Time) time.Time { return now.AddDate(-p.Years, -p.Months, -p.Days) }

// IsZero reports an unset period.
func (p Period) IsZero() bool { return p == Period{} }

// refDate makes periods comparable: the same calendar arithmetic from a
// fixed day.
var refDate = time.Date(2001, time.January, 1, 0, 0, 0, 0, time.UTC)

func (p Period) span() time.Duration { return refDate.AddDate(p.Years, p.Months, p.Days).Sub(refDate) }

// Less reports whether p is shorter than q.
func (p Period) Less(q Period) bool { return p.span() < q.span() }

func (p Period) String() string {
	var parts []string
	add := func(n int, unit string) {
		if n == 0 {
			return
		}
		if n == 1 || n == -1 {
			parts = append(parts, strconv.Itoa(n)+" "+unit)
		} else {
			parts = append(parts, strconv.Itoa(n)+" "+unit+"s")
		}
	}
	add(p.Years, "year")
	add(p.Months, "month")
	add(p.Days, "day")
	if len(parts) == 0 {
		return "0 days"
	}
	return strings.Join(parts, " ")
}

// Policy is one retention rule's definition.
type Policy struct {
	Key     string
	Default Period
	// KindDefaults are defaults for units of a kind (digital-care
	// accounts: 2 years, seed 004).
	KindDefaults map[string]Period
	// Min and Max bound what an administrator may set (zero Max: no
	// upper bound but MaxAny). Legal says why Min is what it is; it is
	// shown in the field error.
	Min, Max Period
	Legal    string
	// PerUnit policies may differ per unit (and per unit kind).
	PerUnit bool
	// Data says where the data is; empty while no package keeps it yet
	// (the rule then runs only when a Runner is plugged in).
	Data string
}

// MaxAny bounds every period: nothing is kept longer than this by a typo.
var MaxAny = Years(100)

// Policies lists every policy with its SPEC default.
func Policies() []Policy {
	return []Policy{
		{Key: AccountsInactive, Default: Years(5), KindDefaults: map[string]Period{KindDigitalCare: Years(2)},
			Min: Days(1), PerUnit: true, Data: "identity"},
		{Key: DeactivatedClients, Default: Days(1), Min: Days(1), Max: Days(1),
			Legal: "seed 002 promises erasure within a day", Data: "identity"},
		{Key: RoomsIdle, Default: Years(2), Min: Days(1), Data: "rooms"},
		{Key: RoomsInactive, Default: Years(5), Min: Days(1), Data: "rooms"},
		{Key: CallRatings, Default: Years(3), Min: Days(1)},
		{Key: ErrorLog, Default: Years(3), Min: Days(1)},
		{Key: SupportCases, Default: Years(3), Min: Days(1)},
		{Key: RequestLogs, Default: Days(30), Min: Days(1)},
		{Key: Bookings, Default: Months(13), Min: Days(1)},
		{Key: DigitalCareChat, Default: Years(2), Min: Days(1), PerUnit: true},
		{Key: Backups, Default: Days(7), Min: Days(1)},
		{Key: AccessLog, Default: Years(5), Min: Years(5),
			Legal: "patient data law: the access log is kept at least 5 years"},
	}
}

// PolicyFor returns the policy with key.
func PolicyFor(key string) (Policy, bool) {
	i := slices.IndexFunc(Policies(), func(p Policy) bool { return p.Key == key })
	if i < 0 {
		return Policy{}, false
	}
	return Policies()[i], true
}

// Settings are the configured periods: global ones, per unit kind and
// per unit. A unit's period is its own override, else its kind's, else
// the global one.
type Settings struct {
	Periods map[string]Period            `json:"periods"`
	Kinds   map[string]map[string]Period `json:"kinds,omitempty"`
	Units   map[uint64]map[string]Period `json:"units,omitempty"`
}

// Defaults are the SPEC's periods.
func Defaults() Settings {
	s := Settings{Periods: map[string]Period{}, Kinds: map[string]map[string]Period{}}
	for _, p := range Policies() {
		s.Periods[p.Key] = p.Default
		for kind, d := range p.KindDefaults {
			if s.Kinds[kind] == nil {
				s.Kinds[kind] = map[string]Period{}
			}
			s.Kinds[kind][p.Key] = d
		}
	}
	return s
}

// normalize fills what stored settings lack (policies added since) from
// the defaults.
func (s Settings) normalize() Settings {
	d := Defaults()
	if s.Periods == nil {
		s.Periods = map[string]Period{}
	}
	for k, p := range d.Periods {
		if _, ok := s.Periods[k]; !ok {
			s.Periods[k] = p
		}
	}
	if s.Kinds == nil {
		s.Kinds = d.Kinds
	}
	return s
}

// Global is the global period of key (the default if unset).
func (s Settings) Global(key string) Period {
	if p, ok := s.Periods[key]; ok {
		return p
	}
	pol, _ := PolicyFor(key)
	return pol.Default
}

// ForUnit is the period of key in a unit of a kind.
func (s Settings) ForUnit(key string, unitID uint64, kind string) Period {
	if p, ok := s.Units[unitID][key]; ok {
		return p
	}
	if p, ok := s.Kinds[kind][key]; ok {
		return p
	}
	return s.Global(key)
}

// FieldError is a setting outside its bounds; Field names the policy
// (with "units.<id>." or "kinds.<kind>." before it for overrides).
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return "retention: " + e.Field + ": " + e.Msg }

// FieldErrors are every field error of a Validate.
type FieldErrors []*FieldError

func (fe FieldErrors) Error() string {
	msgs := make([]string, len(fe))
	for i, e := range fe {
		msgs[i] = e.Field + ": " + e.Msg
	}
	return "retention: " + strings.Join(msgs, "; ")
}

// ErrInvalid is what FieldErrors match with errors.Is.
var ErrInvalid = errors.New("retention: settings out of bounds")

func (fe FieldErrors) Is(target error) bool { return target == ErrInvalid }

// Validate checks every period against its policy's bounds. It returns
// FieldErrors (nil when all is well), e.g. "access-log: at least 5 years".
func (s Settings) Validate() error {
	var errs FieldErrors
	check := func(field, key string, p Period, override bool) {
		pol, ok := PolicyFor(key)
		switch {
		case !ok:
			errs = append(errs, &FieldError{Field: field, Msg: "no such retention policy"})
		case override && !pol.PerUnit:
			errs = append(errs, &FieldError{Field: field, Msg: "this period is the same for every unit"})
		case p.Years < 0 || p.Months < 0 || p.Days < 0 || p.IsZero():
			errs = append(errs, &FieldError{Field: field, Msg: "a period of at least 1 day is needed"})
		case p.Less(pol.Min):
			msg := "at least " + pol.Min.String()
			if pol.Legal != "" {
				msg += " (" + pol.Legal + ")"
			}
			errs = append(errs, &FieldError{Field: field, Msg: msg})
		case !pol.Max.IsZero() && pol.Max.Less(p):
			msg := "at most " + pol.Max.String()
			if pol.Legal != "" {
				msg += " (" + pol.Legal + ")"
			}
			errs = append(errs, &FieldError{Field: field, Msg: msg})
		case MaxAny.Less(p):
			errs = append(errs, &FieldError{Field: field, Msg: "at most " + MaxAny.String()})
		}
	}
	for _, key := range sortedKeys(s.Periods) {
		check(key, key, s.Periods[key], false)
	}
	for _, kind := range sortedKeys(s.Kinds) {
		for _, key := range sortedKeys(s.Kinds[kind]) {
			check("kinds."+kind+"."+key, key, s.Kinds[kind][key], true)
		}
	}
	units := make([]uint64, 0, len(s.Units))
	for id := range s.Units {
		units = append(units, id)
	}
	slices.Sort(units)
	for _, id := range units {
		for _, key := range sortedKeys(s.Units[id]) {
			check(fmt.Sprintf("units.%d.%s", id, key), key, s.Units[id][key], true)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
