package identity_test

import (
	"errors"
	"testing"

	"clinicbox/appliance/identity"
)

func wantChannels(t *testing.T, u identity.User, email, sms bool) {
	t.Helper()
	if u.NotifyEmail != email || u.NotifySMS != sms {
		t.Fatalf("user %d: NotifyEmail=%v NotifySMS=%v, want %v %v", u.ID, u.NotifyEmail, u.NotifySMS, email, sms)
	}
}

func TestNotifyChannelDefaults(t *testing.T) {
	h := newHarness(t)
	// E-mail is on by default for a user with an address, SMS is off.
	withEmail := h.create(identity.RoleClient, "Anna", "anna@example.se")
	wantChannels(t, withEmail, true, false)
	wantChannels(t, h.user(withEmail.ID), true, false)
	// Without an address there is nothing to send to.
	without := h.create(identity.RoleClient, "Bo", "")
	wantChannels(t, h.user(without.ID), false, false)
	// A phone number alone does not turn SMS on.
	if err := h.ids.UpdateContact(without.ID, "", "070-123 45 67"); err != nil {
		t.Fatal(err)
	}
	wantChannels(t, h.user(without.ID), false, false)
	// Adding an address turns the default e-mail channel on.
	if err := h.ids.UpdateContact(without.ID, "bo@example.se", "070-123 45 67"); err != nil {
		t.Fatal(err)
	}
	wantChannels(t, h.user(without.ID), true, false)
}

func TestSetNotifyChannels(t *testing.T) {
	h := newHarness(t)
	u := h.create(identity.RoleClient, "Anna", "anna@example.se")
	if err := h.ids.UpdateContact(u.ID, "anna@example.se", "+46701234567"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ email, sms bool }{{false, true}, {true, true}, {false, false}, {true, false}} {
		if err := h.ids.SetNotifyChannels(u.ID, c.email, c.sms); err != nil {
			t.Fatalf("SetNotifyChannels(%v, %v): %v", c.email, c.sms, err)
		}
		wantChannels(t, h.user(u.ID), c.email, c.sms)
	}

	// The choice survives a restart, and is listed with the user.
	if err := h.ids.SetNotifyChannels(u.ID, false, true); err != nil {
		t.Fatal(err)
	}
	h.close()
	h = reopen(t, h)
	wantChannels(t, h.user(u.ID), false, true)
	users, err := h.ids.Users(identity.RoleClient)
	if err != nil || len(users) != 1 {
		t.Fatalf("Users: %v, %v", users, err)
	}
	wantChannels(t, users[0], false, true)

	// Removing the phone number stops SMS at once; adding it again brings
	// the choice back. An explicit "no e-mail" stays off.
	if err := h.ids.UpdateContact(u.ID, "anna@example.se", ""); err != nil {
		t.Fatal(err)
	}
	wantChannels(t, h.user(u.ID), false, false)
	if err := h.ids.UpdateContact(u.ID, "anna@example.se", "0701234567"); err != nil {
		t.Fatal(err)
	}
	wantChannels(t, h.user(u.ID), false, true)
}

func TestSetNotifyChannelsNeedsContact(t *testing.T) {
	h := newHarness(t)
	u := h.create(identity.RoleClient, "Bo", "")
	if fe := fieldError(t, h.ids.SetNotifyChannels(u.ID, true, false)); fe.Field != "email" {
		t.Fatalf("e-mail without an address: field %q", fe.Field)
	}
	if fe := fieldError(t, h.ids.SetNotifyChannels(u.ID, false, true)); fe.Field != "phone" {
		t.Fatalf("SMS without a phone number: field %q", fe.Field)
	}
	// Nothing was stored by the refused calls; turning all off works.
	wantChannels(t, h.user(u.ID), false, false)
	if err := h.ids.SetNotifyChannels(u.ID, false, false); err != nil {
		t.Fatal(err)
	}
	if err := h.ids.SetNotifyChannels(999, false, false); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("unknown user: %v", err)
	}
}
