package passkey_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"go.etcd.io/bbolt"

	"clinicbox/appliance/identity/passkey"
	"clinicbox/appliance/identity/passkey/passkeytest"
	"clinicbox/storage"
)

func openDB(t *testing.T) *storage.DB {
	t.Helper()
	db, err := storage.Open(filepath.Join(t.TempDir(), "clinicbox.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func cred(id string, count uint32) passkey.Credential {
	return passkey.Credential{Label: "Laptop " + id, WebAuthn: webauthn.Credential{
		ID: []byte(id), PublicKey: []byte("pk-" + id), Authenticator: webauthn.Authenticator{SignCount: count}}}
}

func TestStoreAddListRemove(t *testing.T) {
	db := openDB(t)
	s := passkey.New(db, nil)
	if err := s.Add(1, cred("a", 0)); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(1, cred("b", 5)); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(2, cred("c", 0)); err != nil {
		t.Fatal(err)
	}
	// A credential id is unique across users.
	if err := s.Add(2, cred("a", 0)); !errors.Is(err, passkey.ErrExists) {
		t.Fatalf("same credential twice: %v", err)
	}
	for _, bad := range []passkey.Credential{cred("", 0), {Label: "", WebAuthn: webauthn.Credential{ID: []byte("x")}},
		{Label: string(bytes.Repeat([]byte("å"), 61)), WebAuthn: webauthn.Credential{ID: []byte("y")}}} {
		if err := s.Add(3, bad); err == nil {
			t.Errorf("Add(%q, %q) accepted", bad.WebAuthn.ID, bad.Label)
		}
	}
	list, err := s.List(1)
	if err != nil || len(list) != 2 || list[0].Label != "Laptop a" || list[1].WebAuthn.Authenticator.SignCount != 5 || list[0].CreatedAt.IsZero() {
		t.Fatalf("List(1) = %+v, %v", list, err)
	}
	uid, c, err := s.ByCredential([]byte("c"))
	if err != nil || uid != 2 || string(c.WebAuthn.PublicKey) != "pk-c" {
		t.Fatalf("ByCredential(c) = %d %+v %v", uid, c, err)
	}
	if _, _, err := s.ByCredential([]byte("zz")); !errors.Is(err, passkey.ErrNotFound) {
		t.Fatalf("unknown credential: %v", err)
	}
	// User 2 cannot remove user 1's passkey.
	if err := s.Remove(2, []byte("a")); !errors.Is(err, passkey.ErrNotFound) {
		t.Fatalf("removing another user's passkey: %v", err)
	}
	if err := s.Remove(1, []byte("a")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ByCredential([]byte("a")); !errors.Is(err, passkey.ErrNotFound) {
		t.Fatalf("index left behind: %v", err)
	}
	if n, _ := s.Count(1); n != 1 {
		t.Fatalf("Count(1) = %d", n)
	}
	// The transaction helpers identity uses.
	err = db.Update(func(tx *bbolt.Tx) error {
		if passkey.CountTx(tx, 2) != 1 {
			t.Error("CountTx(2) != 1")
		}
		return passkey.RemoveAllTx(tx, 1)
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Count(1); n != 0 {
		t.Fatalf("after RemoveAllTx: %d", n)
	}
	if _, _, err := s.ByCredential([]byte("b")); !errors.Is(err, passkey.ErrNotFound) {
		t.Fatalf("RemoveAllTx left the index: %v", err)
	}
	if n, _ := s.Count(2); n != 1 {
		t.Fatal("RemoveAllTx removed another user's passkey")
	}
}

func TestUpdateAfterLoginDetectsClones(t *testing.T) {
	s := passkey.New(openDB(t), nil)
	s.Add(1, cred("k", 10))
	s.Add(1, cred("zero", 0))
	used := func(id string, count uint32) webauthn.Credential {
		c := cred(id, count).WebAuthn
		c.Flags.UserVerified = true
		return c
	}
	if err := s.UpdateAfterLogin(1, used("k", 11)); err != nil {
		t.Fatal(err)
	}
	list, _ := s.List(1)
	if list[0].WebAuthn.Authenticator.SignCount != 11 || list[0].LastUsedAt.IsZero() || !list[0].WebAuthn.Flags.UserVerified {
		t.Fatalf("after login: %+v", list[0])
	}
	// The same counter again, or a lower one: a second copy of the key.
	if err := s.UpdateAfterLogin(1, used("k", 11)); !errors.Is(err, passkey.ErrCloned) {
		t.Fatalf("same counter: %v", err)
	}
	// Marked: refused from now on, even with a counter that goes forward.
	if err := s.UpdateAfterLogin(1, used("k", 50)); !errors.Is(err, passkey.ErrCloned) {
		t.Fatalf("after clone: %v", err)
	}
	list, _ = s.List(1)
	if list[0].ClonedAt.IsZero() || list[0].WebAuthn.Authenticator.SignCount != 11 {
		t.Fatalf("clone not recorded: %+v", list[0])
	}
	// An authenticator without a counter sends 0 every time.
	for range 3 {
		if err := s.UpdateAfterLogin(1, used("zero", 0)); err != nil {
			t.Fatalf("counter-less authenticator: %v", err)
		}
	}
	if err := s.UpdateAfterLogin(2, used("zero", 1)); !errors.Is(err, passkey.ErrNotFound) {
		t.Fatalf("another user's passkey: %v", err)
	}
}

// box is the relying party the ceremony tests use.
var box = passkey.RP{ID: "localhost", Origin: "https://localhost:8443", Name: "clinicbox"}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newCeremonies(t *testing.T) (*passkey.Ceremonies, *clock) {
	clk := &clock{t: time.Now()}
	return passkey.NewCeremonies(passkey.New(openDB(t), clk.now), clk.now), clk
}

func user(t *testing.T, c *passkey.Ceremonies, id uint64) passkey.User {
	t.Helper()
	creds, err := c.Store().List(id)
	if err != nil {
		t.Fatal(err)
	}
	return passkey.User{ID: id, Name: "anna@example.se", DisplayName: "Anna", Credentials: creds}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// register runs a whole registration with the software authenticator.
func register(t *testing.T, c *passkey.Ceremonies, auth *passkeytest.Authenticator, key string, id uint64, label string) passkey.Credential {
	t.Helper()
	opts, err := c.BeginRegistration(key, box, user(t, c, id), label)
	if err != nil {
		t.Fatal(err)
	}
	answer, err := auth.Create(mustJSON(t, opts))
	if err != nil {
		t.Fatal(err)
	}
	pk, err := c.FinishRegistration(key, box, user(t, c, id), answer)
	if err != nil {
		t.Fatalf("FinishRegistration: %v", err)
	}
	return pk
}

func beginLogin(t *testing.T, c *passkey.Ceremonies, key string, id uint64) []byte {
	t.Helper()
	opts, err := c.BeginLogin(key, box, user(t, c, id))
	if err != nil {
		t.Fatal(err)
	}
	return mustJSON(t, opts)
}

func TestRegisterAndLogin(t *testing.T) {
	c, _ := newCeremonies(t)
	auth := passkeytest.New(box.Origin)
	pk := register(t, c, auth, "session-1", 7, "  Work   laptop ")
	if pk.Label != "Work laptop" || len(pk.WebAuthn.PublicKey) == 0 {
		t.Fatalf("registered %+v", pk)
	}
	if uid, _, err := c.Store().ByCredential(pk.ID()); err != nil || uid != 7 {
		t.Fatalf("stored: %d %v", uid, err)
	}
	// The options asked for what the issue names.
	opts, _ := c.BeginRegistration("session-1", box, user(t, c, 7), "Phone")
	o := opts.Response
	if o.Attestation != "none" || o.AuthenticatorSelection.ResidentKey != "preferred" || o.AuthenticatorSelection.UserVerification != "preferred" ||
		o.RelyingParty.ID != "localhost" || len(o.CredentialExcludeList) != 1 {
		t.Fatalf("creation options: %+v", o)
	}
	// The same authenticator is not registered twice (the browser refuses
	// on the exclude list).
	if _, err := auth.Create(mustJSON(t, opts)); err == nil {
		t.Fatal("authenticator registered twice")
	}

	answer, err := auth.Get(beginLogin(t, c, "session-2", 7))
	if err != nil {
		t.Fatal(err)
	}
	used, err := c.FinishLogin("session-2", box, user(t, c, 7), answer)
	if err != nil {
		t.Fatalf("FinishLogin: %v", err)
	}
	if !bytes.Equal(used.ID(), pk.ID()) {
		t.Fatal("a different passkey was used")
	}
	list, _ := c.Store().List(7)
	if list[0].WebAuthn.Authenticator.SignCount != 1 || list[0].LastUsedAt.IsZero() {
		t.Fatalf("after login: %+v", list[0])
	}
}

func TestLoginRefusesBadAnswers(t *testing.T) {
	c, clk := newCeremonies(t)
	auth := passkeytest.New(box.Origin)
	pk := register(t, c, auth, "s", 7, "Laptop")
	other := passkeytest.New(box.Origin)
	register(t, c, other, "s", 8, "Someone else's")

	count := func() uint32 {
		list, _ := c.Store().List(7)
		return list[0].WebAuthn.Authenticator.SignCount
	}
	cases := []struct {
		name   string
		answer func() ([]byte, error) // after BeginLogin("s", 7)
		key    string                 // the session that finishes; "s" when empty
		want   error
	}{
		{"tampered signature", func() ([]byte, error) {
			a, err := auth.Get(beginLogin(t, c, "s", 7))
			if err != nil {
				return nil, err
			}
			return passkeytest.Tamper(a, "signature")
		}, "", passkey.ErrInvalid},
		{"tampered authenticator data", func() ([]byte, error) {
			a, _ := auth.Get(beginLogin(t, c, "s", 7))
			return passkeytest.Tamper(a, "authenticatorData")
		}, "", passkey.ErrInvalid},
		{"challenge from another session", func() ([]byte, error) {
			beginLogin(t, c, "s", 7)
			return auth.Get(beginLogin(t, c, "elsewhere", 7))
		}, "", passkey.ErrInvalid},
		{"answer sent in another session", func() ([]byte, error) {
			return auth.Get(beginLogin(t, c, "s", 7))
		}, "intruder", passkey.ErrNoCeremony},
		{"another user's passkey", func() ([]byte, error) {
			opts := beginLogin(t, c, "s", 7)
			return other.GetWith(other.CredentialIDs()[0], opts)
		}, "", passkey.ErrUnknownCredential},
		{"wrong origin", func() ([]byte, error) {
			auth.Origin = "https://evil.example"
			defer func() { auth.Origin = box.Origin }()
			return auth.Get(beginLogin(t, c, "s", 7))
		}, "", passkey.ErrInvalid},
		{"expired", func() ([]byte, error) {
			a, err := auth.Get(beginLogin(t, c, "s", 7))
			clk.add(passkey.CeremonyTimeout + time.Second)
			return a, err
		}, "", passkey.ErrNoCeremony},
		{"garbage", func() ([]byte, error) {
			beginLogin(t, c, "s", 7)
			return []byte(`{"id":"x"}`), nil
		}, "", passkey.ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := count()
			answer, err := tc.answer()
			if err != nil {
				t.Fatal(err)
			}
			key := tc.key
			if key == "" {
				key = "s"
			}
			_, err = c.FinishLogin(key, box, user(t, c, 7), answer)
			if !errors.Is(err, tc.want) {
				t.Fatalf("FinishLogin: %v, want %v", err, tc.want)
			}
			if after := count(); after != before && tc.want != passkey.ErrNoCeremony {
				t.Fatalf("sign count changed %d → %d on a refused login", before, after)
			}
		})
	}

	// A replayed answer: the challenge is spent by the first use.
	opts := beginLogin(t, c, "s", 7)
	answer, _ := auth.Get(opts)
	if _, err := c.FinishLogin("s", box, user(t, c, 7), answer); err != nil {
		t.Fatal(err)
	}
	if _, err := c.FinishLogin("s", box, user(t, c, 7), answer); !errors.Is(err, passkey.ErrNoCeremony) {
		t.Fatalf("replay: %v", err)
	}
	beginLogin(t, c, "s", 7)
	if _, err := c.FinishLogin("s", box, user(t, c, 7), answer); !errors.Is(err, passkey.ErrInvalid) {
		t.Fatalf("replay against a new challenge: %v", err)
	}
	// A challenge begun at one host name cannot be finished at another.
	answer, _ = auth.Get(beginLogin(t, c, "s", 7))
	otherRP := passkey.RP{ID: "clinic.example.se", Origin: "https://clinic.example.se", Name: "clinicbox"}
	if _, err := c.FinishLogin("s", otherRP, user(t, c, 7), answer); !errors.Is(err, passkey.ErrNoCeremony) {
		t.Fatalf("other RP: %v", err)
	}

	// A copy of the key that was used less: refused, and so is the
	// passkey from then on.
	auth.SetCounter(pk.ID(), 0)
	answer, _ = auth.Get(beginLogin(t, c, "s", 7))
	if _, err := c.FinishLogin("s", box, user(t, c, 7), answer); !errors.Is(err, passkey.ErrCloned) {
		t.Fatalf("cloned: %v", err)
	}
	auth.SetCounter(pk.ID(), 1000)
	answer, _ = auth.Get(beginLogin(t, c, "s", 7))
	if _, err := c.FinishLogin("s", box, user(t, c, 7), answer); !errors.Is(err, passkey.ErrCloned) {
		t.Fatalf("after clone: %v", err)
	}
}

func TestRegistrationRefusesBadAnswers(t *testing.T) {
	c, _ := newCeremonies(t)
	auth := passkeytest.New(box.Origin)
	begin := func(key string) []byte {
		opts, err := c.BeginRegistration(key, box, user(t, c, 7), "Laptop")
		if err != nil {
			t.Fatal(err)
		}
		return mustJSON(t, opts)
	}
	cases := []struct {
		name   string
		answer func() []byte
		key    string
		want   error
	}{
		// With attestation "none" nothing signs a registration: what
		// binds it is the challenge, the origin and the RP ID.
		{"challenge from another session", func() []byte {
			begin("s")
			a, _ := auth.Create(begin("other"))
			return a
		}, "s", passkey.ErrInvalid},
		{"no challenge in this session", func() []byte {
			a, _ := auth.Create(begin("s"))
			return a
		}, "intruder", passkey.ErrNoCeremony},
		{"another origin", func() []byte {
			phish := passkeytest.New("https://clinicbox.example.net")
			a, _ := phish.Create(begin("s"))
			return a
		}, "s", passkey.ErrInvalid},
		{"key for another RP ID", func() []byte {
			opts := strings.Replace(string(begin("s")), `"id":"localhost"`, `"id":"example.net"`, 1)
			a, _ := auth.Create([]byte(opts))
			return a
		}, "s", passkey.ErrInvalid},
		{"garbage", func() []byte { begin("s"); return []byte("{}") }, "s", passkey.ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			answer := tc.answer()
			if _, err := c.FinishRegistration(tc.key, box, user(t, c, 7), answer); !errors.Is(err, tc.want) {
				t.Fatalf("FinishRegistration: %v, want %v", err, tc.want)
			}
			if n, _ := c.Store().Count(7); n != 0 {
				t.Fatalf("%d passkeys stored after a refused registration", n)
			}
		})
	}
	// A label is checked before the authenticator makes a key.
	if _, err := c.BeginRegistration("s", box, user(t, c, 7), string(bytes.Repeat([]byte("x"), 61))); !errors.Is(err, passkey.ErrLabel) {
		t.Fatalf("long label: %v", err)
	}
	// A registration begun for one user cannot be finished for another.
	a, _ := auth.Create(begin("s"))
	if _, err := c.FinishRegistration("s", box, user(t, c, 8), a); !errors.Is(err, passkey.ErrNoCeremony) {
		t.Fatalf("other user: %v", err)
	}
	if n, _ := c.Store().Count(8); n != 0 {
		t.Fatal("stored for the other user")
	}
}

func TestBeginLoginNeedsAPasskey(t *testing.T) {
	c, _ := newCeremonies(t)
	if _, err := c.BeginLogin("s", box, user(t, c, 7)); !errors.Is(err, passkey.ErrNoPasskey) {
		t.Fatalf("no passkeys: %v", err)
	}
}
