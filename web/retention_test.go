package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"clinicbox/appliance/identity"
	"clinicbox/appliance/privacy/retention"
)

var _ = expect(map[string]string{
	"GET /admin/retention":      "admin",
	"POST /admin/retention":     "admin",
	"POST /admin/retention/run": "admin",
})

// TestRetentionAdmin: an admin previews and saves retention periods; the
// access log can't be set below the legal five years.
func TestRetentionAdmin(t *testing.T) {
	e := newRoomsEnv(t)
	ret, err := retention.New(retention.Options{DB: e.db, Rooms: e.rooms})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Options{Identity: e.ids, Keys: e.keys, Audit: e.log, Rooms: e.rooms, Files: e.files, Retention: ret})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	admin := e.user(identity.RoleAdmin, "Greta Admin", "")
	staff := e.user(identity.RoleStaff, "Anna Lind", "")
	if rec := e.get(staff, "/admin/retention"); rec.Code != http.StatusForbidden {
		t.Fatalf("staff: %d", rec.Code)
	}
	body := e.get(admin, "/admin/retention").Body.String()
	if !strings.Contains(body, "Register över behandling") || !strings.Contains(body, `id="p-accounts-inactive"`) {
		t.Fatalf("page: %.500s", body)
	}
	if rec := e.request(admin, "POST", "/admin/retention/run", url.Values{"mode": {"preview"}}); rec.Code != 200 || !strings.Contains(rec.Body.String(), `id="report"`) {
		t.Fatalf("preview: %d", rec.Code)
	}
	form := url.Values{}
	for _, p := range retention.Policies() {
		form.Set(p.Key, "5")
		form.Set(p.Key+"-unit", "years")
	}
	form.Set(retention.DeactivatedClients, "1")
	form.Set(retention.DeactivatedClients+"-unit", "days")
	form.Set(retention.AccessLog, "4")
	rec := e.request(admin, "POST", "/admin/retention", form)
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), `id="e-access-log"`) {
		t.Fatalf("access log below 5 years: %d", rec.Code)
	}
	if set, _ := ret.Settings(); set.Global(retention.AccessLog) != retention.Years(5) {
		t.Fatal("a refused setting was stored")
	}
	form.Set(retention.AccessLog, "6")
	form.Set(retention.Bookings, "13")
	form.Set(retention.Bookings+"-unit", "months")
	if rec := e.request(admin, "POST", "/admin/retention", form); rec.Code != http.StatusOK {
		t.Fatalf("save: %d %.400s", rec.Code, rec.Body.String())
	}
	if set, _ := ret.Settings(); set.Global(retention.AccessLog) != retention.Years(6) || set.Global(retention.Bookings) != retention.Months(13) {
		t.Fatalf("saved: %+v", set.Periods)
	}
}
