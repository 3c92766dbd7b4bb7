package rooms_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"clinicbox/appliance/privacy/auditlog"
	"clinicbox/appliance/rooms"
	"clinicbox/storage"
	"clinicbox/storage/keystore"
)

var t0 = time.Date(2026, time.March, 10, 9, 0, 0, 0, time.UTC)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// harness is a rooms store over real components: a bbolt file, a key
// store and the access log in a temporary data directory.
type harness struct {
	t     testing.TB
	dir   string
	db    *storage.DB
	keys  *keystore.Store
	audit *auditlog.Log
	rooms *rooms.Store
	clock *fakeClock
}

// The people of the tests. Units: 1 and 2.
var (
	staff    = rooms.Actor{ID: 1, Role: "staff", Units: []uint64{1}}
	staff2   = rooms.Actor{ID: 2, Role: "staff", Units: []uint64{1}}
	client   = rooms.Actor{ID: 3, Role: "client"}
	relative = rooms.Actor{ID: 4, Role: "relative"}
	admin    = rooms.Actor{ID: 5, Role: "admin"}
	outsider = rooms.Actor{ID: 6, Role: "staff", Units: []uint64{1}}
	client2  = rooms.Actor{ID: 7, Role: "client"}
	tech     = rooms.Actor{ID: 8, Role: "technician"}
)

type option func(*rooms.Options)

func withBuffer(n int) option { return func(o *rooms.Options) { o.SubscriberBuffer = n } }

func newHarness(t testing.TB, opts ...option) *harness {
	t.Helper()
	dir := t.TempDir()
	db, err := storage.Open(filepath.Join(dir, "clinicbox.db"), storage.Options{})
	if err != nil {
		t.Fatalf("storage.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	keys, err := keystore.Open(filepath.Join(dir, "keys"))
	if err != nil {
		t.Fatalf("keystore.Open: %v", err)
	}
	t.Cleanup(func() { keys.Close() })
	audit, err := auditlog.New(db, "")
	if err != nil {
		t.Fatalf("auditlog.New: %v", err)
	}
	clock := &fakeClock{now: t0}
	o := rooms.Options{DB: db, Keys: keys, Audit: audit, Now: clock.Now}
	for _, f := range opts {
		f(&o)
	}
	s, err := rooms.New(o)
	if err != nil {
		t.Fatalf("rooms.New: %v", err)
	}
	return &harness{t: t, dir: dir, db: db, keys: keys, audit: audit, rooms: s, clock: clock}
}

// room creates a room hosted by staff with the given participants
// (client, relative, staff2...) added as participants.
func (h *harness) room(title string, with ...rooms.Actor) rooms.Room {
	h.t.Helper()
	r, err := h.rooms.Create(staff, title, 1)
	if err != nil {
		h.t.Fatalf("Create: %v", err)
	}
	for _, a := range with {
		if err := h.rooms.AddMember(staff, r.ID, a.ID, a.Role, rooms.RoleParticipant); err != nil {
			h.t.Fatalf("AddMember %d: %v", a.ID, err)
		}
	}
	return r
}

func (h *harness) post(a rooms.Actor, roomID uint64, text string) rooms.Event {
	h.t.Helper()
	e, err := h.rooms.Post(a, roomID, text)
	if err != nil {
		h.t.Fatalf("Post: %v", err)
	}
	return e
}

// count counts the keys of a bucket that start with prefix.
func (h *harness) count(bucket string, prefix []byte) int {
	h.t.Helper()
	n := 0
	err := h.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket([]byte(bucket)).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

// fileContains scans the database file's bytes, free pages included.
func (h *harness) fileContains(marker string) bool {
	h.t.Helper()
	data, err := os.ReadFile(h.db.Path())
	if err != nil {
		h.t.Fatal(err)
	}
	return bytes.Contains(data, []byte(marker))
}

func (h *harness) auditEntries(q auditlog.Query) []auditlog.Entry {
	h.t.Helper()
	es, err := h.audit.Find(q)
	if err != nil {
		h.t.Fatal(err)
	}
	return es
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}

func fieldErr(t testing.TB, err error, field string) *rooms.FieldError {
	t.Helper()
	var fe *rooms.FieldError
	if !errors.As(err, &fe) || fe.Field != field {
		t.Fatalf("error %v, want a FieldError on %q", err, field)
	}
	return fe
}

// recv waits for the next update on ch.
func recv(t testing.TB, ch <-chan rooms.Update) rooms.Update {
	t.Helper()
	select {
	case u, ok := <-ch:
		if !ok {
			t.Fatal("subscription closed")
		}
		return u
	case <-time.After(5 * time.Second):
		t.Fatal("no update within 5 s")
	}
	return rooms.Update{}
}

// nothing checks that no update is waiting.
func nothing(t testing.TB, ch <-chan rooms.Update) {
	t.Helper()
	select {
	case u := <-ch:
		t.Fatalf("unexpected update %+v", u)
	case <-time.After(20 * time.Millisecond):
	}
}
