package web

import (
	"net/http"
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
}
