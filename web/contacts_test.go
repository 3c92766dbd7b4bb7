package web

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"clinicbox/appliance/identity"
	"clinicbox/appliance/privacy/auditlog"
)

// TestContactListAndLoggedDetails: staff see the people of their units
// (search by name); opening a client's contact details is logged, and
// people of other units are not reachable.
func TestContactListAndLoggedDetails(t *testing.T) {
	e := newAuditEnv(t)
	unit, _ := e.ids.CreateUnit("Mottagning Syd", identity.UnitStandard)
	staff := e.user(identity.RoleStaff, "Anna Lind", "Psykolog")
	client := e.user(identity.RoleClient, "Cecilia Berg", "")
	outsider := e.user(identity.RoleClient, "Olle Annan", "")
	e.ids.SetUnits(staff.ID, []uint64{unit.ID})
	e.ids.SetUnits(client.ID, []uint64{unit.ID})
	e.ids.UpdateContact(client.ID, "cecilia@example.se", "070-111 22 33")
	staff, _ = e.ids.User(staff.ID)

	body := e.get(staff, "/contacts").Body.String()
	if !strings.Contains(body, "Cecilia Berg") || strings.Contains(body, "Olle Annan") {
		t.Fatalf("contact list: %s", body)
	}
	if strings.Contains(body, "cecilia@example.se") {
		t.Fatal("contact details must not be on the list")
	}
	if body := e.get(staff, "/contacts?q=zzz").Body.String(); strings.Contains(body, "Cecilia Berg") {
		t.Fatal("search does not filter")
	}
	before := e.count()
	rec := e.get(staff, "/contacts/"+strconv.FormatUint(client.ID, 10))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "070-111 22 33") {
		t.Fatalf("details: %d", rec.Code)
	}
	if e.count() != before+1 {
		t.Fatal("opening a client's details must be logged")
	}
	entries, _ := e.log.Find(auditlog.Query{SubjectID: client.ID})
	last := entries[len(entries)-1]
	if last.Action != "contact.read" || last.ActorID != staff.ID || last.UnitID != unit.ID {
		t.Fatalf("entry %+v", last)
	}
	if rec := e.get(staff, "/contacts/"+strconv.FormatUint(outsider.ID, 10)); rec.Code != http.StatusNotFound {
		t.Fatalf("a client of another unit: %d", rec.Code)
	}
	// Correcting the client's name: logged as a change of their data.
	if rec := e.request(staff, "POST", "/contacts/"+strconv.FormatUint(client.ID, 10)+"/name", url.Values{"name": {"Cecilia Berg-Ek"}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("rename: %d", rec.Code)
	}
	if u, _ := e.ids.User(client.ID); u.Profile.Name != "Cecilia Berg-Ek" {
		t.Fatalf("name %q", u.Profile.Name)
	}
	entries, _ = e.log.Find(auditlog.Query{SubjectID: client.ID})
	if last := entries[len(entries)-1]; last.Action != "profile.update" || last.ActorID != staff.ID {
		t.Fatalf("rename not logged: %+v", last)
	}
	if rec := e.request(staff, "POST", "/contacts/"+strconv.FormatUint(client.ID, 10)+"/name", url.Values{"name": {" "}}); rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("empty name: %d", rec.Code)
	}
	// A client's export produced by staff on request: logged first.
	var exported uint64
	e.srv.opts.Export = func(_ context.Context, w io.Writer, id uint64) error {
		exported = id
		_, err := w.Write([]byte("PK"))
		return err
	}
	if rec := e.request(staff, "POST", "/contacts/"+strconv.FormatUint(client.ID, 10)+"/export", url.Values{}); rec.Code != 200 || rec.Header().Get("Content-Type") != "application/zip" {
		t.Fatalf("export: %d", rec.Code)
	}
	entries, _ = e.log.Find(auditlog.Query{SubjectID: client.ID})
	if last := entries[len(entries)-1]; exported != client.ID || last.Action != "export.create" {
		t.Fatalf("export not logged: %+v", last)
	}
	// Closing the client's account: confirmed, logged, and no more logins.
	path := "/contacts/" + strconv.FormatUint(client.ID, 10) + "/deactivate"
	if rec := e.request(staff, "POST", path, url.Values{}); rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("without the tick: %d", rec.Code)
	}
	if rec := e.request(staff, "POST", "/contacts/"+strconv.FormatUint(outsider.ID, 10)+"/deactivate", url.Values{"confirm": {"yes"}}); rec.Code != http.StatusNotFound {
		t.Fatalf("a client of another unit: %d", rec.Code)
	}
	if rec := e.request(staff, "POST", path, url.Values{"confirm": {"yes"}}); rec.Code != http.StatusOK {
		t.Fatalf("deactivate: %d", rec.Code)
	}
	if u, _ := e.ids.User(client.ID); u.Status != identity.StatusDeactivated {
		t.Fatalf("status %s", u.Status)
	}
	entries, _ = e.log.Find(auditlog.Query{SubjectID: client.ID})
	if entries[len(entries)-1].Action != "client.deactivate" {
		t.Fatalf("not logged: %+v", entries[len(entries)-1])
	}
}

// TestStopSharingWithUnit: a client leaves a unit: off its contact list
// and out of its rooms.
func TestStopSharingWithUnit(t *testing.T) {
	e := newRoomsEnv(t)
	people := e.unitOf(t, e.user(identity.RoleStaff, "Anna Lind", "Psykolog"), e.user(identity.RoleClient, "Kalle Klient", ""))
	staff, client := people[0], people[1]
	id := e.roomWith(t, staff, client)
	unit := client.Units[0]
	if rec := e.request(client, "POST", "/account/units/leave", url.Values{"unit": {"999"}}); rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("a unit not mine: %d", rec.Code)
	}
	if rec := e.request(client, "POST", "/account/units/leave", url.Values{"unit": {strconv.FormatUint(unit, 10)}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("leave: %d %s", rec.Code, rec.Body)
	}
	if rec := e.get(client, "/rooms/"+strconv.FormatUint(id, 10)); rec.Code != http.StatusNotFound {
		t.Fatalf("the room after leaving the unit: %d", rec.Code)
	}
	if body := e.get(staff, "/contacts").Body.String(); strings.Contains(body, "Kalle Klient") {
		t.Fatal("still on the unit's contact list")
	}
}
