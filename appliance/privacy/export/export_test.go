package export_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"clinicbox/appliance/identity"
	"clinicbox/appliance/identity/personnummer"
	"clinicbox/appliance/privacy/auditlog"
	"clinicbox/appliance/privacy/export"
	"clinicbox/appliance/rooms"
	"clinicbox/appliance/rooms/attachments"
	"clinicbox/storage"
	"clinicbox/storage/keystore"
)

var t0 = time.Date(2026, time.March, 10, 9, 0, 0, 0, time.UTC)

type env struct {
	db    *storage.DB
	keys  *keystore.Store
	ids   *identity.Store
	rooms *rooms.Store
	files *attachments.Store
	audit *auditlog.Log
	unit  identity.Unit
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	dir := tb.TempDir()
	db, err := storage.Open(filepath.Join(dir, "clinicbox.db"), storage.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	keys, err := keystore.Open(filepath.Join(dir, "keys"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { keys.Close() })
	idx, err := keys.DeriveKey("identity/email-index")
	if err != nil {
		tb.Fatal(err)
	}
	now := func() time.Time { return t0 }
	ids, err := identity.New(identity.Options{DB: db, Keys: keys, IndexKey: idx, Now: now})
	if err != nil {
		tb.Fatal(err)
	}
	audit, err := auditlog.New(db, "")
	if err != nil {
		tb.Fatal(err)
	}
	rs, err := rooms.New(rooms.Options{DB: db, Keys: keys, Audit: audit, Now: now})
	if err != nil {
		tb.Fatal(err)
	}
	files, err := attachments.New(attachments.Options{Dir: filepath.Join(dir, "files"), Keys: keys})
	if err != nil {
		tb.Fatal(err)
	}
	unit, err := ids.CreateUnit("Mottagning Syd", "")
	if err != nil {
		tb.Fatal(err)
	}
	return &env{db: db, keys: keys, ids: ids, rooms: rs, files: files, audit: audit, unit: unit}
}

func (e *env) sources() export.Sources {
	return export.Sources{Users: e.ids, Rooms: e.rooms, OpenFile: export.AttachmentFiles(e.files), Audit: e.audit,
		Now: func() time.Time { return t0.Add(time.Hour) }}
}

func (e *env) user(tb testing.TB, role identity.Role, p identity.Profile) identity.User {
	tb.Helper()
	u, err := e.ids.CreateUser(role, p, []uint64{e.unit.ID})
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

func act(u identity.User) rooms.Actor {
	return rooms.Actor{ID: u.ID, Role: string(u.Role), Units: u.Units}
}

// attach stores a file and posts it in the room as a.
func (e *env) attach(tb testing.TB, a rooms.Actor, roomID uint64, content []byte, name string) rooms.AttachmentRef {
	tb.Helper()
	meta, err := e.files.Put(rooms.Subject(roomID), bytes.NewReader(content), name)
	if err != nil {
		tb.Fatal(err)
	}
	ref := rooms.AttachmentRef{ID: meta.ID, Name: meta.Name, Size: meta.Size, Type: meta.Type}
	if _, err := e.rooms.PostAttachment(a, roomID, ref); err != nil {
		tb.Fatal(err)
	}
	return ref
}

func pdf(size int, tag string) []byte {
	b := []byte("%PDF-1.4\n% " + tag + "\n")
	for len(b) < size {
		b = append(b, "0123456789abcdef"[len(b)%16])
	}
	return b[:size]
}

// data is data.json as the tests read it.
type data struct {
	Schema        string    `json:"schema"`
	SchemaVersion int       `json:"schema_version"`
	GeneratedAt   time.Time `json:"generated_at"`
	Profile       struct {
		Name, Email, Phone, Personnummer string
		Masked                           string `json:"personnummer_masked"`
		FromEID                          bool   `json:"name_and_personnummer_from_eid"`
	} `json:"profile"`
	Account struct {
		ID   uint64 `json:"id"`
		Role string `json:"role"`
	} `json:"account"`
	Units []struct {
		ID   uint64 `json:"id"`
		Name string `json:"name"`
	} `json:"units"`
	Terms struct {
		Version    string     `json:"version"`
		AcceptedAt *time.Time `json:"accepted_at"`
	} `json:"terms"`
	Notifications map[string]bool `json:"notifications"`
	Rooms         []struct {
		ID       uint64 `json:"id"`
		Title    string `json:"title"`
		MyRole   string `json:"my_role"`
		Messages []struct {
			ID   uint64    `json:"id"`
			Time time.Time `json:"time"`
			Text string    `json:"text"`
		} `json:"messages"`
		Attachments []struct {
			ID, Name, Type, File string
			Size                 int64
		} `json:"attachments"`
	} `json:"rooms"`
	AccessLog []struct {
		Time time.Time `json:"time"`
		Who  struct {
			ID          uint64
			Name, Title string
		} `json:"who"`
		Action string `json:"action"`
		Unit   *struct {
			ID   uint64 `json:"id"`
			Name string `json:"name"`
		} `json:"unit"`
	} `json:"access_log"`
	Bookings []any             `json:"bookings"`
	Ratings  []any             `json:"ratings"`
	Consents []any             `json:"consents"`
	Notes    map[string]string `json:"notes"`
}

func unzip(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("not a ZIP: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range zr.File {
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		c, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		out[f.Name] = c
	}
	return out
}

func TestExportContent(t *testing.T) {
	e := newEnv(t)
	staff := e.user(t, identity.RoleStaff, identity.Profile{Name: "Sara Sköterska", Title: "Sjuksköterska", Email: "sara@example.se"})
	me := e.user(t, identity.RoleClient, identity.Profile{Name: "Klara Klient", Email: "klara@example.se", Phone: "+46701112233"})
	other := e.user(t, identity.RoleClient, identity.Profile{Name: "Olle Annan", Email: "olle@example.se"})
	pnr, err := personnummer.Parse("198112189876", t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ids.SetPersonnummer(me.ID, pnr, "Klara Klient"); err != nil {
		t.Fatal(err)
	}
	if err := e.ids.AcceptTerms(me.ID, "2026-01"); err != nil {
		t.Fatal(err)
	}
	if err := e.ids.SetNotifyChannels(me.ID, true, true); err != nil {
		t.Fatal(err)
	}
	r1, err := e.rooms.Create(act(staff), "Samtal", e.unit.ID)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := e.rooms.Create(act(staff), "Uppföljning", e.unit.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []rooms.Room{r1, r2} {
		if err := e.rooms.AddMember(act(staff), r.ID, me.ID, "client", rooms.RoleParticipant); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.rooms.AddMember(act(staff), r1.ID, other.ID, "client", rooms.RoleParticipant); err != nil {
		t.Fatal(err)
	}
	must := func(_ rooms.Event, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.rooms.Post(act(staff), r1.ID, "STAFF-TEXT hur mår du?"))
	must(e.rooms.Post(act(me), r1.ID, "mitt första meddelande"))
	must(e.rooms.Post(act(other), r1.ID, "OTHER-CLIENT-SECRET"))
	must(e.rooms.Post(act(me), r1.ID, "mitt andra meddelande"))
	must(e.rooms.Post(act(me), r2.ID, "i rum två"))
	content := pdf(200_000, "klara")
	ref := e.attach(t, act(me), r2.ID, content, "remiss/../svar.pdf")
	e.attach(t, act(other), r1.ID, pdf(1000, "olle"), "olle.pdf")
	// Staff reads both rooms: two access-log entries about me.
	for _, r := range []rooms.Room{r1, r2} {
		if _, err := e.rooms.Timeline(act(staff), r.ID, 0, 0); err != nil {
			t.Fatal(err)
		}
	}

	var buf bytes.Buffer
	if err := export.Write(&buf, me.ID, e.sources()); err != nil {
		t.Fatalf("Write: %v", err)
	}
	files := unzip(t, buf.Bytes())
	raw, ok := files["data.json"]
	if !ok {
		t.Fatalf("no data.json in %v", keys(files))
	}
	var d data
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("data.json does not parse: %v\n%s", err, raw)
	}
	if d.Schema != "clinicbox.export" || d.SchemaVersion != export.SchemaVersion || !d.GeneratedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("header: %q v%d %v", d.Schema, d.SchemaVersion, d.GeneratedAt)
	}
	if d.Profile.Name != "Klara Klient" || d.Profile.Email != "klara@example.se" || d.Profile.Phone != "+46701112233" ||
		d.Profile.Personnummer != "198112189876" || d.Profile.Masked != pnr.Masked() || !d.Profile.FromEID {
		t.Errorf("profile: %+v", d.Profile)
	}
	if d.Account.ID != me.ID || d.Account.Role != "client" {
		t.Errorf("account: %+v", d.Account)
	}
	if len(d.Units) != 1 || d.Units[0].Name != "Mottagning Syd" {
		t.Errorf("units: %+v", d.Units)
	}
	if d.Terms.Version != "2026-01" || d.Terms.AcceptedAt == nil || !d.Terms.AcceptedAt.Equal(t0) {
		t.Errorf("terms: %+v", d.Terms)
	}
	if !d.Notifications["email"] || !d.Notifications["sms"] {
		t.Errorf("notifications: %v", d.Notifications)
	}
	if len(d.Rooms) != 2 {
		t.Fatalf("rooms: %+v", d.Rooms)
	}
	byTitle := map[string]int{}
	for i, r := range d.Rooms {
		byTitle[r.Title] = i
		if r.MyRole != "participant" {
			t.Errorf("room %q: my_role %q", r.Title, r.MyRole)
		}
	}
	room1, room2 := d.Rooms[byTitle["Samtal"]], d.Rooms[byTitle["Uppföljning"]]
	if len(room1.Messages) != 2 || room1.Messages[0].Text != "mitt första meddelande" || room1.Messages[1].Text != "mitt andra meddelande" {
		t.Errorf("room 1 messages: %+v", room1.Messages)
	}
	if len(room1.Attachments) != 0 {
		t.Errorf("room 1 lists another person's attachment: %+v", room1.Attachments)
	}
	if len(room2.Messages) != 1 || room2.Messages[0].Text != "i rum två" || !room2.Messages[0].Time.Equal(t0) {
		t.Errorf("room 2 messages: %+v", room2.Messages)
	}
	if len(room2.Attachments) != 1 {
		t.Fatalf("room 2 attachments: %+v", room2.Attachments)
	}
	a := room2.Attachments[0]
	if a.ID != ref.ID || a.Type != "application/pdf" || a.Size != int64(len(content)) || !strings.HasPrefix(a.File, "files/"+ref.ID+"-") {
		t.Errorf("attachment: %+v", a)
	}
	if strings.Count(a.File, "/") != 1 {
		t.Errorf("the file's path inside the archive has more than one folder: %q", a.File)
	}
	if got, ok := files[a.File]; !ok || !bytes.Equal(got, content) {
		t.Errorf("the file %q in the archive: present %v, %d bytes, equal %v", a.File, ok, len(got), bytes.Equal(got, content))
	}
	if len(files) != 2 {
		t.Errorf("the archive holds %v; want data.json and one file", keys(files))
	}
	if bytes.Contains(raw, []byte("OTHER-CLIENT-SECRET")) || bytes.Contains(raw, []byte("STAFF-TEXT")) || bytes.Contains(raw, []byte("Olle")) {
		t.Error("data.json holds other people's messages or names")
	}
	if len(d.AccessLog) != 2 {
		t.Fatalf("access log: %+v", d.AccessLog)
	}
	for _, en := range d.AccessLog {
		if en.Who.ID != staff.ID || en.Who.Name != "Sara Sköterska" || en.Who.Title != "Sjuksköterska" ||
			en.Action != "room.read" || en.Unit == nil || en.Unit.Name != "Mottagning Syd" || !en.Time.Equal(t0) {
			t.Errorf("access-log entry: %+v", en)
		}
	}
	if d.Bookings == nil || d.Ratings == nil || d.Consents == nil || len(d.Notes) < 5 {
		t.Errorf("placeholders: bookings %v ratings %v consents %v notes %v", d.Bookings, d.Ratings, d.Consents, d.Notes)
	}

	// The other client's export has their message and file, not mine.
	buf.Reset()
	if err := export.Write(&buf, other.ID, e.sources()); err != nil {
		t.Fatal(err)
	}
	of := unzip(t, buf.Bytes())
	if !bytes.Contains(of["data.json"], []byte("OTHER-CLIENT-SECRET")) || bytes.Contains(of["data.json"], []byte("mitt första")) {
		t.Errorf("the other client's export:\n%s", of["data.json"])
	}
}

func TestExportUnknownUser(t *testing.T) {
	e := newEnv(t)
	var buf bytes.Buffer
	if err := export.Write(&buf, 999, e.sources()); err == nil {
		t.Error("export of a user that does not exist succeeded")
	}
	if buf.Len() != 0 {
		t.Errorf("%d bytes written for a user that does not exist", buf.Len())
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

type counter struct{ n atomic.Int64 }

func (c *counter) Write(p []byte) (int, error) { c.n.Add(int64(len(p))); return len(p), nil }

// BenchmarkExportHeavyUser: a client with 10,000 messages and 20
// attachments of 1 MiB. Reports the archive's size, and the peak heap in
// use during Write (sampled every millisecond) above the heap before.
func BenchmarkExportHeavyUser(b *testing.B) {
	e := newEnv(b)
	e.db.Bolt().NoSync = true
	staff := e.user(b, identity.RoleStaff, identity.Profile{Name: "Sara", Title: "Kurator", Email: "sara@example.se"})
	me := e.user(b, identity.RoleClient, identity.Profile{Name: "Tung Användare", Email: "tung@example.se"})
	r, err := e.rooms.Create(act(staff), "Tungt rum", e.unit.ID)
	if err != nil {
		b.Fatal(err)
	}
	if err := e.rooms.AddMember(act(staff), r.ID, me.ID, "client", rooms.RoleParticipant); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < 10_000; i += 16 {
				if _, err := e.rooms.Post(act(me), r.ID, fmt.Sprintf("meddelande nummer %d: %s", i, strings.Repeat("text ", 20))); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for i := range 20 {
		e.attach(b, act(me), r.ID, pdf(1<<20, fmt.Sprint(i)), fmt.Sprintf("bild%d.pdf", i))
	}
	e.db.Bolt().NoSync = false
	src := e.sources()

	var size, peak uint64
	b.ResetTimer()
	for b.Loop() {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base := ms.HeapInuse
		stop := make(chan struct{})
		done := make(chan uint64)
		go func() {
			var max uint64
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for {
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				if m.HeapInuse > max {
					max = m.HeapInuse
				}
				select {
				case <-stop:
					done <- max
					return
				case <-tick.C:
				}
			}
		}()
		var c counter
		if err := export.Write(&c, me.ID, src); err != nil {
			b.Fatal(err)
		}
		close(stop)
		if p := <-done; p > base && p-base > peak {
			peak = p - base
		}
		size = uint64(c.n.Load())
	}
	b.ReportMetric(float64(size)/(1<<20), "MiB/export")
	b.ReportMetric(float64(peak)/(1<<20), "MiB-peak-heap")
}
