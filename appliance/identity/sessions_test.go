package identity_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"clinicbox/appliance/identity"
	"clinicbox/storage"
)

func TestStartSessionAndLookup(t *testing.T) {
	h := newHarness(t)
	u := h.create(identity.RoleStaff, "Vera Vald", "vera@example.se")
	tok, sess := h.start(u, false)
	if len(tok) != 43 || strings.ContainsAny(tok, "+/=") {
		t.Errorf("token %q", tok)
	}
	if sess.UserID != u.ID || sess.Role != identity.RoleStaff || sess.Complete || !sess.CreatedAt.Equal(t0) || !sess.SeenAt.Equal(t0) {
		t.Errorf("StartSession = %+v", sess)
	}
	got := h.mustSession(tok)
	if got.UserID != u.ID || got.Role != identity.RoleStaff || got.Complete || !got.CreatedAt.Equal(t0) || !got.SeenAt.Equal(t0) {
		t.Errorf("Session = %+v", got)
	}
	tok2, _ := h.start(u, true)
	if tok2 == tok {
		t.Error("two sessions with the same token")
	}
	if got := h.mustSession(tok2); !got.Complete {
		t.Error("complete session read back incomplete")
	}
	if n := h.countKeys("sessions-by-user", storage.ID(u.ID)); n != 2 {
		t.Errorf("%d sessions indexed for the user, want 2", n)
	}
}

func TestSessionUnknownToken(t *testing.T) {
	h := newHarness(t)
	u := h.create(identity.RoleStaff, "Vera Vald", "vera@example.se")
	tok, _ := h.start(u, true)
	for _, junk := range []string{"", "x", tok[:42], tok + "A", strings.Repeat("A", 43), "\x00" + tok[1:]} {
		if _, err := h.ids.Session(junk); !errors.Is(err, identity.ErrNoSession) {
			t.Errorf("Session(%q) = %v, want ErrNoSession", junk, err)
		}
	}
	h.mustSession(tok)
}

func TestIdleTimeoutPerRole(t *testing.T) {
	want := map[identity.Role]time.Duration{
		identity.RoleAdmin:      30 * time.Minute,
		identity.RoleStaff:      30 * time.Minute,
		identity.RoleTechnician: 30 * time.Minute,
		identity.RoleClient:     60 * time.Minute,
		identity.RoleRelative:   60 * time.Minute,
	}
	for _, role := range identity.Roles() {
		t.Run(string(role), func(t *testing.T) {
			if got := identity.IdleTimeout(role); got != want[role] {
				t.Fatalf("IdleTimeout(%s) = %v, want %v", role, got, want[role])
			}
			h := newHarness(t)
			u := h.create(role, "Vera Vald", "vera@example.se")
			idle := want[role]

			// Exactly the idle time is still fine (and counts as activity).
			tok, _ := h.start(u, true)
			h.clock.Advance(idle)
			if got := h.mustSession(tok); !got.SeenAt.Equal(t0.Add(idle)) {
				t.Errorf("SeenAt %v after a use at the idle limit", got.SeenAt)
			}
			// A second past it is not.
			h.clock.Advance(idle + time.Second)
			if _, err := h.ids.Session(tok); !errors.Is(err, identity.ErrSessionExpired) {
				t.Fatalf("Session after %v idle = %v, want ErrSessionExpired", idle+time.Second, err)
			}
			h.wantNoSession(tok) // and it is gone
			if n := h.countKeys("sessions-by-user", storage.ID(u.ID)); n != 0 {
				t.Errorf("%d index entries left for an expired session", n)
			}
		})
	}
}

// 31 minutes idle ends a staff session but not a client's.
func TestIdleTimeoutStaffVersusClient(t *testing.T) {
	h := newHarness(t)
	staff := h.create(identity.RoleStaff, "Vera Vald", "vera@example.se")
	client := h.create(identity.RoleClient, "Bo Ek", "bo@example.se")
	st, _ := h.start(staff, true)
	ct, _ := h.start(client, true)
	h.clock.Advance(31 * time.Minute)
	if _, err := h.ids.Session(st); !errors.Is(err, identity.ErrSessionExpired) {
		t.Errorf("staff after 31 min = %v, want ErrSessionExpired", err)
	}
	h.mustSession(ct)
	h.clock.Advance(61 * time.Minute)
	if _, err := h.ids.Session(ct); !errors.Is(err, identity.ErrSessionExpired) {
		t.Errorf("client after 61 min idle = %v, want ErrSessionExpired", err)
	}
}

func TestSessionActivityExtendsIdle(t *testing.T) {
	h := newHarness(t)
	u := h.create(identity.RoleStaff, "Vera Vald", "vera@example.se")
	tok, _ := h.start(u, true)
	for i := 1; i <= 6; i++ { // used every 20 minutes for two hours
		now := h.clock.Advance(20 * time.Minute)
		got := h.mustSession(tok)
		if !got.SeenAt.Equal(now) {
			t.Errorf("use %d: SeenAt %v, want %v", i, got.SeenAt, now)
		}
	}
	h.clock.Advance(30*time.Minute + time.Second)
	if _, err := h.ids.Session(tok); !errors.Is(err, identity.ErrSessionExpired) {
		t.Errorf("after the last use and 30 min idle = %v, want ErrSessionExpired", err)
	}
}

// SeenAt is written at most once a minute.
func TestSessionSeenAtGranularity(t *testing.T) {
	h := newHarness(t)
	u := h.create(identity.RoleStaff, "Vera Vald", "vera@example.se")
	tok, _ := h.start(u, true)

	h.clock.Advance(30 * time.Second)
	if got := h.mustSession(tok); !got.SeenAt.Equal(t0) {
		t.Errorf("SeenAt after 30 s = %v, want unchanged %v", got.SeenAt, t0)
	}
	h.clock.Advance(90 * time.Second) // t0 + 2 min
	if got := h.mustSession(tok); !got.SeenAt.Equal(t0.Add(2 * time.Minute)) {
		t.Errorf("SeenAt after 2 min = %v, want %v", got.SeenAt, t0.Add(2*time.Minute))
	}
	h.clock.Advance(30 * time.Second)
	if got := h.mustSession(tok); !got.SeenAt.Equal(t0.Add(2 * time.Minute)) {
		t.Errorf("SeenAt 30 s after a write = %v, want %v", got.SeenAt, t0.Add(2*time.Minute))
	}
	// The idle time counts from the stored SeenAt: 30 min after t0+2m
	// is still fine, a second more is not, whatever happened within the
	// minute after it.
	h.clock.Advance(30*time.Minute - 30*time.Second + time.Second)
	if _, err := h.ids.Session(tok); !errors.Is(err, identity.ErrSessionExpired) {
		t.Errorf("31 min after the stored SeenAt = %v, want ErrSessionExpired", err)
	}
}

// A session used every 20 minutes survives past the idle timeout, and
// lookups 2 minutes apart keep SeenAt current.
func TestSessionUsedRegularlySurvives(t *testing.T) {
	h := newHarness(t)
	u := h.create(identity.RoleStaff, "Vera Vald", "vera@example.se")
	tok, _ := h.start(u, true)
	for elapsed := 2 * time.Minute; elapsed <= 10*time.Minute; elapsed += 2 * time.Minute {
		h.clock.Advance(2 * time.Minute)
		if got := h.mustSession(tok); !got.SeenAt.Equal(t0.Add(elapsed)) {
			t.Errorf("SeenAt at +%v = %v", elapsed, got.SeenAt)
		}
	}
	for range 3 { // +30, +50, +70 min
		h.clock.Advance(20 * time.Minute)
		h.mustSession(tok)
	}
	if elapsed := h.clock.Now().Sub(t0); elapsed <= identity.IdleTimeoutStaff {
		t.Fatalf("test did not get past the idle timeout: %v", elapsed)
	}
}

func TestSessionAbsoluteTimeout(t *testing.T) {
	for _, role := range []identity.Role{identity.RoleClient, identity.RoleStaff} {
		t.Run(string(role), func(t *testing.T) {
			h := newHarness(t)
			u := h.create(role, "Vera Vald", "vera@example.se")
			tok, _ := h.start(u, true)
			for elapsed := 20 * time.Minute; elapsed <= identity.AbsoluteTimeout; elapsed += 20 * time.Minute {
				h.clock.Advance(20 * time.Minute)
				if _, err := h.ids.Session(tok); err != nil {
					t.Fatalf("at +%v: %v", elapsed, err)
				}
			}
			h.clock.Advance(20 * time.Minute)
			if _, err := h.ids.Session(tok); !errors.Is(err, identity.ErrSessionExpired) {
				t.Fatalf("after 12 h 20 min of regular use = %v, want ErrSessionExpired", err)
			}
			h.wantNoSession(tok)
		})
	}
}

func TestCompleteSessionRotatesToken(t *testing.T) {
	h := newHarness(t)
	u := h.create(identity.RoleStaff, "Vera Vald", "vera@example.se")
	tok, half := h.start(u, false)
	h.clock.Advance(2 * time.Minute)
	newTok, sess, err := h.ids.CompleteSession(tok, u)
	if err != nil {
		t.Fatal(err)
	}
	if newTok == tok || len(newTok) != 43 {
		t.Fatalf("CompleteSession kept or mangled the token: %q", newTok)
	}
	if !sess.Complete || sess.UserID != u.ID || sess.Role != u.Role {
		t.Errorf("completed session %+v", sess)
	}
	h.wantNoSession(tok) // the pre-login token is worthless
	got := h.mustSession(newTok)
	if !got.Complete || got.UserID != u.ID {
		t.Errorf("Session(new) = %+v", got)
	}
	if got.CSRFToken() == half.CSRFToken() || got.ValidCSRF(half.CSRFToken()) {
		t.Error("the CSRF token of the pre-login session is valid for the new one")
	}
	if n := h.countKeys("sessions-by-user", storage.ID(u.ID)); n != 1 {
		t.Errorf("%d index entries after CompleteSession, want 1", n)
	}
	if err := h.ids.EndAllSessions(u.ID); err != nil {
		t.Fatal(err)
	}
	h.wantNoSession(newTok)
}

// CompleteSession must only complete a live, unexpired session of the
// same user. It now ends whatever token it is given (if anything) and
// starts a fresh complete session regardless.
func TestCompleteSessionRequiresLiveSessionOfUser(t *testing.T) {
	h := newHarness(t)
	u := h.create(identity.RoleStaff, "Vera Vald", "vera@example.se")
	other := h.create(identity.RoleStaff, "Otto Annan", "otto@example.se")

	t.Run("unknown token", func(t *testing.T) {
		tok, _, err := h.ids.CompleteSession(strings.Repeat("A", 43), u)
		if err == nil {
			t.Errorf("CompleteSession(unknown token) made a complete session (token of %d characters); want an error (ErrNoSession)", len(tok))
		}
	})
	t.Run("ended session", func(t *testing.T) {
		tok, _ := h.start(u, false)
		if err := h.ids.EndSession(tok); err != nil {
			t.Fatal(err)
		}
		if _, _, err := h.ids.CompleteSession(tok, u); err == nil {
			t.Error("CompleteSession of an ended session succeeded; want ErrNoSession")
		}
	})
	t.Run("expired session", func(t *testing.T) {
		tok, _ := h.start(u, false)
		h.clock.Advance(identity.IdleTimeoutStaff + time.Minute)
		if _, _, err := h.ids.CompleteSession(tok, u); err == nil {
			t.Error("CompleteSession of an idle-expired session succeeded; want ErrSessionExpired")
		}
	})
	t.Run("another user's session", func(t *testing.T) {
		otherTok, _ := h.start(other, false)
		if _, _, err := h.ids.CompleteSession(otherTok, u); err == nil {
			t.Error("CompleteSession with another user's token succeeded")
		}
		if _, err := h.ids.Session(otherTok); err != nil {
			t.Errorf("the other user's session was ended by someone else's CompleteSession: %v", err)
		}
	})
}

func TestEndSession(t *testing.T) {
	h := newHarness(t)
	u := h.create(identity.RoleStaff, "Vera Vald", "vera@example.se")
	a, _ := h.start(u, true)
	b, _ := h.start(u, true)
	if err := h.ids.EndSession(a); err != nil {
		t.Fatal(err)
	}
	h.wantNoSession(a)
	h.mustSession(b)
	if n := h.countKeys("sessions-by-user", storage.ID(u.ID)); n != 1 {
		t.Errorf("%d index entries, want 1", n)
	}
	for _, tok := range []string{a, "", "junk", strings.Repeat("B", 43)} {
		if err := h.ids.EndSession(tok); err != nil {
			t.Errorf("EndSession(%q) = %v, want nil", tok, err)
		}
	}
	h.mustSession(b)
}

func TestEndAllSessions(t *testing.T) {
	h := newHarness(t)
	a := h.create(identity.RoleStaff, "Vera Vald", "vera@example.se")
	b := h.create(identity.RoleClient, "Bo Ek", "bo@example.se")
	var aToks []string
	for i := range 3 {
		tok, _ := h.start(a, i%2 == 0)
		aToks = append(aToks, tok)
	}
	bTok, _ := h.start(b, true)
	if err := h.ids.EndAllSessions(a.ID); err != nil {
		t.Fatal(err)
	}
	for _, tok := range aToks {
		h.wantNoSession(tok)
	}
	h.mustSession(bTok)
	if n := h.countKeys("sessions-by-user", storage.ID(a.ID)); n != 0 {
		t.Errorf("%d index entries left for the user", n)
	}
	if n := h.countKeys("sessions", nil); n != 1 {
		t.Errorf("%d sessions stored, want 1", n)
	}
	if err := h.ids.EndAllSessions(999); err != nil {
		t.Errorf("EndAllSessions(unknown) = %v", err)
	}
	h.mustSession(bTok)
	// New sessions after a log-out-everywhere work.
	again, _ := h.start(a, true)
	h.mustSession(again)
}

func TestDeactivationEndsSessions(t *testing.T) {
	h := newHarness(t)
	a := h.create(identity.RoleStaff, "Vera Vald", "vera@example.se")
	b := h.create(identity.RoleStaff, "Otto Annan", "otto@example.se")
	a1, _ := h.start(a, true)
	a2, _ := h.start(a, false)
	b1, _ := h.start(b, true)
	if err := h.ids.SetStatus(b.ID, identity.StatusActive); err != nil {
		t.Fatal(err)
	}
	h.mustSession(b1) // activation leaves sessions alone
	if err := h.ids.SetStatus(a.ID, identity.StatusDeactivated); err != nil {
		t.Fatal(err)
	}
	if got := h.user(a.ID); got.Status != identity.StatusDeactivated {
		t.Errorf("status %s", got.Status)
	}
	h.wantNoSession(a1)
	h.wantNoSession(a2)
	h.mustSession(b1)
}

func TestPurgeExpiredSessions(t *testing.T) {
	h := newHarness(t)
	staff := h.create(identity.RoleStaff, "Vera Vald", "vera@example.se")
	client := h.create(identity.RoleClient, "Bo Ek", "bo@example.se")
	if n, err := h.ids.PurgeExpiredSessions(); err != nil || n != 0 {
		t.Fatalf("Purge with no sessions = %d, %v", n, err)
	}
	staffOld, _ := h.start(staff, true)
	clientOld, _ := h.start(client, true)
	h.clock.Advance(45 * time.Minute)
	staffNew, _ := h.start(staff, true)

	n, err := h.ids.PurgeExpiredSessions()
	if err != nil || n != 1 {
		t.Fatalf("Purge after 45 min = %d, %v; want 1 (the idle staff session)", n, err)
	}
	h.wantNoSession(staffOld) // gone, not merely expired
	h.mustSession(clientOld)
	h.mustSession(staffNew)
	if got := h.countKeys("sessions-by-user", storage.ID(staff.ID)); got != 1 {
		t.Errorf("%d index entries for staff, want 1", got)
	}

	h.clock.Advance(13 * time.Hour)
	if n, err := h.ids.PurgeExpiredSessions(); err != nil || n != 2 {
		t.Errorf("Purge after 13 h = %d, %v; want 2", n, err)
	}
	if n, err := h.ids.PurgeExpiredSessions(); err != nil || n != 0 {
		t.Errorf("second Purge = %d, %v; want 0", n, err)
	}
	if s, i := h.countKeys("sessions", nil), h.countKeys("sessions-by-user", nil); s != 0 || i != 0 {
		t.Errorf("%d sessions and %d index entries left", s, i)
	}

	// The absolute limit applies to a session kept busy, too.
	busy, _ := h.start(client, true)
	for range 36 { // used every 20 minutes for 12 h
		h.clock.Advance(20 * time.Minute)
		h.mustSession(busy)
	}
	if n, _ := h.ids.PurgeExpiredSessions(); n != 0 {
		t.Errorf("Purge of a busy session at exactly 12 h = %d, want 0", n)
	}
	h.clock.Advance(20 * time.Minute) // 20 min idle, 12 h 20 min old
	if n, _ := h.ids.PurgeExpiredSessions(); n != 1 {
		t.Errorf("Purge of a busy 12 h 20 min old session = %d, want 1", n)
	}
	h.wantNoSession(busy)
}

func TestCSRF(t *testing.T) {
	h := newHarness(t)
	u := h.create(identity.RoleStaff, "Vera Vald", "vera@example.se")
	v := h.create(identity.RoleStaff, "Otto Annan", "otto@example.se")
	tok, sess := h.start(u, true)
	_, otherSameUser := h.start(u, true)
	_, otherUser := h.start(v, true)

	csrf := sess.CSRFToken()
	if len(csrf) < 40 {
		t.Errorf("CSRF token %q is short", csrf)
	}
	if sess.CSRFToken() != csrf {
		t.Error("CSRFToken changes between calls")
	}
	h.clock.Advance(5 * time.Minute)
	if got := h.mustSession(tok); got.CSRFToken() != csrf {
		t.Error("CSRFToken of the stored session differs from the one at start")
	}
	if !sess.ValidCSRF(csrf) || !h.mustSession(tok).ValidCSRF(csrf) {
		t.Error("own CSRF token refused")
	}
	for what, bad := range map[string]string{
		"empty":                 "",
		"other session of user": otherSameUser.CSRFToken(),
		"other user's session":  otherUser.CSRFToken(),
		"truncated":             csrf[:len(csrf)-1],
		"extended":              csrf + "A",
		"session token":         tok,
	} {
		if sess.ValidCSRF(bad) {
			t.Errorf("ValidCSRF accepted %s: %q", what, bad)
		}
	}
	if otherSameUser.CSRFToken() == csrf || otherUser.CSRFToken() == csrf {
		t.Error("two sessions share a CSRF token")
	}
}
