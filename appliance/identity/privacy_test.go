package identity_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"clinicbox/appliance/identity"
	"clinicbox/appliance/identity/totp"
)

// randomDigits returns n random decimal digits.
func randomDigits(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	return string(b)
}

// TestPersonalDataNeverInPlaintext writes a user with unique markers in
// every personal field, a password, a second factor, a link and a
// session, then looks for each secret in every file of the data
// directory, the bbolt file included.
func TestPersonalDataNeverInPlaintext(t *testing.T) {
	h := newHarness(t)
	mark := "zq" + rand.Text()[:10] // letters and digits, unique per run
	name := "Zelda " + mark + "name"
	email := mark + "mail@example.se"
	phone := "+46 70 " + randomDigits(10)
	title := "Barnmorska " + mark + "title"
	pnr := "1912" + randomDigits(8)

	u, err := h.ids.CreateUser(identity.RoleStaff, identity.Profile{Name: name, Email: email, Phone: phone, Title: title, Personnummer: pnr}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pw := goodPassword + " " + strings.ToLower(rand.Text()[:8])
	if err := h.ids.SetPassword(u.ID, pw); err != nil {
		t.Fatal(err)
	}
	secret, codes := h.enrol(u.ID)
	link, err := h.ids.NewToken(identity.TokenSetup, u.ID, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	sessTok, _ := h.start(h.user(u.ID), true)
	if got := h.user(u.ID); got.Profile.Name != name || got.Profile.Personnummer != pnr || got.Status != identity.StatusActive {
		t.Fatalf("user not stored as expected: %+v", got)
	}
	// A rewrite of the record (new pages, old ones freed) must not leak
	// either.
	if err := h.ids.SetLang(u.ID, "sv"); err != nil {
		t.Fatal(err)
	}
	linkHash := sha256.Sum256([]byte(link))
	unkeyed := sha256.Sum256([]byte(identity.NormalizeEmail(email)))

	needles := map[string][]byte{
		"name marker":                    []byte(mark + "name"),
		"e-mail":                         []byte(strings.ToLower(email)),
		"e-mail marker":                  []byte(mark + "mail"),
		"phone":                          []byte(phone),
		"phone digits":                   []byte(phone[7:]),
		"title":                          []byte(mark + "title"),
		"personnummer":                   []byte(pnr),
		"password":                       []byte(pw),
		"TOTP secret":                    secret,
		"TOTP secret, base32":            []byte(strings.ToLower(totp.Base32(secret))),
		"link token":                     []byte(link),
		"session token":                  []byte(sessTok),
		"unkeyed SHA-256 of e-mail":      unkeyed[:],
		"unkeyed SHA-256 of e-mail, hex": []byte(hex.EncodeToString(unkeyed[:])),
	}
	for i, c := range codes {
		needles["recovery code "+string(rune('0'+i))] = []byte(c)
		needles["recovery code compact "+string(rune('0'+i))] = []byte(strings.ReplaceAll(c, "-", ""))
	}

	h.close()
	files := h.files()
	var sawDB bool
	for path, content := range files {
		lower := bytes.ToLower(content)
		for what, needle := range needles {
			if bytes.Contains(content, needle) || bytes.Contains(lower, bytes.ToLower(needle)) {
				t.Errorf("%s found in plaintext in %s", what, path)
			}
		}
		if path == h.db.Path() {
			sawDB = true
			// Sanity: the search does see what is really stored.
			if !bytes.Contains(content, linkHash[:]) {
				t.Errorf("the SHA-256 of the link is not in %s: is the search looking at the right file?", path)
			}
		}
	}
	if !sawDB {
		t.Errorf("the walk did not reach the database file %s (saw %d files)", h.db.Path(), len(files))
	}
}

func TestErasedUserNoLongerOpens(t *testing.T) {
	h := newHarness(t)
	gone := h.create(identity.RoleClient, "Erik Raderad", "erik@example.se")
	kept := h.create(identity.RoleClient, "Karin Kvar", "karin@example.se")
	if !h.keys.Has(identity.Subject(gone.ID)) {
		t.Fatalf("no key for %s after CreateUser", identity.Subject(gone.ID))
	}
	if err := h.keys.Erase(identity.Subject(gone.ID)); err != nil {
		t.Fatal(err)
	}
	if u, err := h.ids.User(gone.ID); err == nil {
		t.Errorf("User(erased) succeeded: %+v", u.Profile)
	} else if errors.Is(err, identity.ErrNotFound) {
		t.Errorf("User(erased) = %v: the record is there, its profile cannot be opened", err)
	}
	if u, err := h.ids.UserByEmail("erik@example.se"); err == nil {
		t.Errorf("UserByEmail(erased) succeeded: %+v", u.Profile)
	}
	if u, err := h.ids.User(kept.ID); err != nil || u.Profile.Name != "Karin Kvar" {
		t.Errorf("the other user: %+v, %v", u.Profile, err)
	}
	// Reopening the key store does not bring the key back.
	h.close()
	h2 := reopen(t, h)
	if _, err := h2.ids.User(gone.ID); err == nil {
		t.Error("User(erased) succeeded after reopening")
	}
	if u, err := h2.ids.User(kept.ID); err != nil || u.Profile.Name != "Karin Kvar" {
		t.Errorf("the other user after reopening: %+v, %v", u.Profile, err)
	}
}

func TestSubjectNames(t *testing.T) {
	if got := identity.Subject(42); got != "user:42" {
		t.Errorf("Subject(42) = %q", got)
	}
}

// Erasing one user's key (crypto-shredding, which the package doc names
// as the way personal data is erased) must not break the listing of
// everyone else: the admin's staff page calls Users. Today Users fails as
// a whole as soon as one profile cannot be opened.
func TestUsersStillListedAfterAnErasure(t *testing.T) {
	h := newHarness(t)
	gone := h.create(identity.RoleStaff, "Erik Raderad", "erik@example.se")
	kept := h.create(identity.RoleStaff, "Karin Kvar", "karin@example.se")
	admin := h.create(identity.RoleAdmin, "Ada Admin", "ada@example.se")
	if err := h.keys.Erase(identity.Subject(gone.ID)); err != nil {
		t.Fatal(err)
	}
	for _, roles := range [][]identity.Role{nil, {identity.RoleStaff}, {identity.RoleAdmin, identity.RoleStaff, identity.RoleTechnician}} {
		users, err := h.ids.Users(roles...)
		if err != nil {
			t.Errorf("Users(%v) after erasing user %d: %v", roles, gone.ID, err)
			continue
		}
		var names []string
		for _, u := range users {
			if u.ID == gone.ID && u.Profile.Name != "" {
				t.Errorf("the erased user is listed with a name: %q", u.Profile.Name)
			}
			if u.ID != gone.ID {
				names = append(names, u.Profile.Name)
			}
		}
		if !slices.Contains(names, "Karin Kvar") {
			t.Errorf("Users(%v) = %v: Karin (user %d) is missing", roles, names, kept.ID)
		}
	}
	if n, err := h.ids.CountAdmins(); err != nil || n != 1 {
		t.Errorf("CountAdmins = %d, %v; want 1 (user %d)", n, err, admin.ID)
	}
}
