package web

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"clinicbox/appliance/identity"
	"clinicbox/appliance/privacy/auditlog"
)

// BenchmarkAuthz is what authorization costs per request: the same
// trivial handler behind the whole middleware, registered Public and
// Roles(admin), with a real session cookie on both requests. The
// difference is the session lookup (SHA-256 of the token, a bbolt read),
// loading the user (a bbolt read, JSON) and opening the sealed profile
// (XChaCha20-Poly1305 with the user's key). Compare the two lines:
//
//	go test ./web -run '^$' -bench 'Authz' -benchmem
func BenchmarkAuthz(b *testing.B) {
	e := newAuditEnv(b)
	admin := e.user(identity.RoleAdmin, "Greta Admin", "")
	tok, _, err := e.ids.StartSession(admin, true)
	if err != nil {
		b.Fatal(err)
	}
	nothing := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	e.srv.Handle("GET /bench/public", Public, nothing)
	e.srv.Handle("GET /bench/admin", Roles(identity.RoleAdmin), nothing)
	h := e.srv.Handler()
	for _, c := range []struct{ name, path string }{
		{"public", "/bench/public"},
		{"roles-admin", "/bench/admin"},
	} {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "https://box.test"+c.path, nil)
			req.AddCookie(&http.Cookie{Name: SessionCookie, Value: tok})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req) // the day's "last active" write happens here, not in the loop
			if rec.Code != http.StatusNoContent {
				b.Fatalf("status %d", rec.Code)
			}
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusNoContent {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}

// BenchmarkAccessLogReview renders the review screen over a log of 10 000
// entries (20 staff, 200 clients, 3 units):
//
//   - first-page: no filter, the newest 50;
//   - client: filtered by one client, which also appends (and fsyncs)
//     the auditlog.review entry;
//   - staff-oldest-month: a staff member's entries in the oldest month,
//     so the walk passes almost the whole index before the page fills;
//   - csv-all: the export of all 10 000 entries with names.
func BenchmarkAccessLogReview(b *testing.B) {
	e := newAuditEnv(b)
	admin := e.user(identity.RoleAdmin, "Greta Admin", "")
	var units []identity.Unit
	for i := range 3 {
		u, err := e.ids.CreateUnit(fmt.Sprintf("Mottagning %d", i+1), identity.UnitStandard)
		if err != nil {
			b.Fatal(err)
		}
		units = append(units, u)
	}
	var staff, clients []identity.User
	for i := range 20 {
		staff = append(staff, e.user(identity.RoleStaff, fmt.Sprintf("Personal %02d", i), "Psykolog"))
	}
	for i := range 200 {
		clients = append(clients, e.user(identity.RoleClient, fmt.Sprintf("Klient %03d", i), ""))
	}
	const n = 10000
	start := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	err := e.db.Update(func(tx *bbolt.Tx) error {
		for i := range n {
			_, err := e.log.AppendTx(tx, auditlog.Entry{
				Time:      start.Add(time.Duration(i) * 15 * time.Minute),
				ActorID:   staff[i%len(staff)].ID,
				ActorRole: auditlog.RoleStaff,
				SubjectID: clients[(i*7)%len(clients)].ID,
				UnitID:    units[i%len(units)].ID,
				Action:    "room.read",
				Detail:    "room:" + strconv.Itoa(i%500),
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	tok, _, err := e.ids.StartSession(admin, true)
	if err != nil {
		b.Fatal(err)
	}
	h := e.srv.Handler()
	for _, c := range []struct{ name, path string }{
		{"first-page", "/admin/access-log"},
		{"client", "/admin/access-log?client=" + id(clients[3])},
		{"staff-oldest-month", "/admin/access-log?actor=" + id(staff[5]) + "&from=2026-01-01&to=2026-01-31"},
		{"csv-all", "/admin/access-log.csv"},
	} {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "https://box.test"+c.path, nil)
			req.AddCookie(&http.Cookie{Name: SessionCookie, Value: tok})
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
				io.Copy(io.Discard, rec.Body)
			}
		})
	}
}
