package identity_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"clinicbox/appliance/identity"
	"clinicbox/appliance/rooms"
	"clinicbox/appliance/rooms/attachments"
	"clinicbox/storage"
	"clinicbox/storage/keystore"
)

// roomsOver opens a rooms store over the harness's database and keys.
func roomsOver(t testing.TB, h *harness) *rooms.Store {
	t.Helper()
	rs, err := rooms.New(rooms.Options{DB: h.db, Keys: h.keys, Now: h.clock.Now})
	if err != nil {
		t.Fatalf("rooms.New: %v", err)
	}
	return rs
}

func actor(u identity.User) rooms.Actor {
	return rooms.Actor{ID: u.ID, Role: string(u.Role), Units: u.Units}
}

func TestEraseUser(t *testing.T) {
	h := newHarness(t)
	rs := roomsOver(t, h)
	unit, err := h.ids.CreateUnit("Mottagning Norr", "")
	if err != nil {
		t.Fatal(err)
	}
	mark := "zq" + rand.Text()[:10]
	name := "Greta " + mark + "name"
	email := mark + "mail@example.se"
	phone := "+46 70 " + randomDigits(10)
	c, err := h.ids.CreateUser(identity.RoleClient, identity.Profile{Name: name, Email: email, Phone: phone}, []uint64{unit.ID})
	if err != nil {
		t.Fatal(err)
	}
	pnr := makePnr(t, "19850412", 317)
	if err := h.ids.SetPersonnummer(c.ID, pnr, name); err != nil {
		t.Fatal(err)
	}
	staff, err := h.ids.CreateUser(identity.RoleStaff, identity.Profile{Name: "Sara Sköterska", Email: "sara@example.se"}, []uint64{unit.ID})
	if err != nil {
		t.Fatal(err)
	}
	c, staff = h.user(c.ID), h.user(staff.ID)
	tok1, _ := h.start(c, true)
	tok2, _ := h.start(c, false)
	otherTok, _ := h.start(staff, true)
	link, err := h.ids.NewToken(identity.TokenInvite, c.ID, 7*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	room, err := rs.Create(actor(staff), "Uppföljning", unit.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.AddMember(actor(staff), room.ID, c.ID, "client", rooms.RoleParticipant); err != nil {
		t.Fatal(err)
	}
	msg, err := rs.Post(actor(c), room.ID, "Tack för senast, det känns bättre nu.")
	if err != nil {
		t.Fatal(err)
	}

	if err := h.ids.EraseUser(c.ID, true); err != nil {
		t.Fatalf("EraseUser: %v", err)
	}
	if err := rs.RemoveUserEverywhere(c.ID); err != nil {
		t.Fatalf("RemoveUserEverywhere: %v", err)
	}

	if _, err := h.ids.User(c.ID); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("User(erased) = %v, want ErrNotFound", err)
	}
	if _, err := h.ids.UserByEmail(email); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("UserByEmail(erased) = %v, want ErrNotFound", err)
	}
	if _, err := h.ids.UserByPersonnummer(pnr); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("UserByPersonnummer(erased) = %v, want ErrNotFound", err)
	}
	if h.keys.Has(identity.Subject(c.ID)) {
		t.Errorf("the key of %s is still there", identity.Subject(c.ID))
	}
	for _, tok := range []string{tok1, tok2} {
		if _, err := h.ids.Session(tok); !errors.Is(err, identity.ErrNoSession) {
			t.Errorf("Session of the erased user: %v, want ErrNoSession", err)
		}
	}
	if n := h.countKeys("sessions-by-user", idKey(c.ID)); n != 0 {
		t.Errorf("%d sessions-by-user entries left", n)
	}
	if _, err := h.ids.PeekToken(identity.TokenInvite, link); !errors.Is(err, identity.ErrTokenInvalid) {
		t.Errorf("the invitation link after erasure: %v, want ErrTokenInvalid", err)
	}
	if _, err := h.ids.Session(otherTok); err != nil {
		t.Errorf("another user's session ended: %v", err)
	}
	if users, err := h.ids.Users(); err != nil || len(users) != 1 || users[0].ID != staff.ID {
		t.Errorf("Users after erasure = %v, %v; want only the staff member", users, err)
	}

	// The e-mail address and the personnummer are free again; the id is new.
	again, err := h.ids.CreateUser(identity.RoleClient, identity.Profile{Name: "Greta Ny", Email: email}, nil)
	if err != nil {
		t.Fatalf("a new account with the erased e-mail: %v", err)
	}
	if again.ID <= c.ID {
		t.Errorf("the new account has id %d, not above the erased %d: ids must not be reused", again.ID, c.ID)
	}
	if err := h.ids.SetPersonnummer(again.ID, pnr, "Greta Ny"); err != nil {
		t.Errorf("linking the erased personnummer to a new account: %v", err)
	}

	// The other participant still reads the message, under the erased id.
	tl, err := rs.Timeline(actor(staff), room.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, e := range tl {
		if e.ID == msg.ID {
			found = true
			if e.AuthorID != c.ID || e.Text != msg.Text {
				t.Errorf("the message after erasure: author %d text %q", e.AuthorID, e.Text)
			}
		}
	}
	if !found {
		t.Errorf("the erased user's message is gone from the timeline: %+v", tl)
	}
	if _, err := h.ids.User(tl[len(tl)-1].AuthorID); err == nil && tl[len(tl)-1].AuthorID == c.ID {
		t.Error("the author of the message still resolves to a user")
	}
	_, members, err := rs.Get(actor(staff), room.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		if m.UserID == c.ID {
			t.Errorf("the erased user is still listed as a member: %+v", m)
		}
	}
	if list, err := rs.List(actor(c)); err != nil || len(list) != 0 {
		t.Errorf("List of the erased user = %v, %v", list, err)
	}

	// Erasing again: not found, and nothing breaks.
	if err := h.ids.EraseUser(c.ID, true); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("a second EraseUser = %v, want ErrNotFound", err)
	}

	// No plaintext of the erased profile in any file of the data dir,
	// and the key stays gone after reopening.
	h.close()
	for path, content := range h.files() {
		lower := bytes.ToLower(content)
		for what, needle := range map[string]string{"name": mark + "name", "e-mail": strings.ToLower(email),
			"e-mail marker": mark + "mail", "phone": phone, "phone digits": phone[7:], "personnummer": pnr.Digits()} {
			if bytes.Contains(lower, bytes.ToLower([]byte(needle))) {
				t.Errorf("%s of the erased user found in plaintext in %s", what, path)
			}
		}
	}
	h2 := reopen(t, h)
	if h2.keys.Has(identity.Subject(c.ID)) {
		t.Error("the erased key is back after reopening")
	}
	if _, err := h2.ids.User(c.ID); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("User(erased) after reopening = %v", err)
	}
}

func idKey(id uint64) []byte {
	return []byte{byte(id >> 56), byte(id >> 48), byte(id >> 40), byte(id >> 32), byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}
}

func TestEraseLastAdminRefused(t *testing.T) {
	h := newHarness(t)
	a := h.create(identity.RoleAdmin, "Ada Admin", "ada@example.se")
	if err := h.ids.SetStatus(a.ID, identity.StatusActive); err != nil {
		t.Fatal(err)
	}
	pending := h.create(identity.RoleAdmin, "Per Pending", "per@example.se") // pending: does not count
	for _, self := range []bool{true, false} {
		err := h.ids.EraseUser(a.ID, self)
		if !errors.Is(err, identity.ErrLastAdmin) {
			t.Fatalf("erasing the last active admin (self=%v) = %v, want ErrLastAdmin", self, err)
		}
		if !strings.Contains(err.Error(), "administrator") {
			t.Errorf("the refusal says %q", err)
		}
	}
	if u := h.user(a.ID); u.Profile.Name != "Ada Admin" || !h.keys.Has(identity.Subject(a.ID)) {
		t.Errorf("the refused erasure changed the admin: %+v", u)
	}
	// A pending admin can be erased; then a second active admin lets the
	// first go.
	if err := h.ids.EraseUser(pending.ID, false); err != nil {
		t.Fatalf("erasing a pending admin: %v", err)
	}
	b := h.create(identity.RoleAdmin, "Bo Admin", "bo@example.se")
	if err := h.ids.SetStatus(b.ID, identity.StatusActive); err != nil {
		t.Fatal(err)
	}
	if err := h.ids.EraseUser(a.ID, true); err != nil {
		t.Fatalf("erasing one of two active admins: %v", err)
	}
	if err := h.ids.EraseUser(b.ID, true); !errors.Is(err, identity.ErrLastAdmin) {
		t.Errorf("erasing the now last admin = %v, want ErrLastAdmin", err)
	}
}

// heavyClient makes a client who wrote n messages and k attachments (real
// files in an attachment store) in one room with a staff member.
func heavyClient(tb testing.TB, h *harness, rs *rooms.Store, files *attachments.Store, n, k int) (client, staff identity.User, roomID uint64) {
	tb.Helper()
	bolt := h.db.Bolt()
	bolt.NoSync = true // setup only; the erasure itself is measured with fsync
	defer func() { bolt.NoSync = false }()
	unit, err := h.ids.CreateUnit(fmt.Sprintf("Enhet %d", time.Now().UnixNano()%1e6), "")
	if err != nil {
		tb.Fatal(err)
	}
	staff, err = h.ids.CreateUser(identity.RoleStaff, identity.Profile{Name: "Sara", Email: rand.Text()[:12] + "@example.se"}, []uint64{unit.ID})
	if err != nil {
		tb.Fatal(err)
	}
	client, err = h.ids.CreateUser(identity.RoleClient, identity.Profile{Name: "Heavy Client", Email: rand.Text()[:12] + "@example.se", Phone: "+46701234567"}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	room, err := rs.Create(actor(staff), "Tung", unit.ID)
	if err != nil {
		tb.Fatal(err)
	}
	if err := rs.AddMember(actor(staff), room.ID, client.ID, "client", rooms.RoleParticipant); err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 32 {
				if _, err := rs.Post(actor(client), room.ID, fmt.Sprintf("meddelande %d", i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
	for i := range k {
		meta, err := files.Put(rooms.Subject(room.ID), strings.NewReader(fmt.Sprintf("%%PDF-1.4\n%% file %d\n%s", i, strings.Repeat("x", 4096))), fmt.Sprintf("doc%d.pdf", i))
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := rs.PostAttachment(actor(client), room.ID, rooms.AttachmentRef{ID: meta.ID, Name: meta.Name, Size: meta.Size, Type: meta.Type}); err != nil {
			tb.Fatal(err)
		}
	}
	return client, staff, room.ID
}

func newFiles(tb testing.TB, h *harness) *attachments.Store {
	tb.Helper()
	fs, err := attachments.New(attachments.Options{Dir: filepath.Join(h.dir, "files"), Keys: h.keys})
	if err != nil {
		tb.Fatal(err)
	}
	return fs
}

// TestEraseHeavyClientFast: erasing a client who wrote 10,000 messages and
// 100 attachments takes well under a second (the target), because the
// erasure touches the account, never the messages; they stay readable.
func TestEraseHeavyClientFast(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 10,000 messages")
	}
	h := newHarness(t)
	rs := roomsOver(t, h)
	c, staff, roomID := heavyClient(t, h, rs, newFiles(t, h), 10_000, 100)
	start := time.Now()
	if err := h.ids.EraseUser(c.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := rs.RemoveUserEverywhere(c.ID); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("erasure of a client with 10,000 messages and 100 attachments: %v", took)
	if took > time.Second {
		t.Errorf("erasure took %v, target < 1 s", took)
	}
	tl, err := rs.Timeline(actor(staff), roomID, 0, rooms.MaxTimelineLimit)
	if err != nil || len(tl) != rooms.MaxTimelineLimit {
		t.Fatalf("timeline after erasure: %d events, %v", len(tl), err)
	}
	if tl[len(tl)-1].AuthorID != c.ID {
		t.Errorf("the newest event's author is %d, want the erased %d", tl[len(tl)-1].AuthorID, c.ID)
	}
}

// BenchmarkEraseHeavyClient measures EraseUser + RemoveUserEverywhere of
// a client with 10,000 messages and 100 attachments. The setup is slow:
// run with -benchtime=3x.
func BenchmarkEraseHeavyClient(b *testing.B) {
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		hb := benchHarness(b)
		rs := roomsOver(b, hb)
		c, _, _ := heavyClient(b, hb, rs, newFiles(b, hb), 10_000, 100)
		b.StartTimer()
		if err := hb.ids.EraseUser(c.ID, true); err != nil {
			b.Fatal(err)
		}
		if err := rs.RemoveUserEverywhere(c.ID); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
	}
}

// benchHarness is newHarness for a benchmark (its t is nil: use only
// the stores).
func benchHarness(b *testing.B) *harness {
	b.Helper()
	dir := b.TempDir()
	db, err := storage.Open(filepath.Join(dir, "clinicbox.db"), storage.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	keys, err := keystore.Open(filepath.Join(dir, "keys"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { keys.Close() })
	indexKey, err := keys.DeriveKey("identity/email-index")
	if err != nil {
		b.Fatal(err)
	}
	clock := &fakeClock{now: t0}
	ids, err := identity.New(identity.Options{DB: db, Keys: keys, IndexKey: indexKey, Now: clock.Now})
	if err != nil {
		b.Fatal(err)
	}
	return &harness{dir: dir, db: db, keys: keys, ids: ids, clock: clock}
}
