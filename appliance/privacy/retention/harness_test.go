package retention_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"clinicbox/appliance/identity"
	"clinicbox/appliance/privacy/retention"
	"clinicbox/appliance/rooms"
	"clinicbox/storage"
	"clinicbox/storage/keystore"
)

var t0 = time.Date(2026, time.March, 10, 9, 0, 0, 0, time.UTC)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// set moves the clock to t0 plus years, months and days.
func (c *clock) set(y, m, d int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t0.AddDate(y, m, d)
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// box is the real parts over one temporary data directory: bbolt, the
// key store, rooms and identity, with one clock.
type box struct {
	t        testing.TB
	db       *storage.DB
	keys     *keystore.Store
	rooms    *rooms.Store
	ids      *identity.Store
	clock    *clock
	engine   *retention.Engine
	files    []string
	bookings map[uint64]bool

	standard, digital identity.Unit
	staff             rooms.Actor
}

type bookings map[uint64]bool

func (b bookings) HasBooking(id uint64) (bool, error) { return b[id], nil }

func newBox(t testing.TB, mod ...func(*retention.Options)) *box {
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
	indexKey, err := keys.DeriveKey("identity/email-index")
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{now: t0}
	ids, err := identity.New(identity.Options{DB: db, Keys: keys, IndexKey: indexKey, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rooms.New(rooms.Options{DB: db, Keys: keys, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	b := &box{t: t, db: db, keys: keys, rooms: rs, ids: ids, clock: c, bookings: map[uint64]bool{}}
	if b.standard, err = ids.CreateUnit("Vårdcentralen", "standard"); err != nil {
		t.Fatal(err)
	}
	if b.digital, err = ids.CreateUnit("Digitala vården", "digital-care"); err != nil {
		t.Fatal(err)
	}
	staff, err := ids.CreateUser(identity.RoleStaff, identity.Profile{Name: "Staff Person", Email: "staff@example.se"}, []uint64{b.standard.ID})
	if err != nil {
		t.Fatal(err)
	}
	b.staff = rooms.Actor{ID: staff.ID, Role: "staff", Units: []uint64{b.standard.ID}}
	o := retention.Options{DB: db, Rooms: rs, Accounts: retention.Accounts{Users: ids, Keys: keys},
		Bookings: bookings(b.bookings), Sessions: ids, Now: c.Now,
		DeleteFiles: func(f []string) { b.files = append(b.files, f...) }}
	for _, f := range mod {
		f(&o)
	}
	if b.engine, err = retention.New(o); err != nil {
		t.Fatal(err)
	}
	return b
}

// room creates a room with one message, now.
func (b *box) room() rooms.Room {
	b.t.Helper()
	r, err := b.rooms.Create(b.staff, "Room", b.standard.ID)
	if err != nil {
		b.t.Fatal(err)
	}
	if _, err := b.rooms.Post(b.staff, r.ID, "hello"); err != nil {
		b.t.Fatal(err)
	}
	return r
}

func (b *box) roomStatus(id uint64) rooms.Status {
	b.t.Helper()
	r, _, err := b.rooms.Get(b.staff, id)
	if err != nil {
		b.t.Fatalf("Get room %d: %v", id, err)
	}
	return r.Status
}

// client creates a client in unit, active today.
func (b *box) client(name string, unit uint64) identity.User {
	b.t.Helper()
	u, err := b.ids.CreateUser(identity.RoleClient, identity.Profile{Name: name}, []uint64{unit})
	if err != nil {
		b.t.Fatal(err)
	}
	if err := b.ids.SetStatus(u.ID, identity.StatusActive); err != nil {
		b.t.Fatal(err)
	}
	if err := b.ids.Touch(u.ID, b.clock.Now()); err != nil {
		b.t.Fatal(err)
	}
	return u
}

// exists reports whether the client is still there (listed, profile
// readable).
func (b *box) exists(id uint64) bool {
	b.t.Helper()
	users, err := b.ids.Users(identity.RoleClient)
	if err != nil {
		b.t.Fatal(err)
	}
	for _, u := range users {
		if u.ID == id {
			return true
		}
	}
	if _, err := b.ids.User(id); err == nil {
		b.t.Fatalf("client %d is not listed but its profile still opens", id)
	}
	return false
}

func (b *box) run(dry bool) retention.Report {
	b.t.Helper()
	rep, err := b.engine.Run(context.Background(), dry)
	if err != nil {
		b.t.Fatalf("Run(dry=%v): %v", dry, err)
	}
	return rep
}
