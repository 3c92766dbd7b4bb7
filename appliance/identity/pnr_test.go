package identity_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"clinicbox/appliance/identity"
	"clinicbox/appliance/identity/personnummer"
)

// makePnr returns a valid personnummer for a date of birth (YYYYMMDD) and
// a three-digit serial, with the check digit computed.
func makePnr(t *testing.T, date string, serial int) personnummer.Number {
	t.Helper()
	nine := date[2:] + fmt.Sprintf("%03d", serial)
	sum := 0
	for i, c := range nine {
		v := int(c - '0')
		if i%2 == 0 {
			if v *= 2; v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	n, err := personnummer.Parse(date+nine[6:]+fmt.Sprint((10-sum%10)%10), t0)
	if err != nil {
		t.Fatalf("test personnummer: %v", err)
	}
	return n
}

func TestSetPersonnummer(t *testing.T) {
	h := newHarness(t)
	u := h.create(identity.RoleClient, "Kim Typed", "")
	pnr := makePnr(t, "19900101", 238)

	if _, err := h.ids.UserByPersonnummer(pnr); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("lookup before linking: %v", err)
	}
	if err := h.ids.SetPersonnummer(u.ID, pnr, "  Kim Andersson "); err != nil {
		t.Fatal(err)
	}
	got, err := h.ids.UserByPersonnummer(pnr)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != u.ID || got.Profile.Personnummer != pnr.Digits() || got.Profile.Name != "Kim Andersson" || !got.Profile.NameFromEID {
		t.Fatalf("after linking: %+v", got.Profile)
	}
	// Linking the same number again (a name change in the population
	// register) only updates the name.
	if err := h.ids.SetPersonnummer(u.ID, pnr, "Kim Berg"); err != nil {
		t.Fatal(err)
	}
	if got := h.user(u.ID); got.Profile.Name != "Kim Berg" {
		t.Fatalf("name %q", got.Profile.Name)
	}

	// Another user may not take the number.
	other := h.create(identity.RoleRelative, "Other Person", "")
	if err := h.ids.SetPersonnummer(other.ID, pnr, "Kim Berg"); !errors.Is(err, identity.ErrPnrTaken) {
		t.Fatalf("second user with the same number: %v", err)
	}
	if got := h.user(other.ID); got.Profile.Personnummer != "" || got.Profile.NameFromEID {
		t.Fatalf("refused link changed the profile: %+v", got.Profile)
	}

	// Moving the user to another number frees the old one.
	pnr2 := makePnr(t, "19851224", 17)
	if err := h.ids.SetPersonnummer(u.ID, pnr2, "Kim Berg"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.ids.UserByPersonnummer(pnr); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("old number still found: %v", err)
	}
	if got, err := h.ids.UserByPersonnummer(pnr2); err != nil || got.ID != u.ID {
		t.Fatalf("new number: %v %v", got.ID, err)
	}
	if err := h.ids.SetPersonnummer(other.ID, pnr, "Kim Andersson"); err != nil {
		t.Fatalf("freed number: %v", err)
	}
	if n := h.countKeys("users-by-pnr", nil); n != 2 {
		t.Fatalf("%d index entries, want 2", n)
	}
}

func TestSetPersonnummerRefusals(t *testing.T) {
	h := newHarness(t)
	u := h.create(identity.RoleClient, "Kim", "")
	if err := h.ids.SetPersonnummer(u.ID, personnummer.Number{}, "Kim"); !errors.Is(err, identity.ErrPnrMissing) {
		t.Fatalf("zero number: %v", err)
	}
	pnr := makePnr(t, "19900101", 238)
	if err := h.ids.SetPersonnummer(u.ID, pnr, " "); fieldError(t, err).Field != "name" {
		t.Fatalf("empty name: %v", err)
	}
	if err := h.ids.SetPersonnummer(999, pnr, "Kim"); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("unknown user: %v", err)
	}
	if n := h.countKeys("users-by-pnr", nil); n != 0 {
		t.Fatalf("refusals left %d index entries", n)
	}
}

func TestPersonnummerOnlySealedAndHashed(t *testing.T) {
	h := newHarness(t)
	u := h.create(identity.RoleClient, "Kim", "")
	pnr := makePnr(t, "19761112", 905)
	if err := h.ids.SetPersonnummer(u.ID, pnr, "Lovisa Personnummersson"); err != nil {
		t.Fatal(err)
	}
	h.close()
	for path, b := range h.files() {
		for _, s := range []string{pnr.Digits(), pnr.Digits()[2:], pnr.Display(), "Personnummersson"} {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds %q in plain text", path, s)
			}
		}
	}
	h = reopen(t, h)
	if got, err := h.ids.UserByPersonnummer(pnr); err != nil || got.ID != u.ID {
		t.Fatalf("after reopening: %v", err)
	}
}

func TestAcceptInviteWithEID(t *testing.T) {
	h := newHarness(t)
	u := h.create(identity.RoleClient, "Typed By Staff", "")
	tok, err := h.ids.NewToken(identity.TokenInvite, u.ID, 7*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pnr := makePnr(t, "20010630", 44)

	// A number that belongs to someone else leaves the link unspent.
	other := h.create(identity.RoleClient, "Someone Else", "")
	if err := h.ids.SetPersonnummer(other.ID, pnr, "Someone Else"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.ids.AcceptInviteWithEID(tok, pnr, "Eid Name"); !errors.Is(err, identity.ErrPnrTaken) {
		t.Fatalf("taken number: %v", err)
	}
	if _, err := h.ids.PeekToken(identity.TokenInvite, tok); err != nil {
		t.Fatalf("the link was spent by a refused accept: %v", err)
	}
	if got := h.user(u.ID); got.Status != identity.StatusPending || got.Profile.Personnummer != "" {
		t.Fatalf("refused accept changed the user: %+v", got)
	}

	pnr = makePnr(t, "20010630", 46)
	got, err := h.ids.AcceptInviteWithEID(tok, pnr, "Eid Name")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != u.ID || got.Status != identity.StatusActive || got.Profile.Name != "Eid Name" || !got.Profile.NameFromEID || got.Profile.Personnummer != pnr.Digits() {
		t.Fatalf("accepted: %+v", got)
	}
	if _, err := h.ids.AcceptInviteWithEID(tok, pnr, "Eid Name"); !errors.Is(err, identity.ErrTokenUsed) {
		t.Fatalf("second use: %v", err)
	}
	if _, err := h.ids.AcceptInviteWithEID("x", pnr, "Eid Name"); !errors.Is(err, identity.ErrTokenInvalid) {
		t.Fatalf("bad link: %v", err)
	}
	// A set-up link is not an invitation.
	staff := h.create(identity.RoleStaff, "Staff", "staff@example.se")
	setup, _ := h.ids.NewToken(identity.TokenSetup, staff.ID, time.Hour)
	if _, err := h.ids.AcceptInviteWithEID(setup, makePnr(t, "19700101", 1), "Staff"); !errors.Is(err, identity.ErrTokenInvalid) {
		t.Fatalf("set-up link: %v", err)
	}
	// An expired invitation.
	late := h.create(identity.RoleRelative, "Late", "")
	lateTok, _ := h.ids.NewToken(identity.TokenInvite, late.ID, time.Hour)
	h.clock.Advance(2 * time.Hour)
	if _, err := h.ids.AcceptInviteWithEID(lateTok, makePnr(t, "19700101", 3), "Late"); !errors.Is(err, identity.ErrTokenExpired) {
		t.Fatalf("expired link: %v", err)
	}
}

func TestPersonnummerOfAnErasedUser(t *testing.T) {
	h := newHarness(t)
	gone := h.create(identity.RoleClient, "Gone", "")
	pnr := makePnr(t, "19450508", 123)
	if err := h.ids.SetPersonnummer(gone.ID, pnr, "Gone Person"); err != nil {
		t.Fatal(err)
	}
	if err := h.keys.Erase(identity.Subject(gone.ID)); err != nil {
		t.Fatal(err)
	}
	// The number no longer finds anyone, and a new account may take it.
	if _, err := h.ids.UserByPersonnummer(pnr); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("lookup of an erased user's number: %v", err)
	}
	back := h.create(identity.RoleClient, "Back Again", "")
	if err := h.ids.SetPersonnummer(back.ID, pnr, "Gone Person"); err != nil {
		t.Fatalf("new account with an erased user's number: %v", err)
	}
	if got, err := h.ids.UserByPersonnummer(pnr); err != nil || got.ID != back.ID {
		t.Fatalf("after relinking: %d %v", got.ID, err)
	}
}
