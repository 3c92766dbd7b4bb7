package web

import (
	"bytes"
	"encoding/csv"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"clinicbox/appliance/identity"
	"clinicbox/appliance/privacy/auditlog"
	"clinicbox/storage"
	"clinicbox/storage/keystore"
)

var _ = expect(map[string]string{
	"GET /admin/access-log":          "admin",
	"GET /admin/access-log.csv":      "admin",
	"GET /account/access-log":        "client relative",
	"GET /admin/units":               "admin",
	"POST /admin/units":              "admin",
	"GET /admin/units/{id}":          "admin",
	"POST /admin/units/{id}/rename":  "admin",
	"POST /admin/units/{id}/members": "admin",
})

// auditEnv is a web server over a real identity store, key store and
// access log, all on one bbolt file in a temporary directory.
type auditEnv struct {
	t     testing.TB
	db    *storage.DB
	keys  *keystore.Store
	ids   *identity.Store
	log   *auditlog.Log
	srv   *Server
	sessn map[uint64]session
}

type session struct{ tok, csrf string }

func newAuditEnv(t testing.TB) *auditEnv {
	t.Helper()
	dir := t.TempDir()
	db, err := storage.Open(filepath.Join(dir, "clinicbox.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	keys, err := keystore.Open(filepath.Join(dir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keys.Close() })
	ik, err := keys.DeriveKey("identity/email-index")
	if err != nil {
		t.Fatal(err)
	}
	ids, err := identity.New(identity.Options{DB: db, Keys: keys, IndexKey: ik})
	if err != nil {
		t.Fatal(err)
	}
	log, err := auditlog.New(db, db.BoxID())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Options{Identity: ids, Keys: keys, Audit: log})
	if err != nil {
		t.Fatal(err)
	}
	return &auditEnv{t: t, db: db, keys: keys, ids: ids, log: log, srv: srv, sessn: map[uint64]session{}}
}

// user creates an account; clients and relatives have accepted the terms,
// so their pages are not redirected to them.
func (e *auditEnv) user(role identity.Role, name, title string) identity.User {
	e.t.Helper()
	email := ""
	if role.NeedsSecondFactor() {
		email = strings.ToLower(strings.ReplaceAll(name, " ", ".")) + "@example.se"
	}
	u, err := e.ids.CreateUser(role, identity.Profile{Name: name, Email: email, Title: title}, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if role == identity.RoleClient || role == identity.RoleRelative {
		if err := e.ids.AcceptTerms(u.ID, TermsVersion); err != nil {
			e.t.Fatal(err)
		}
		u, _ = e.ids.User(u.ID)
	}
	return u
}

// request sends method path as u (a complete session, made once per
// user); form, when not nil, is posted with the session's CSRF token.
func (e *auditEnv) request(u identity.User, method, path string, form url.Values) *httptest.ResponseRecorder {
	e.t.Helper()
	s, ok := e.sessn[u.ID]
	if !ok {
		tok, sess, err := e.ids.StartSession(u, true)
		if err != nil {
			e.t.Fatal(err)
		}
		s = session{tok, sess.CSRFToken()}
		e.sessn[u.ID] = s
	}
	var req *http.Request
	if form != nil {
		form.Set("csrf", s.csrf)
		req = httptest.NewRequest(method, "https://box.test"+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, "https://box.test"+path, nil)
	}
	req.AddCookie(&http.Cookie{Name: SessionCookie, Value: s.tok})
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	return rec
}

func (e *auditEnv) get(u identity.User, path string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.request(u, "GET", path, nil)
}

func (e *auditEnv) append(entry auditlog.Entry) auditlog.Entry {
	e.t.Helper()
	out, err := e.log.Append(entry)
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *auditEnv) count() int {
	e.t.Helper()
	n, err := e.log.Count()
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

var seqRE = regexp.MustCompile(`<tr data-seq="(\d+)">`)

// seqs returns the entries shown in the review table, in order.
func seqs(t testing.TB, body string) []uint64 {
	t.Helper()
	var out []uint64
	for _, m := range seqRE.FindAllStringSubmatch(body, -1) {
		n, _ := strconv.ParseUint(m[1], 10, 64)
		out = append(out, n)
	}
	return out
}

// auditFixture is a small clinic with a few entries.
type auditFixture struct {
	*auditEnv
	admin, anna, bo, cecilia, cecilie, david, rut identity.User
	unit                                          identity.Unit
	entries                                       []auditlog.Entry // by seq-1
}

// Times of the fixture's entries, UTC. 2026-03-09 23:30 UTC is already
// 10 March in Sweden (CET, UTC+1); 2026-06-30 22:30 UTC is 1 July
// (CEST, UTC+2).
var (
	tMar09 = time.Date(2026, 3, 9, 12, 0, 0, 0, time.UTC)
	tMar10 = time.Date(2026, 3, 9, 23, 30, 0, 0, time.UTC)
	tJun30 = time.Date(2026, 6, 30, 12, 0, 0, 0, time.UTC)
	tJul01 = time.Date(2026, 6, 30, 22, 30, 0, 0, time.UTC)
)

func newAuditFixture(t testing.TB) *auditFixture {
	e := newAuditEnv(t)
	f := &auditFixture{auditEnv: e}
	var err error
	if f.unit, err = e.ids.CreateUnit("Mottagning Norr", identity.UnitStandard); err != nil {
		t.Fatal(err)
	}
	f.admin = e.user(identity.RoleAdmin, "Greta Admin", "")
	f.anna = e.user(identity.RoleStaff, "Anna Lind", "Psykolog")
	f.bo = e.user(identity.RoleStaff, "Bo Ek", "Kurator")
	f.cecilia = e.user(identity.RoleClient, "Cecilia Berg", "")
	f.cecilie = e.user(identity.RoleClient, "Cecilie Holm", "")
	f.david = e.user(identity.RoleClient, "David Ström", "")
	f.rut = e.user(identity.RoleRelative, "Rut Berg", "")
	for _, x := range []auditlog.Entry{
		{Time: tMar09, ActorID: f.anna.ID, ActorRole: auditlog.RoleStaff, SubjectID: f.cecilia.ID, UnitID: f.unit.ID, Action: "room.read", Detail: "room:7"},
		{Time: tMar10, ActorID: f.bo.ID, ActorRole: auditlog.RoleStaff, SubjectID: f.david.ID, UnitID: f.unit.ID, Action: "profile.update"},
		{Time: tJun30, ActorID: f.anna.ID, ActorRole: auditlog.RoleStaff, SubjectID: f.david.ID, UnitID: f.unit.ID, Action: "weird.code"},
		{Time: tJul01, ActorID: f.bo.ID, ActorRole: auditlog.RoleStaff, SubjectID: f.cecilia.ID, Action: "booking.read"},
		{Time: tJul01.Add(time.Minute), ActorID: f.rut.ID, ActorRole: auditlog.RoleRelative, SubjectID: f.cecilia.ID, Action: "room.read"},
		{Time: tJul01.Add(2 * time.Minute), ActorRole: auditlog.RoleSystem, SubjectID: f.cecilie.ID, Action: "export.create"},
	} {
		f.entries = append(f.entries, e.append(x))
	}
	return f
}

func TestAccessLogReviewFilters(t *testing.T) {
	f := newAuditFixture(t)
	all := []uint64{6, 5, 4, 3, 2, 1}
	cases := []struct {
		name  string
		query string
		want  []uint64
	}{
		{"everything, newest first", "", all},
		{"staff member", "?actor=" + id(f.anna), []uint64{3, 1}},
		{"another staff member", "?actor=" + id(f.bo), []uint64{4, 2}},
		{"from a date, Swedish time", "?from=2026-03-10", []uint64{6, 5, 4, 3, 2}},
		{"to a date, inclusive, Swedish time", "?to=2026-03-09", []uint64{1}},
		{"a period in summer time", "?from=2026-06-30&to=2026-06-30", []uint64{3}},
		{"from 1 July", "?from=2026-07-01", []uint64{6, 5, 4}},
		{"staff and period", "?actor=" + id(f.bo) + "&from=2026-07-01&to=2026-07-01", []uint64{4}},
		{"an empty period", "?from=2027-01-01", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := f.count()
			rec := f.get(f.admin, "/admin/access-log"+c.query)
			if rec.Code != 200 {
				t.Fatalf("status %d: %.400s", rec.Code, rec.Body)
			}
			if got := seqs(t, rec.Body.String()); !slices.Equal(got, c.want) {
				t.Errorf("entries %v, want %v", got, c.want)
			}
			if f.count() != before {
				t.Error("a review without a client filter wrote to the access log")
			}
			if c.want == nil && !strings.Contains(rec.Body.String(), `id="audit-none"`) {
				t.Error("no 'nothing matches' message")
			}
		})
	}

	// The table says who, which client, what and where in words.
	body := f.get(f.admin, "/admin/access-log?lang=en").Body.String()
	for _, want := range []string{"Anna Lind", "Psykolog", "Cecilia Berg", "David Ström", "Read a conversation",
		"Changed personal details", "<code>weird.code</code>", "Mottagning Norr", "The box (automatic)",
		"room:7", `<time datetime="2026-03-09T23:30:00Z">2026-03-10 00:30</time>`,
		`<time datetime="2026-06-30T22:30:00Z">2026-07-01 00:30</time>`, `<th scope="col">`, "<caption>"} {
		if !strings.Contains(body, want) {
			t.Errorf("review page lacks %q", want)
		}
	}
}

func id(u identity.User) string { return strconv.FormatUint(u.ID, 10) }

func TestAccessLogReviewOfAClientIsLogged(t *testing.T) {
	f := newAuditFixture(t)
	before := f.count()
	rec := f.get(f.admin, "/admin/access-log?client="+id(f.cecilia))
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	// The review is logged before the entries are read, so it is the
	// first row.
	if got, want := seqs(t, rec.Body.String()), []uint64{uint64(before + 1), 5, 4, 1}; !slices.Equal(got, want) {
		t.Errorf("entries %v, want %v", got, want)
	}
	if f.count() != before+1 {
		t.Fatalf("%d entries after the review, want %d", f.count(), before+1)
	}
	last, _, _ := f.log.Get(uint64(before + 1))
	if last.Action != "auditlog.review" || last.ActorID != f.admin.ID || last.ActorRole != auditlog.RoleAdmin || last.SubjectID != f.cecilia.ID {
		t.Errorf("review entry %+v", last)
	}
	// The client sees that the administrator looked.
	mine := f.get(f.cecilia, "/account/access-log?lang=en").Body.String()
	if !strings.Contains(mine, "Greta Admin") || !strings.Contains(mine, "Reviewed the access log") {
		t.Errorf("the client's own view does not show the review: %.2000s", mine)
	}
}

func TestAccessLogClientSearch(t *testing.T) {
	f := newAuditFixture(t)
	// One match: filtered by that client (and logged).
	rec := f.get(f.admin, "/admin/access-log?clientq=str%C3%B6m")
	if got := seqs(t, rec.Body.String()); rec.Code != 200 || len(got) != 3 || got[1] != 3 || got[2] != 2 {
		t.Fatalf("search for one client: %d %v", rec.Code, got)
	}
	// Two match ("Cecilia", "Cecilie"): choose in the list, which then
	// offers only those two.
	rec = f.get(f.admin, "/admin/access-log?clientq=cecili")
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), `id="form-error"`) {
		t.Fatalf("several matches: %d", rec.Code)
	}
	if b := rec.Body.String(); strings.Contains(b, "David Ström") || !strings.Contains(b, "Cecilie Holm") {
		t.Error("after several matches the list should offer only them")
	}
	rec = f.get(f.admin, "/admin/access-log?clientq=cecili&client="+id(f.cecilie))
	if got := seqs(t, rec.Body.String()); rec.Code != 200 || len(got) != 2 || got[1] != 6 {
		t.Fatalf("search and choice: %d %v", rec.Code, got)
	}
	rec = f.get(f.admin, "/admin/access-log?clientq=nobody")
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), `id="clientq"`) {
		t.Fatalf("no match: %d", rec.Code)
	}
}

func TestAccessLogBadFilters(t *testing.T) {
	f := newAuditFixture(t)
	before := f.count()
	for _, c := range []struct{ query, field string }{
		{"?from=2026-13-01", "from"},
		{"?from=yesterday", "from"},
		{"?to=2026-02-30", "to"},
		{"?from=2026-03-10&to=2026-03-09", "to"},
		{"?actor=abc", "actor"},
		{"?actor=" + id(f.cecilia), "actor"}, // a client is not in the staff list
		{"?client=" + id(f.anna), "client"},  // staff are not clients
		{"?client=-1", "client"},
	} {
		for _, path := range []string{"/admin/access-log", "/admin/access-log.csv"} {
			rec := f.get(f.admin, path+c.query)
			if rec.Code != http.StatusUnprocessableEntity {
				t.Errorf("%s%s: status %d, want 422", path, c.query, rec.Code)
				continue
			}
			if !regexp.MustCompile(`id="` + c.field + `"[^>]*aria-invalid="true"`).MatchString(rec.Body.String()) {
				t.Errorf("%s%s: field %s not marked invalid", path, c.query, c.field)
			}
			if !strings.Contains(rec.Body.String(), `role="alert"`) || strings.Contains(rec.Body.String(), `data-seq=`) {
				t.Errorf("%s%s: no alert, or entries shown", path, c.query)
			}
		}
	}
	if f.count() != before {
		t.Error("a refused filter wrote to the access log")
	}
	// A cursor that is not a number starts from the first page.
	if got := seqs(t, f.get(f.admin, "/admin/access-log?after=x").Body.String()); len(got) != 6 {
		t.Errorf("after=x: %v", got)
	}
}

func TestAccessLogErasedClient(t *testing.T) {
	f := newAuditFixture(t)
	if err := f.keys.Erase(identity.Subject(f.david.ID)); err != nil {
		t.Fatal(err)
	}
	body := f.get(f.admin, "/admin/access-log?lang=en").Body.String()
	if strings.Contains(body, "David") || !strings.Contains(body, "Former client #"+id(f.david)) {
		t.Errorf("an erased client should show as a former client by id")
	}
	// Their entries can still be reviewed by the id (and the review is
	// logged under it).
	rec := f.get(f.admin, "/admin/access-log?lang=en&client="+id(f.david))
	if got := seqs(t, rec.Body.String()); rec.Code != 200 || len(got) != 3 || got[1] != 3 || got[2] != 2 {
		t.Fatalf("review of an erased client: %d %v", rec.Code, got)
	}
	if !strings.Contains(rec.Body.String(), `selected>Former client #`+id(f.david)) {
		t.Error("the client list does not show the chosen former client")
	}
}

func TestAccessLogPaging(t *testing.T) {
	e := newAuditEnv(t)
	admin := e.user(identity.RoleAdmin, "Greta Admin", "")
	staff := e.user(identity.RoleStaff, "Anna Lind", "")
	client := e.user(identity.RoleClient, "Cecilia Berg", "")
	other := e.user(identity.RoleClient, "David Ström", "")
	err := e.db.Update(func(tx *bbolt.Tx) error {
		for i := range 130 {
			subject := client.ID
			if i%13 == 0 {
				subject = other.ID
			}
			if _, err := e.log.AppendTx(tx, auditlog.Entry{ActorID: staff.ID, ActorRole: auditlog.RoleStaff, SubjectID: subject, Action: "room.read"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	walk := func(who identity.User, path string) (pages [][]uint64) {
		t.Helper()
		for range 10 {
			rec := e.get(who, path)
			if rec.Code != 200 {
				t.Fatalf("%s: %d", path, rec.Code)
			}
			body := rec.Body.String()
			pages = append(pages, seqs(t, body))
			if who.Role == identity.RoleClient {
				pages[len(pages)-1] = rowsOfMine(body)
			}
			m := regexp.MustCompile(`href="([^"]*)"[^>]*rel="next"`).FindStringSubmatch(body)
			if m == nil {
				return pages
			}
			path = strings.ReplaceAll(m[1], "&amp;", "&")
		}
		t.Fatal("more than 10 pages")
		return nil
	}

	pages := walk(admin, "/admin/access-log?actor="+id(staff))
	if len(pages) != 3 || len(pages[0]) != 50 || len(pages[1]) != 50 || len(pages[2]) != 30 {
		t.Fatalf("page sizes %d pages: %v", len(pages), lens(pages))
	}
	var flat []uint64
	for _, p := range pages {
		flat = append(flat, p...)
	}
	for i, s := range flat {
		if s != uint64(130-i) {
			t.Fatalf("entry %d of the walk is %d, want %d (newest first, no gaps or repeats)", i, s, 130-i)
		}
	}
	// The filter travels with the cursor: a client filter pages through
	// that client's entries only.
	pages = walk(admin, "/admin/access-log?client="+id(client))
	total := 0
	for _, p := range pages {
		total += len(p)
	}
	// 120 of the client's entries, plus the review logged when the first
	// page was viewed (the later pages' reviews are newer than their
	// cursor, so they show on the first page next time).
	if total != 121 {
		t.Errorf("client filter: %d rows over %d pages, want 121", total, len(pages))
	}
	if n := e.count(); n != 130+len(pages) {
		t.Errorf("%d entries after viewing %d pages filtered by a client, want one review per page", n, len(pages))
	}

	// The client's own view pages too.
	mine := walk(client, "/account/access-log")
	if len(mine) < 3 || len(mine[0]) != 50 {
		t.Errorf("client's pages: %v", lens(mine))
	}
}

func lens(pages [][]uint64) []int {
	var out []int
	for _, p := range pages {
		out = append(out, len(p))
	}
	return out
}

// rowsOfMine counts the rows of a client's own table (they carry no
// sequence numbers); the values are placeholders.
func rowsOfMine(body string) []uint64 {
	n := strings.Count(body, "<tr>") - 1 // the header row
	if n < 0 {
		n = 0
	}
	return make([]uint64, n)
}

func TestAccessLogCSV(t *testing.T) {
	f := newAuditFixture(t)
	before := f.count()
	rec := f.get(f.admin, "/admin/access-log.csv?client="+id(f.cecilia))
	if rec.Code != 200 {
		t.Fatalf("status %d: %.300s", rec.Code, rec.Body)
	}
	h := rec.Header()
	if ct := h.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cd := h.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="access-log-`) || !strings.HasSuffix(cd, `.csv"`) {
		t.Errorf("Content-Disposition %q", cd)
	}
	if h.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", h.Get("Cache-Control"))
	}
	// The export of a named client is logged, before the file is written.
	exp, _, _ := f.log.Get(uint64(before + 1))
	if f.count() != before+1 || exp.Action != "auditlog.export" || exp.ActorID != f.admin.ID || exp.SubjectID != f.cecilia.ID {
		t.Fatalf("export entry %+v (count %d)", exp, f.count())
	}

	body, ok := bytes.CutPrefix(rec.Body.Bytes(), []byte("\ufeff"))
	if !ok {
		t.Error("no UTF-8 byte order mark")
	}
	r := csv.NewReader(bytes.NewReader(body))
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if want := append(auditlog.CSVHeader(), CSVExtraHeader()...); !slices.Equal(rows[0], want) {
		t.Fatalf("header %v, want %v", rows[0], want)
	}
	// Oldest first, as in the log: entries 1, 4, 5 and the export.
	var got []string
	for _, row := range rows[1:] {
		got = append(got, row[0])
	}
	if want := []string{"1", "4", "5", strconv.Itoa(before + 1)}; !slices.Equal(got, want) {
		t.Fatalf("seqs %v, want %v", got, want)
	}
	first := rows[1]
	if first[2] != id(f.anna) || first[4] != id(f.cecilia) || first[6] != "room.read" || first[7] != "room:7" ||
		first[10] != "2026-03-09T13:00:00+01:00" || first[11] != "Anna Lind" || first[12] != "Cecilia Berg" || first[13] != "Mottagning Norr" {
		t.Errorf("first row %q", first)
	}
	if rel := rows[3]; rel[11] != "Rut Berg" || rel[3] != "relative" || rel[13] != "" {
		t.Errorf("relative's row %q", rel)
	}
	// The hashes in the file are the log's: the chain can be checked
	// from the export.
	e1, _, _ := f.log.Get(1)
	if first[9] != hexOf(e1.Hash) {
		t.Errorf("hash %s, want %s", first[9], hexOf(e1.Hash))
	}

	// No client filter: everything, nothing logged.
	before = f.count()
	rec = f.get(f.admin, "/admin/access-log.csv?from=2026-07-01&to=2026-07-01")
	rows, err = csv.NewReader(strings.NewReader(strings.TrimPrefix(rec.Body.String(), "\ufeff"))).ReadAll()
	if err != nil || len(rows) != 1+3 { // 4, 5, 6
		t.Fatalf("period export: %d rows, %v", len(rows), err)
	}
	if f.count() != before {
		t.Error("an export without a client filter wrote to the access log")
	}
	if sys := rows[3]; sys[3] != "system" || sys[11] != "" || sys[12] != "Cecilie Holm" {
		t.Errorf("system row %q", sys)
	}
}

func hexOf(h [32]byte) string { return hex.EncodeToString(h[:]) }

func TestCSVNamesDefused(t *testing.T) {
	e := newAuditEnv(t)
	admin := e.user(identity.RoleAdmin, "Greta Admin", "")
	staff, err := e.ids.CreateUser(identity.RoleStaff, identity.Profile{Name: "=HYPERLINK(1)", Email: "h@example.se"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := e.user(identity.RoleClient, "@Eva", "")
	e.append(auditlog.Entry{ActorID: staff.ID, ActorRole: auditlog.RoleStaff, SubjectID: client.ID, Action: "room.read"})
	rec := e.get(admin, "/admin/access-log.csv")
	rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(rec.Body.String(), "\ufeff"))).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("%d rows %v", len(rows), err)
	}
	if rows[1][11] != "'=HYPERLINK(1)" || rows[1][12] != "'@Eva" {
		t.Errorf("names not defused: %q", rows[1][11:])
	}
}

func TestClientSeesOnlyTheirOwnEntries(t *testing.T) {
	f := newAuditFixture(t)
	before := f.count()
	for _, c := range []struct {
		who      identity.User
		rows     int
		want     []string
		mustNot  []string
		wantCode int
	}{
		{f.cecilia, 3, []string{"Anna Lind", "Psykolog", "Bo Ek", "Kurator", "Rut Berg", "Read a conversation", "Mottagning Norr"}, []string{"David", "Cecilie", "weird.code", "Changed personal details"}, 200},
		{f.david, 2, []string{"Bo Ek", "Anna Lind", "Changed personal details", "Other access"}, []string{"Cecilia", "Rut Berg", "Cecilie", "booking"}, 200},
		{f.cecilie, 1, []string{"The box (automatic)", "Exported personal data"}, []string{"Cecilia", "David", "Anna"}, 200},
		{f.rut, 0, []string{"Nobody has accessed your data yet."}, []string{"Cecilia", "Anna"}, 200},
	} {
		rec := f.get(c.who, "/account/access-log?lang=en")
		body := rec.Body.String()
		if rec.Code != c.wantCode {
			t.Errorf("%s: status %d", c.who.Profile.Name, rec.Code)
			continue
		}
		if n := len(rowsOfMine(body)); n != c.rows {
			t.Errorf("%s: %d rows, want %d", c.who.Profile.Name, n, c.rows)
		}
		for _, s := range c.want {
			if !strings.Contains(body, s) {
				t.Errorf("%s: page lacks %q", c.who.Profile.Name, s)
			}
		}
		for _, s := range c.mustNot {
			if strings.Contains(body, s) {
				t.Errorf("%s: page shows %q, which is not theirs", c.who.Profile.Name, s)
			}
		}
		if !strings.Contains(body, "Patient Data Act") {
			t.Errorf("%s: no explanation at the top", c.who.Profile.Name)
		}
	}
	// A client reading their own log is not logged.
	if f.count() != before {
		t.Error("the client's own view wrote to the access log")
	}
	// A cursor into another client's part of the log shows nothing of theirs.
	body := f.get(f.david, "/account/access-log?lang=en&after=6").Body.String()
	if strings.Contains(body, "Rut Berg") || strings.Contains(body, "booking") {
		t.Error("a cursor leaked another client's entries")
	}
}

func TestAccessLogForbiddenToOthers(t *testing.T) {
	f := newAuditFixture(t)
	for _, c := range []struct {
		who  identity.User
		path string
	}{
		{f.anna, "/admin/access-log"},
		{f.anna, "/admin/access-log.csv"},
		{f.anna, "/admin/access-log?client=" + id(f.cecilia)},
		{f.cecilia, "/admin/access-log"},
		{f.anna, "/account/access-log"},
		{f.admin, "/account/access-log"},
		{f.anna, "/admin/units"},
	} {
		before := f.count()
		rec := f.get(c.who, c.path)
		if rec.Code != http.StatusForbidden {
			t.Errorf("%s as %s: %d, want 403", c.path, c.who.Role, rec.Code)
		}
		if strings.Contains(rec.Body.String(), "Cecilia Berg") || strings.Contains(rec.Body.String(), "data-seq") {
			t.Errorf("%s as %s: the refusal shows log data", c.path, c.who.Role)
		}
		if f.count() != before {
			t.Errorf("%s as %s: a refused request wrote to the access log", c.path, c.who.Role)
		}
	}
}

func TestAccessLogWithoutLog(t *testing.T) {
	ti := newTestIdentity(t)
	s, err := New(Options{Identity: ti.store, Keys: ti.keys})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := ti.store.CreateUser(identity.RoleAdmin, identity.Profile{Name: "Ann Admin", Email: "ann@example.se"}, nil)
	tok, _, _ := ti.store.StartSession(u, true)
	req := httptest.NewRequest("GET", "https://box.test/admin/access-log", nil)
	req.AddCookie(&http.Cookie{Name: SessionCookie, Value: tok})
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("no log: %d", rec.Code)
	}
}

func TestStockholmTime(t *testing.T) {
	cases := []struct {
		utc  time.Time
		want string
	}{
		{time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC), "2026-01-15 13:00 CET"},
		{time.Date(2026, 3, 29, 0, 59, 59, 0, time.UTC), "2026-03-29 01:59 CET"},
		{time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC), "2026-03-29 03:00 CEST"},
		{time.Date(2026, 10, 25, 0, 59, 0, 0, time.UTC), "2026-10-25 02:59 CEST"},
		{time.Date(2026, 10, 25, 1, 0, 0, 0, time.UTC), "2026-10-25 02:00 CET"},
		{time.Date(2027, 3, 28, 1, 0, 0, 0, time.UTC), "2027-03-28 03:00 CEST"},
	}
	for _, c := range cases {
		if got := stockholmTime(c.utc).Format("2006-01-02 15:04 MST"); got != c.want {
			t.Errorf("%s: %s, want %s", c.utc, got, c.want)
		}
	}
	for _, day := range []string{"2026-01-01", "2026-03-29", "2026-03-30", "2026-07-01", "2026-10-25", "2026-10-26"} {
		d, _ := time.Parse(time.DateOnly, day)
		m := stockholmTime(stockholmMidnight(d))
		if m.Format("2006-01-02 15:04:05") != day+" 00:00:00" {
			t.Errorf("midnight of %s is %s", day, m)
		}
	}
	// Against the system's time zone database, where there is one.
	loc, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		t.Skip("no zoneinfo for Europe/Stockholm here")
	}
	for tt := time.Date(1997, 1, 1, 0, 30, 0, 0, time.UTC); tt.Year() < 2040; tt = tt.Add(97 * time.Minute * 7) {
		_, want := tt.In(loc).Zone()
		if _, got := stockholmTime(tt).Zone(); got != want {
			t.Fatalf("%s: offset %d, zoneinfo says %d", tt, got, want)
		}
	}
}

func TestUnitsAdmin(t *testing.T) {
	e := newAuditEnv(t)
	admin := e.user(identity.RoleAdmin, "Greta Admin", "")
	anna := e.user(identity.RoleStaff, "Anna Lind", "Psykolog")
	bo := e.user(identity.RoleStaff, "Bo Ek", "")
	client := e.user(identity.RoleClient, "Cecilia Berg", "")
	logBefore := e.count()

	rec := e.get(admin, "/admin/units?lang=en")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `id="units-none"`) || !strings.Contains(rec.Body.String(), "Shorter retention") {
		t.Fatalf("empty units page: %d", rec.Code)
	}
	// Create: a bad kind and a missing name are field errors.
	for _, c := range []struct {
		form  url.Values
		field string
	}{
		{url.Values{"name": {"Norr"}, "kind": {"hospital"}}, "kind"},
		{url.Values{"name": {"  "}, "kind": {"standard"}}, "name"},
		{url.Values{"name": {strings.Repeat("x", 101)}, "kind": {"standard"}}, "name"},
	} {
		rec := e.request(admin, "POST", "/admin/units", c.form)
		if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), `role="alert"`) {
			t.Errorf("create %v: %d", c.form, rec.Code)
		}
	}
	rec = e.request(admin, "POST", "/admin/units", url.Values{"name": {"Digitala vården"}, "kind": {"digital-care"}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/admin/units?done=created" {
		t.Fatalf("create: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	units, _ := e.ids.Units()
	if len(units) != 1 || units[0].Name != "Digitala vården" || units[0].Kind != identity.UnitDigitalCare {
		t.Fatalf("units %+v", units)
	}
	u := units[0]
	base := "/admin/units/" + strconv.FormatUint(u.ID, 10)
	if body := e.get(admin, "/admin/units?lang=en&done=created").Body.String(); !strings.Contains(body, "Digitala vården") || !strings.Contains(body, "Digital care") || !strings.Contains(body, "The unit is created.") {
		t.Error("the list does not show the new unit")
	}

	// Rename.
	if rec := e.request(admin, "POST", base+"/rename", url.Values{"name": {""}}); rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("empty name: %d", rec.Code)
	}
	if rec := e.request(admin, "POST", base+"/rename", url.Values{"name": {"Digital vårdkontakt"}}); rec.Code != http.StatusSeeOther {
		t.Errorf("rename: %d", rec.Code)
	}
	if got, _ := e.ids.Unit(u.ID); got.Name != "Digital vårdkontakt" || got.Kind != identity.UnitDigitalCare {
		t.Errorf("after rename %+v", got)
	}

	// Members: staff ticked are in, others out; a user can be in several units.
	other, _ := e.ids.CreateUnit("Mottagning Norr", identity.UnitStandard)
	if err := e.ids.SetUnits(anna.ID, []uint64{other.ID}); err != nil {
		t.Fatal(err)
	}
	rec = e.request(admin, "POST", base+"/members", url.Values{"member": {id(anna), id(bo)}})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("members: %d %.300s", rec.Code, rec.Body)
	}
	if got, _ := e.ids.User(anna.ID); !slices.Equal(got.Units, []uint64{u.ID, other.ID}) && !slices.Equal(got.Units, []uint64{other.ID, u.ID}) {
		t.Errorf("anna's units %v", got.Units)
	}
	if rec := e.request(admin, "POST", base+"/members", url.Values{"member": {id(bo)}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("members: %d", rec.Code)
	}
	if got, _ := e.ids.User(anna.ID); !slices.Equal(got.Units, []uint64{other.ID}) {
		t.Errorf("anna's units after untick %v", got.Units)
	}
	if got, _ := e.ids.User(bo.ID); !slices.Equal(got.Units, []uint64{u.ID}) {
		t.Errorf("bo's units %v", got.Units)
	}
	body := e.get(admin, base+"?lang=en&done=members").Body.String()
	if !regexp.MustCompile(`id="member-`+id(bo)+`"[^>]*checked`).MatchString(body) || regexp.MustCompile(`id="member-`+id(anna)+`"[^>]*checked`).MatchString(body) {
		t.Error("the unit page does not tick the members")
	}
	if strings.Contains(body, "Cecilia") {
		t.Error("clients are offered as unit staff")
	}
	// Someone who is not staff, or no one at all: a field error, nothing changes.
	for _, bad := range []string{id(client), "999", "x"} {
		rec := e.request(admin, "POST", base+"/members", url.Values{"member": {id(anna), bad}})
		if rec.Code != http.StatusUnprocessableEntity {
			t.Errorf("member %s: %d", bad, rec.Code)
		}
	}
	if got, _ := e.ids.User(anna.ID); !slices.Equal(got.Units, []uint64{other.ID}) {
		t.Errorf("a refused form changed anna's units to %v", got.Units)
	}
	// An unknown unit.
	for _, p := range []string{"/admin/units/999", "/admin/units/x"} {
		if rec := e.get(admin, p); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d", p, rec.Code)
		}
	}
	if rec := e.request(admin, "POST", "/admin/units/999/members", url.Values{"member": {id(anna)}}); rec.Code != http.StatusNotFound {
		t.Errorf("members of an unknown unit: %d", rec.Code)
	}
	// Staff membership is not client data: nothing in the access log.
	if e.count() != logBefore {
		t.Error("the units admin wrote to the access log")
	}
}
