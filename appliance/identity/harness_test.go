package identity_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"clinicbox/appliance/identity"
	"clinicbox/appliance/identity/totp"
	"clinicbox/storage"
	"clinicbox/storage/keystore"
)

// t0 is the harness's start time: five seconds into a TOTP step, so that
// advancing by less than 25 s stays in the same step.
var t0 = time.Date(2026, time.March, 10, 9, 0, 5, 0, time.UTC)

// goodPassword passes the policy for every name and address used here.
const goodPassword = "kanelbulle-cykel-fönster"

// fakeClock is the store's clock, safe for concurrent use.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// harness is an identity store over real components: a bbolt file and a
// key store in a temporary data directory.
type harness struct {
	t     *testing.T
	dir   string
	db    *storage.DB
	keys  *keystore.Store
	ids   *identity.Store
	clock *fakeClock
}

func newHarness(t *testing.T) *harness {
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
		t.Fatalf("DeriveKey: %v", err)
	}
	clock := &fakeClock{now: t0}
	ids, err := identity.New(identity.Options{DB: db, Keys: keys, IndexKey: indexKey, Now: clock.Now})
	if err != nil {
		t.Fatalf("identity.New: %v", err)
	}
	return &harness{t: t, dir: dir, db: db, keys: keys, ids: ids, clock: clock}
}

// close closes the database and the key store, so every file in the data
// directory is complete on disk.
func (h *harness) close() {
	h.t.Helper()
	if err := h.db.Close(); err != nil {
		h.t.Fatalf("db.Close: %v", err)
	}
	if err := h.keys.Close(); err != nil {
		h.t.Fatalf("keys.Close: %v", err)
	}
}

// files returns the content of every regular file under the data
// directory, by path.
func (h *harness) files() map[string][]byte {
	h.t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(h.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		out[path] = b
		return nil
	})
	if err != nil {
		h.t.Fatalf("walking %s: %v", h.dir, err)
	}
	if len(out) == 0 {
		h.t.Fatalf("no files under %s", h.dir)
	}
	return out
}

// dbFile returns the bytes of the bbolt file.
func (h *harness) dbFile() []byte {
	h.t.Helper()
	b, err := os.ReadFile(h.db.Path())
	if err != nil {
		h.t.Fatal(err)
	}
	return b
}

// countKeys counts the keys in a bucket, optionally only those with prefix.
func (h *harness) countKeys(bucket string, prefix []byte) int {
	h.t.Helper()
	n := 0
	err := h.db.Bolt().View(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			return fmt.Errorf("no bucket %q", bucket)
		}
		return b.ForEach(func(k, _ []byte) error {
			if bytes.HasPrefix(k, prefix) {
				n++
			}
			return nil
		})
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

// create adds a user or fails the test.
func (h *harness) create(role identity.Role, name, email string) identity.User {
	h.t.Helper()
	u, err := h.ids.CreateUser(role, identity.Profile{Name: name, Email: email}, nil)
	if err != nil {
		h.t.Fatalf("CreateUser(%s, %q, %q): %v", role, name, email, err)
	}
	return u
}

// user reloads a user or fails the test.
func (h *harness) user(id uint64) identity.User {
	h.t.Helper()
	u, err := h.ids.User(id)
	if err != nil {
		h.t.Fatalf("User(%d): %v", id, err)
	}
	return u
}

// enrol confirms a new TOTP secret for a user with the current code.
func (h *harness) enrol(id uint64) (secret []byte, codes []string) {
	h.t.Helper()
	en, err := identity.NewTOTPEnrolment("clinicbox", "someone@example.se")
	if err != nil {
		h.t.Fatal(err)
	}
	codes, err = h.ids.ConfirmTOTP(id, en.Secret, totp.Code(en.Secret, h.clock.Now()))
	if err != nil {
		h.t.Fatalf("ConfirmTOTP: %v", err)
	}
	return en.Secret, codes
}

// start begins a session or fails the test.
func (h *harness) start(u identity.User, complete bool) (string, identity.Session) {
	h.t.Helper()
	tok, sess, err := h.ids.StartSession(u, complete)
	if err != nil {
		h.t.Fatalf("StartSession: %v", err)
	}
	return tok, sess
}

// mustSession looks a session up and fails the test if it is not there.
func (h *harness) mustSession(tok string) identity.Session {
	h.t.Helper()
	sess, err := h.ids.Session(tok)
	if err != nil {
		h.t.Fatalf("Session at +%v: %v", h.clock.Now().Sub(t0), err)
	}
	return sess
}

// wantNoSession checks that a token no longer opens a session.
func (h *harness) wantNoSession(tok string) {
	h.t.Helper()
	if _, err := h.ids.Session(tok); !errors.Is(err, identity.ErrNoSession) {
		h.t.Fatalf("Session of an ended session: %v, want ErrNoSession", err)
	}
}

// wrongCode is a six-digit code that matches none of the steps near now.
func wrongCode(secret []byte, now time.Time) string {
	bad := map[string]bool{}
	for d := -3; d <= 3; d++ {
		bad[totp.Code(secret, now.Add(time.Duration(d)*totp.Period))] = true
	}
	for i := 0; ; i++ {
		if c := fmt.Sprintf("%06d", i); !bad[c] {
			return c
		}
	}
}

// fieldError returns err as a *identity.FieldError, failing the test if it
// is not one.
func fieldError(t *testing.T, err error) *identity.FieldError {
	t.Helper()
	var fe *identity.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is not a *FieldError", err, err)
	}
	return fe
}

// reopen opens the data directory of a closed harness again, with the
// same clock.
func reopen(t *testing.T, old *harness) *harness {
	t.Helper()
	db, err := storage.Open(old.db.Path(), storage.Options{})
	if err != nil {
		t.Fatalf("storage.Open again: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	keys, err := keystore.Open(filepath.Join(old.dir, "keys"))
	if err != nil {
		t.Fatalf("keystore.Open again: %v", err)
	}
	t.Cleanup(func() { keys.Close() })
	indexKey, err := keys.DeriveKey("identity/email-index")
	if err != nil {
		t.Fatal(err)
	}
	ids, err := identity.New(identity.Options{DB: db, Keys: keys, IndexKey: indexKey, Now: old.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, dir: old.dir, db: db, keys: keys, ids: ids, clock: old.clock}
}
