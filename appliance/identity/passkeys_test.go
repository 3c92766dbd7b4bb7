package identity_test

import (
	"errors"
	"testing"

	"github.com/go-webauthn/webauthn/webauthn"

	"clinicbox/appliance/identity"
	"clinicbox/appliance/identity/passkey"
)

func addPasskey(h *harness, userID uint64, id string) {
	h.t.Helper()
	err := h.ids.Passkeys().Add(userID, passkey.Credential{Label: "Laptop", WebAuthn: webauthn.Credential{ID: []byte(id), PublicKey: []byte("pk")}})
	if err != nil {
		h.t.Fatal(err)
	}
}

// A passkey is a second factor: a staff member who set a password and
// then registered a passkey is active and counts as having one.
func TestPasskeyIsASecondFactor(t *testing.T) {
	h := newHarness(t)
	u := h.create(identity.RoleStaff, "Sara Staff", "sara@example.se")
	if err := h.ids.SetPassword(u.ID, goodPassword); err != nil {
		t.Fatal(err)
	}
	if u = h.user(u.ID); u.Status != identity.StatusPending || u.HasSecondFactor() {
		t.Fatalf("before the passkey: %s, second factor %v", u.Status, u.HasSecondFactor())
	}
	addPasskey(h, u.ID, "cred-1")
	if err := h.ids.PasskeyAdded(u.ID); err != nil {
		t.Fatal(err)
	}
	u = h.user(u.ID)
	if u.Status != identity.StatusActive || !u.HasPasskey || u.HasTOTP || !u.HasSecondFactor() {
		t.Fatalf("after the passkey: %+v", u)
	}
	// PasskeyAdded does not activate someone without a password, nor
	// someone without a passkey.
	v := h.create(identity.RoleStaff, "Vera Staff", "vera@example.se")
	addPasskey(h, v.ID, "cred-v")
	h.ids.PasskeyAdded(v.ID)
	w := h.create(identity.RoleAdmin, "Wilma Admin", "wilma@example.se")
	h.ids.SetPassword(w.ID, goodPassword)
	h.ids.PasskeyAdded(w.ID)
	if h.user(v.ID).Status != identity.StatusPending || h.user(w.ID).Status != identity.StatusPending {
		t.Fatal("activated without every factor")
	}
}

// The last second factor cannot be removed; with TOTP or a second passkey
// beside it, it can.
func TestRemovePasskeyKeepsASecondFactor(t *testing.T) {
	h := newHarness(t)
	u := h.create(identity.RoleStaff, "Sara Staff", "sara@example.se")
	addPasskey(h, u.ID, "one")
	if err := h.ids.RemovePasskey(u.ID, []byte("one")); !errors.Is(err, identity.ErrLastSecondFactor) {
		t.Fatalf("removing the only passkey: %v", err)
	}
	if err := h.ids.RemovePasskey(u.ID, []byte("nope")); !errors.Is(err, passkey.ErrNotFound) {
		t.Fatalf("removing an unknown passkey: %v", err)
	}
	addPasskey(h, u.ID, "two")
	if err := h.ids.RemovePasskey(u.ID, []byte("one")); err != nil {
		t.Fatalf("removing one of two: %v", err)
	}
	if err := h.ids.RemovePasskey(u.ID, []byte("two")); !errors.Is(err, identity.ErrLastSecondFactor) {
		t.Fatalf("removing the last: %v", err)
	}
	h.enrol(u.ID)
	if err := h.ids.RemovePasskey(u.ID, []byte("two")); err != nil {
		t.Fatalf("removing a passkey beside TOTP: %v", err)
	}
	if u = h.user(u.ID); u.HasPasskey || !u.HasSecondFactor() {
		t.Fatalf("after removing: %+v", u)
	}
	// Another user's passkey is not found.
	other := h.create(identity.RoleStaff, "Olle Staff", "olle@example.se")
	addPasskey(h, other.ID, "olle")
	addPasskey(h, other.ID, "olle-2")
	if err := h.ids.RemovePasskey(u.ID, []byte("olle")); !errors.Is(err, passkey.ErrNotFound) {
		t.Fatalf("removing another user's passkey: %v", err)
	}
}

// An admin's reset of the second factor (a lost phone) removes passkeys
// too, and ends the sessions.
func TestResetSecondFactorRemovesPasskeys(t *testing.T) {
	h := newHarness(t)
	u := h.create(identity.RoleStaff, "Sara Staff", "sara@example.se")
	addPasskey(h, u.ID, "one")
	addPasskey(h, u.ID, "two")
	tok, _ := h.start(h.user(u.ID), true)
	if err := h.ids.ResetSecondFactor(u.ID); err != nil {
		t.Fatal(err)
	}
	if u = h.user(u.ID); u.HasSecondFactor() {
		t.Fatalf("after reset: %+v", u)
	}
	if _, _, err := h.ids.Passkeys().ByCredential([]byte("one")); !errors.Is(err, passkey.ErrNotFound) {
		t.Fatalf("index after reset: %v", err)
	}
	h.wantNoSession(tok)
}

// Recovery codes issued for a passkey user work once each at the code
// step, as TOTP users' do.
func TestRecoveryCodesForPasskeyUsers(t *testing.T) {
	h := newHarness(t)
	u := h.create(identity.RoleStaff, "Sara Staff", "sara@example.se")
	addPasskey(h, u.ID, "one")
	codes, err := h.ids.NewRecoveryCodes(u.ID)
	if err != nil || len(codes) != 10 {
		t.Fatalf("NewRecoveryCodes: %d %v", len(codes), err)
	}
	if err := h.ids.CheckSecondFactor(u.ID, codes[3]); err != nil {
		t.Fatalf("recovery code: %v", err)
	}
	if err := h.ids.CheckSecondFactor(u.ID, codes[3]); !errors.Is(err, identity.ErrBadLogin) {
		t.Fatalf("recovery code twice: %v", err)
	}
	if n, _ := h.ids.RecoveryCodesLeft(u.ID); n != 9 {
		t.Fatalf("left: %d", n)
	}
}
