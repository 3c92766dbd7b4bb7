package identity_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"clinicbox/appliance/identity"
	"clinicbox/appliance/identity/totp"
	"clinicbox/storage"
)

// TestConcurrentSessions runs 20 goroutines that start, check, extend and
// end sessions at once, with the clock moving meanwhile (run with -race).
func TestConcurrentSessions(t *testing.T) {
	h := newHarness(t)
	users := []identity.User{
		h.create(identity.RoleStaff, "Vera Vald", "vera@example.se"),
		h.create(identity.RoleStaff, "Otto Annan", "otto@example.se"),
		h.create(identity.RoleClient, "Bo Ek", "bo@example.se"),
		h.create(identity.RoleRelative, "Ida Ek", "ida@example.se"),
	}
	const workers = 20
	type result struct {
		tok   string
		user  uint64
		ended bool
	}
	results := make([]result, workers)
	errs := make(chan error, workers*16)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			u := users[i%len(users)]
			tok, sess, err := h.ids.StartSession(u, i%2 == 0)
			if err != nil {
				errs <- fmt.Errorf("worker %d: StartSession: %w", i, err)
				return
			}
			csrf := sess.CSRFToken()
			for j := range 5 {
				h.clock.Advance(10 * time.Second) // 20×5×10 s ≈ 17 min: below every idle timeout
				got, err := h.ids.Session(tok)
				if err != nil {
					errs <- fmt.Errorf("worker %d, check %d: %w", i, j, err)
					return
				}
				if got.UserID != u.ID || got.Role != u.Role || got.Complete != (i%2 == 0) || !got.ValidCSRF(csrf) {
					errs <- fmt.Errorf("worker %d: got session %+v for user %d", i, got, u.ID)
				}
			}
			ended := i%3 == 0
			if ended {
				if err := h.ids.EndSession(tok); err != nil {
					errs <- fmt.Errorf("worker %d: EndSession: %w", i, err)
				}
			}
			results[i] = result{tok: tok, user: u.ID, ended: ended}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	seen := map[string]bool{}
	live := 0
	for i, r := range results {
		if seen[r.tok] {
			t.Errorf("worker %d got a token another worker has", i)
		}
		seen[r.tok] = true
		if r.ended {
			h.wantNoSession(r.tok)
		} else {
			h.mustSession(r.tok)
			live++
		}
	}
	if s, i := h.countKeys("sessions", nil), h.countKeys("sessions-by-user", nil); s != live || i != live {
		t.Errorf("%d sessions and %d index entries, want %d of each", s, i, live)
	}

	// Log one user out everywhere while the others keep working.
	var wg2 sync.WaitGroup
	errs2 := make(chan error, workers)
	wg2.Go(func() {
		if err := h.ids.EndAllSessions(users[0].ID); err != nil {
			errs2 <- err
		}
	})
	for _, r := range results {
		if r.ended || r.user == users[0].ID {
			continue
		}
		wg2.Go(func() {
			if _, err := h.ids.Session(r.tok); err != nil {
				errs2 <- fmt.Errorf("user %d: %w", r.user, err)
			}
		})
	}
	wg2.Wait()
	close(errs2)
	for err := range errs2 {
		t.Error(err)
	}
	for _, r := range results {
		if r.user == users[0].ID {
			h.wantNoSession(r.tok)
		}
	}
	if n := h.countKeys("sessions-by-user", storage.ID(users[0].ID)); n != 0 {
		t.Errorf("%d index entries left for the user logged out everywhere", n)
	}
}

// Concurrent lookups of one session while it is ended: each sees the
// session or ErrNoSession, nothing else, and it stays ended.
func TestConcurrentSessionLookupAndEnd(t *testing.T) {
	h := newHarness(t)
	u := h.create(identity.RoleClient, "Bo Ek", "bo@example.se")
	tok, _ := h.start(u, true)
	h.clock.Advance(2 * time.Minute) // every lookup wants to write SeenAt
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 20 {
		wg.Go(func() {
			if i == 10 {
				if err := h.ids.EndSession(tok); err != nil {
					errs <- err
				}
				return
			}
			if _, err := h.ids.Session(tok); err != nil && !errors.Is(err, identity.ErrNoSession) {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	h.wantNoSession(tok)
	if n := h.countKeys("sessions", nil); n != 0 {
		t.Errorf("an ended session was written back: %d sessions stored", n)
	}
}

// The same TOTP code or recovery code sent many times at once passes
// exactly once.
func TestConcurrentSecondFactorOnce(t *testing.T) {
	h := newHarness(t)
	u := h.create(identity.RoleStaff, "Vera Vald", "vera@example.se")
	secret, codes := h.enrol(u.ID)
	h.clock.Advance(totp.Period)

	for _, tc := range []struct{ what, code string }{
		{"TOTP code", totp.Code(secret, h.clock.Now())},
		{"recovery code", strings.ToUpper(codes[4])},
	} {
		const n = 12
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { errs[i] = h.ids.CheckSecondFactor(u.ID, tc.code) })
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, identity.ErrBadLogin):
				t.Errorf("%s: %v", tc.what, err)
			}
		}
		if ok != 1 {
			t.Errorf("%s sent %d times at once passed %d times, want 1", tc.what, n, ok)
		}
	}
	if left, _ := h.ids.RecoveryCodesLeft(u.ID); left != 9 {
		t.Errorf("RecoveryCodesLeft = %d, want 9", left)
	}
}

// Racing creations with one address (in various spellings) make one user.
func TestConcurrentCreateUserSameEmail(t *testing.T) {
	h := newHarness(t)
	spellings := []string{"anna@example.se", "ANNA@example.se", " anna@EXAMPLE.se", "Anna@Example.Se"}
	const n = 12
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = h.ids.CreateUser(identity.RoleStaff, identity.Profile{Name: "Anna", Email: spellings[i%len(spellings)]}, nil)
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, identity.ErrEmailTaken):
			t.Errorf("CreateUser: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d users created with one address, want 1", ok)
	}
	if users, err := h.ids.Users(); err != nil || len(users) != 1 {
		t.Errorf("Users() = %d, %v", len(users), err)
	}
}
