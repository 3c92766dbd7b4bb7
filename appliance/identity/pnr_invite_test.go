package identity_test

import (
	"errors"
	"testing"
	"time"

	"clinicbox/appliance/identity"
	"clinicbox/appliance/identity/personnummer"
)

func luhnPnr(t *testing.T, nine string) personnummer.Number {
	t.Helper()
	sum := 0
	for i, c := range nine {
		d := int(c-'0') * (2 - i%2)
		sum += d/10 + d%10
	}
	p, err := personnummer.Parse(nine+string(rune('0'+(10-sum%10)%10)), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// An invitation made with a personnummer can only be taken by that person.
func TestInviteWithPersonnummerOnlyForThatPerson(t *testing.T) {
	h := newHarness(t)
	s := h.ids
	invited, err := s.CreateUser(identity.RoleClient, identity.Profile{Name: "Kalle"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kalle, other := luhnPnr(t, "900101238"), luhnPnr(t, "850505123")
	if err := s.RecordPersonnummer(invited.ID, kalle); err != nil {
		t.Fatal(err)
	}
	tok, _ := s.NewToken(identity.TokenInvite, invited.ID, time.Hour)
	if _, err := s.AcceptInviteWithEID(tok, other, "Someone Else"); !errors.Is(err, identity.ErrPnrMismatch) {
		t.Fatalf("another person's eID: %v", err)
	}
	if _, err := s.PeekToken(identity.TokenInvite, tok); err != nil {
		t.Fatalf("a refused acceptance must leave the link unspent: %v", err)
	}
	u, err := s.AcceptInviteWithEID(tok, kalle, "Kalle Karlsson")
	if err != nil || u.Profile.Name != "Kalle Karlsson" || !u.Profile.NameFromEID || u.Status != identity.StatusActive {
		t.Fatalf("the invited person: %+v %v", u, err)
	}
}

// A name that came from eID cannot be corrected by staff; a typed one can.
func TestRenameRespectsEIDLock(t *testing.T) {
	h := newHarness(t)
	s := h.ids
	typed, _ := s.CreateUser(identity.RoleClient, identity.Profile{Name: "Kalle"}, nil)
	if err := s.Rename(typed.ID, "Kalle Karlsson"); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.User(typed.ID); u.Profile.Name != "Kalle Karlsson" {
		t.Fatalf("name %q", u.Profile.Name)
	}
	fromEID, _ := s.CreateUser(identity.RoleClient, identity.Profile{Name: "Lisa"}, nil)
	if err := s.SetPersonnummer(fromEID.ID, luhnPnr(t, "850505123"), "Lisa Lund"); err != nil {
		t.Fatal(err)
	}
	if err := s.Rename(fromEID.ID, "Lisa Annan"); !errors.Is(err, identity.ErrNameLocked) {
		t.Fatalf("renaming an eID name: %v", err)
	}
}
