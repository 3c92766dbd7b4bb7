package identity_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"
	"golang.org/x/crypto/argon2"

	"clinicbox/appliance/identity"
	"clinicbox/appliance/identity/password"
	"clinicbox/appliance/identity/totp"
	"clinicbox/storage"
)

func TestSetPasswordPolicy(t *testing.T) {
	h := newHarness(t)
	u := h.create(identity.RoleStaff, "Anna Svensson", "anna.svensson@vardcentralen.example")
	tests := []struct {
		pw   string
		want error
	}{
		{"", password.ErrTooShort},
		{"short", password.ErrTooShort},
		{"elevenchars", password.ErrTooShort},
		{strings.Repeat("x9", 600), password.ErrTooLong},
		{"anna.svensson2024", password.ErrPersonal},
		{"mySvenssonPassword", password.ErrPersonal},
		{"password1234", password.ErrCommon},
		{"Sommar2024!!", password.ErrCommon},
		{"aaaaaaaaaaaa", password.ErrPredictable},
		{"qwertyuiopas", password.ErrPredictable},
	}
	for _, tt := range tests {
		err := h.ids.SetPassword(u.ID, tt.pw)
		if !errors.Is(err, tt.want) {
			t.Errorf("SetPassword(%.20q) = %v, want %v", tt.pw, err, tt.want)
			continue
		}
		if fe := fieldError(t, err); fe.Field != "password" || fe.Err == nil || fe.Msg == "" {
			t.Errorf("SetPassword(%.20q): field error %+v", tt.pw, fe)
		}
	}
	if got := h.user(u.ID); got.HasPassword || got.Status != identity.StatusPending {
		t.Errorf("after refused passwords: HasPassword %v, status %s", got.HasPassword, got.Status)
	}
	if err := h.ids.SetPassword(999, goodPassword); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("SetPassword of an unknown user: %v", err)
	}
	if err := h.ids.SetPassword(u.ID, goodPassword); err != nil {
		t.Fatalf("SetPassword(good): %v", err)
	}
	if got := h.user(u.ID); !got.HasPassword {
		t.Error("HasPassword false after SetPassword")
	}
}

func TestCheckPassword(t *testing.T) {
	h := newHarness(t)
	bo := h.create(identity.RoleClient, "Bo Ek", "Bo.Ek@example.se")
	h.create(identity.RoleClient, "Utan Lösenord", "utan@example.se")
	if err := h.ids.SetPassword(bo.ID, goodPassword); err != nil {
		t.Fatal(err)
	}

	for _, email := range []string{"Bo.Ek@example.se", "bo.ek@example.se", "  BO.EK@EXAMPLE.SE "} {
		u, err := h.ids.CheckPassword(email, goodPassword)
		if err != nil {
			t.Fatalf("CheckPassword(%q, right) = %v", email, err)
		}
		if u.ID != bo.ID || u.Profile.Name != "Bo Ek" || !u.HasPassword {
			t.Errorf("CheckPassword returned %+v", u)
		}
	}

	bad := []struct{ what, email, pw string }{
		{"wrong password", "bo.ek@example.se", goodPassword + "x"},
		{"password in other case", "bo.ek@example.se", strings.ToUpper(goodPassword)},
		{"empty password", "bo.ek@example.se", ""},
		{"unknown address", "nobody@example.se", goodPassword},
		{"empty address", "", goodPassword},
		{"user without a password", "utan@example.se", goodPassword},
		{"user without a password, empty password", "utan@example.se", ""},
	}
	for _, tt := range bad {
		u, err := h.ids.CheckPassword(tt.email, tt.pw)
		if !errors.Is(err, identity.ErrBadLogin) {
			t.Errorf("%s: CheckPassword = %v, want ErrBadLogin", tt.what, err)
		}
		if u.ID != 0 {
			t.Errorf("%s: a failed login returned user %d", tt.what, u.ID)
		}
	}

	if err := h.ids.SetStatus(bo.ID, identity.StatusDeactivated); err != nil {
		t.Fatal(err)
	}
	if u, err := h.ids.CheckPassword("bo.ek@example.se", goodPassword); !errors.Is(err, identity.ErrBadLogin) || u.ID != 0 {
		t.Errorf("deactivated user: CheckPassword = %d, %v; want ErrBadLogin", u.ID, err)
	}
	if err := h.ids.SetStatus(bo.ID, identity.StatusActive); err != nil {
		t.Fatal(err)
	}
	if _, err := h.ids.CheckPassword("bo.ek@example.se", goodPassword); err != nil {
		t.Errorf("reactivated user: %v", err)
	}
}

// A user's password can be changed; the old one stops working.
func TestChangePassword(t *testing.T) {
	h := newHarness(t)
	u := h.create(identity.RoleClient, "Bo Ek", "bo@example.se")
	if err := h.ids.SetPassword(u.ID, goodPassword); err != nil {
		t.Fatal(err)
	}
	const second = "jag gillar blåbär på morgonen"
	if err := h.ids.SetPassword(u.ID, second); err != nil {
		t.Fatal(err)
	}
	if _, err := h.ids.CheckPassword("bo@example.se", goodPassword); !errors.Is(err, identity.ErrBadLogin) {
		t.Errorf("old password after a change: %v", err)
	}
	if _, err := h.ids.CheckPassword("bo@example.se", second); err != nil {
		t.Errorf("new password: %v", err)
	}
}

func TestActivationNeedsEveryFactor(t *testing.T) {
	for _, role := range identity.Roles() {
		t.Run(string(role), func(t *testing.T) {
			h := newHarness(t)
			u := h.create(role, "Vera Vald", "vera@example.se")
			if err := h.ids.SetPassword(u.ID, goodPassword); err != nil {
				t.Fatal(err)
			}
			got := h.user(u.ID)
			if !role.NeedsSecondFactor() {
				if got.Status != identity.StatusActive {
					t.Fatalf("%s after the password: %s, want active", role, got.Status)
				}
				return
			}
			if got.Status != identity.StatusPending {
				t.Fatalf("%s after the password alone: %s, want pending", role, got.Status)
			}
			// A pending user with a password may log in: the login leads
			// to the second-factor enrolment.
			if lu, err := h.ids.CheckPassword("vera@example.se", goodPassword); err != nil || lu.Status != identity.StatusPending {
				t.Errorf("CheckPassword of a pending %s: %v, %v", role, lu.Status, err)
			}
			h.enrol(u.ID)
			if got := h.user(u.ID); got.Status != identity.StatusActive || !got.HasTOTP || !got.HasPassword {
				t.Errorf("%s after password and TOTP: status %s, TOTP %v, password %v", role, got.Status, got.HasTOTP, got.HasPassword)
			}
		})
	}
}

func TestActivationTOTPFirstThenPassword(t *testing.T) {
	h := newHarness(t)
	u := h.create(identity.RoleStaff, "Vera Vald", "vera@example.se")
	h.enrol(u.ID)
	if got := h.user(u.ID); got.Status != identity.StatusPending || !got.HasTOTP {
		t.Fatalf("after TOTP alone: %s, TOTP %v; want pending", got.Status, got.HasTOTP)
	}
	if err := h.ids.SetPassword(u.ID, goodPassword); err != nil {
		t.Fatal(err)
	}
	if got := h.user(u.ID); got.Status != identity.StatusActive {
		t.Errorf("after TOTP and password: %s, want active", got.Status)
	}
}

// Setting credentials never brings a deactivated account back.
func TestDeactivatedStaysDeactivated(t *testing.T) {
	h := newHarness(t)
	staff := h.create(identity.RoleStaff, "Vera Vald", "vera@example.se")
	client := h.create(identity.RoleClient, "Bo Ek", "bo@example.se")
	for _, u := range []identity.User{staff, client} {
		if err := h.ids.SetStatus(u.ID, identity.StatusDeactivated); err != nil {
			t.Fatal(err)
		}
		if err := h.ids.SetPassword(u.ID, goodPassword); err != nil {
			t.Fatal(err)
		}
	}
	h.enrol(staff.ID)
	for _, u := range []identity.User{staff, client} {
		if got := h.user(u.ID); got.Status != identity.StatusDeactivated {
			t.Errorf("%s: %s after setting credentials, want deactivated", u.Role, got.Status)
		}
	}
	if _, err := h.ids.CheckPassword("bo@example.se", goodPassword); !errors.Is(err, identity.ErrBadLogin) {
		t.Errorf("deactivated client: %v", err)
	}
}

func TestNewTOTPEnrolment(t *testing.T) {
	en, err := identity.NewTOTPEnrolment("clinicbox", "anna@example.se")
	if err != nil {
		t.Fatal(err)
	}
	if len(en.Secret) != totp.SecretSize || en.Base32 != totp.Base32(en.Secret) {
		t.Errorf("secret %d bytes, base32 %q", len(en.Secret), en.Base32)
	}
	if !strings.HasPrefix(en.URI, "otpauth://totp/clinicbox:") || !strings.Contains(en.URI, "secret="+en.Base32) {
		t.Errorf("URI %q", en.URI)
	}
	other, _ := identity.NewTOTPEnrolment("clinicbox", "anna@example.se")
	if string(other.Secret) == string(en.Secret) {
		t.Error("two enrolments with the same secret")
	}
}

func TestConfirmTOTPWrongCodeStoresNothing(t *testing.T) {
	h := newHarness(t)
	u := h.create(identity.RoleStaff, "Vera Vald", "vera@example.se")
	en, err := identity.NewTOTPEnrolment("clinicbox", "vera@example.se")
	if err != nil {
		t.Fatal(err)
	}
	now := h.clock.Now()
	for _, code := range []string{wrongCode(en.Secret, now), totp.Code(en.Secret, now.Add(-5*time.Minute)), "", "abcdef", "12345", "1234567"} {
		if code == totp.Code(en.Secret, now) {
			continue // the old code happens to be today's
		}
		codes, err := h.ids.ConfirmTOTP(u.ID, en.Secret, code)
		if !errors.Is(err, identity.ErrCodeMismatch) {
			t.Errorf("ConfirmTOTP(%q) = %v, want ErrCodeMismatch", code, err)
			continue
		}
		if fe := fieldError(t, err); fe.Field != "code" {
			t.Errorf("field %q", fe.Field)
		}
		if codes != nil {
			t.Errorf("recovery codes returned with an error: %v", codes)
		}
	}
	if got := h.user(u.ID); got.HasTOTP {
		t.Error("HasTOTP after wrong codes")
	}
	if n, err := h.ids.RecoveryCodesLeft(u.ID); err != nil || n != 0 {
		t.Errorf("RecoveryCodesLeft = %d, %v; want 0", n, err)
	}
	h.clock.Advance(totp.Period)
	if err := h.ids.CheckSecondFactor(u.ID, totp.Code(en.Secret, h.clock.Now())); !errors.Is(err, identity.ErrBadLogin) {
		t.Errorf("a code of the never-confirmed secret: %v, want ErrBadLogin", err)
	}
}

func TestConfirmTOTPReturnsRecoveryCodes(t *testing.T) {
	h := newHarness(t)
	u := h.create(identity.RoleStaff, "Vera Vald", "vera@example.se")
	en, _ := identity.NewTOTPEnrolment("clinicbox", "vera@example.se")
	code := totp.Code(en.Secret, h.clock.Now())
	codes, err := h.ids.ConfirmTOTP(u.ID, en.Secret, code[:3]+" "+code[3:])
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes, want 10", len(codes))
	}
	seen := map[string]bool{}
	for _, c := range codes {
		norm, err := totp.NormalizeRecoveryCode(c)
		if err != nil || norm != c {
			t.Errorf("recovery code %q: %q, %v", c, norm, err)
		}
		if seen[c] {
			t.Errorf("recovery code %q twice", c)
		}
		seen[c] = true
	}
	if got := h.user(u.ID); !got.HasTOTP {
		t.Error("HasTOTP false after ConfirmTOTP")
	}
	if n, err := h.ids.RecoveryCodesLeft(u.ID); err != nil || n != 10 {
		t.Errorf("RecoveryCodesLeft = %d, %v; want 10", n, err)
	}
	if _, err := h.ids.RecoveryCodesLeft(999); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("RecoveryCodesLeft(unknown) = %v", err)
	}
}

func TestSecondFactorReplay(t *testing.T) {
	h := newHarness(t)
	u := h.create(identity.RoleStaff, "Vera Vald", "vera@example.se")
	secret, _ := h.enrol(u.ID)

	// The enrolment spent its step: the same code cannot log in.
	if err := h.ids.CheckSecondFactor(u.ID, totp.Code(secret, h.clock.Now())); !errors.Is(err, identity.ErrBadLogin) {
		t.Errorf("the enrolment code again: %v, want ErrBadLogin", err)
	}

	h.clock.Advance(totp.Period)
	c1 := totp.Code(secret, h.clock.Now())
	if err := h.ids.CheckSecondFactor(u.ID, c1); err != nil {
		t.Fatalf("the next step's code: %v", err)
	}
	for _, again := range []string{c1, c1[:3] + " " + c1[3:], c1[:3] + "-" + c1[3:]} {
		if err := h.ids.CheckSecondFactor(u.ID, again); !errors.Is(err, identity.ErrBadLogin) {
			t.Errorf("replay %q in the same step: %v, want ErrBadLogin", again, err)
		}
	}
	h.clock.Advance(10 * time.Second) // still the same step
	if err := h.ids.CheckSecondFactor(u.ID, c1); !errors.Is(err, identity.ErrBadLogin) {
		t.Errorf("replay 10 s later: %v", err)
	}

	h.clock.Advance(totp.Period)
	// c1 is still inside the ±1 step window, but its step is spent.
	if err := h.ids.CheckSecondFactor(u.ID, c1); !errors.Is(err, identity.ErrBadLogin) {
		t.Errorf("the previous step's code after it was used: %v", err)
	}
	c2 := totp.Code(secret, h.clock.Now())
	if err := h.ids.CheckSecondFactor(u.ID, c2[:3]+" "+c2[3:]); err != nil {
		t.Errorf("the step after, with a space: %v", err)
	}
	if err := h.ids.CheckSecondFactor(u.ID, c2); !errors.Is(err, identity.ErrBadLogin) {
		t.Errorf("replay of c2: %v", err)
	}

	// A phone a step ahead: its code works, and then the current step's
	// code (now behind the last used one) does not.
	h.clock.Advance(totp.Period)
	ahead := totp.Code(secret, h.clock.Now().Add(totp.Period))
	current := totp.Code(secret, h.clock.Now())
	if ahead != current {
		if err := h.ids.CheckSecondFactor(u.ID, ahead); err != nil {
			t.Errorf("a code one step ahead: %v", err)
		}
		if err := h.ids.CheckSecondFactor(u.ID, current); !errors.Is(err, identity.ErrBadLogin) {
			t.Errorf("the current step after a later one was used: %v", err)
		}
	}

	// Codes from far off are refused.
	h.clock.Advance(5 * time.Minute)
	if err := h.ids.CheckSecondFactor(u.ID, totp.Code(secret, h.clock.Now().Add(-3*time.Minute))); !errors.Is(err, identity.ErrBadLogin) {
		t.Errorf("a code 3 minutes old: %v", err)
	}
	if err := h.ids.CheckSecondFactor(u.ID, wrongCode(secret, h.clock.Now())); !errors.Is(err, identity.ErrBadLogin) {
		t.Errorf("a wrong code: %v", err)
	}
	if err := h.ids.CheckSecondFactor(u.ID, totp.Code(secret, h.clock.Now())); err != nil {
		t.Errorf("the current code after refusals: %v", err)
	}
	if err := h.ids.CheckSecondFactor(999, "123456"); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("unknown user: %v", err)
	}
}

func TestRecoveryCodes(t *testing.T) {
	h := newHarness(t)
	u := h.create(identity.RoleStaff, "Vera Vald", "vera@example.se")
	_, codes := h.enrol(u.ID)

	left := func() int {
		t.Helper()
		n, err := h.ids.RecoveryCodesLeft(u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	typed := strings.ToUpper(strings.ReplaceAll(codes[0], "-", " "))
	if err := h.ids.CheckSecondFactor(u.ID, typed); err != nil {
		t.Fatalf("recovery code typed as %q: %v", typed, err)
	}
	if n := left(); n != 9 {
		t.Errorf("RecoveryCodesLeft after one use = %d, want 9", n)
	}
	for _, again := range []string{codes[0], typed, strings.ReplaceAll(codes[0], "-", "")} {
		if err := h.ids.CheckSecondFactor(u.ID, again); !errors.Is(err, identity.ErrBadLogin) {
			t.Errorf("spent recovery code %q: %v, want ErrBadLogin", again, err)
		}
	}
	if n := left(); n != 9 {
		t.Errorf("RecoveryCodesLeft after refused reuse = %d, want 9", n)
	}
	if err := h.ids.CheckSecondFactor(u.ID, strings.ReplaceAll(codes[1], "-", "")); err != nil {
		t.Errorf("compact recovery code: %v", err)
	}
	if err := h.ids.CheckSecondFactor(u.ID, " "+codes[9]+" "); err != nil {
		t.Errorf("last recovery code with spaces around: %v", err)
	}
	for _, junk := range []string{"", "2222-2222-2222-2222", codes[2][:len(codes[2])-1], codes[2] + "x"} {
		if err := h.ids.CheckSecondFactor(u.ID, junk); !errors.Is(err, identity.ErrBadLogin) {
			t.Errorf("junk %q: %v", junk, err)
		}
	}
	if n := left(); n != 7 {
		t.Errorf("RecoveryCodesLeft = %d, want 7", n)
	}
	// One user's codes are not another's.
	other := h.create(identity.RoleStaff, "Otto Annan", "otto@example.se")
	h.enrol(other.ID)
	if err := h.ids.CheckSecondFactor(other.ID, codes[3]); !errors.Is(err, identity.ErrBadLogin) {
		t.Errorf("another user's recovery code: %v", err)
	}
}

func TestResetSecondFactor(t *testing.T) {
	h := newHarness(t)
	u := h.create(identity.RoleStaff, "Vera Vald", "vera@example.se")
	if err := h.ids.SetPassword(u.ID, goodPassword); err != nil {
		t.Fatal(err)
	}
	secret, codes := h.enrol(u.ID)
	u = h.user(u.ID)
	if u.Status != identity.StatusActive {
		t.Fatalf("status %s", u.Status)
	}
	tok1, _ := h.start(u, true)
	tok2, _ := h.start(u, false)
	other := h.create(identity.RoleStaff, "Otto Annan", "otto@example.se")
	otherTok, _ := h.start(other, true)

	if err := h.ids.ResetSecondFactor(u.ID); err != nil {
		t.Fatal(err)
	}
	got := h.user(u.ID)
	if got.HasTOTP {
		t.Error("HasTOTP after reset")
	}
	if got.Status != identity.StatusActive || !got.HasPassword {
		t.Errorf("after reset: status %s, password %v; the user stays active and enrols again", got.Status, got.HasPassword)
	}
	if n, _ := h.ids.RecoveryCodesLeft(u.ID); n != 0 {
		t.Errorf("RecoveryCodesLeft after reset = %d", n)
	}
	h.wantNoSession(tok1)
	h.wantNoSession(tok2)
	h.mustSession(otherTok)

	h.clock.Advance(totp.Period)
	if err := h.ids.CheckSecondFactor(u.ID, totp.Code(secret, h.clock.Now())); !errors.Is(err, identity.ErrBadLogin) {
		t.Errorf("a code of the removed secret: %v", err)
	}
	if err := h.ids.CheckSecondFactor(u.ID, codes[0]); !errors.Is(err, identity.ErrBadLogin) {
		t.Errorf("a recovery code after reset: %v", err)
	}

	// Enrolling again works, with new codes; the old ones stay dead.
	secret2, codes2 := h.enrol(u.ID)
	if n, _ := h.ids.RecoveryCodesLeft(u.ID); n != 10 {
		t.Errorf("RecoveryCodesLeft after re-enrolment = %d", n)
	}
	if err := h.ids.CheckSecondFactor(u.ID, codes[1]); !errors.Is(err, identity.ErrBadLogin) {
		t.Errorf("an old recovery code after re-enrolment: %v", err)
	}
	if err := h.ids.CheckSecondFactor(u.ID, codes2[0]); err != nil {
		t.Errorf("a new recovery code: %v", err)
	}
	h.clock.Advance(totp.Period)
	if err := h.ids.CheckSecondFactor(u.ID, totp.Code(secret2, h.clock.Now())); err != nil {
		t.Errorf("a code of the new secret: %v", err)
	}
	if err := h.ids.ResetSecondFactor(999); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("ResetSecondFactor(unknown) = %v", err)
	}
}

// legacyHash is a PHC string with parameters other than the current ones,
// as an older release would have stored.
func legacyHash(pw string) string {
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte(pw), salt, 2, 19*1024, 1, 32)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, 19*1024, 2, 1, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// setStoredPasswordHash replaces a user's stored hash behind the store's
// back, keeping every other field of the record.
func (h *harness) setStoredPasswordHash(id uint64, hash string) {
	h.t.Helper()
	err := h.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("users"))
		rec, ok, err := storage.Get[map[string]json.RawMessage](b, storage.ID(id))
		if err != nil || !ok {
			return fmt.Errorf("user %d: %v, found %v", id, err, ok)
		}
		if rec["password_hash"], err = json.Marshal(hash); err != nil {
			return err
		}
		return storage.Put(b, storage.ID(id), rec)
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) storedPasswordHash(id uint64) string {
	h.t.Helper()
	var hash string
	err := h.db.View(func(tx *bbolt.Tx) error {
		rec, ok, err := storage.Get[map[string]json.RawMessage](tx.Bucket([]byte("users")), storage.ID(id))
		if err != nil || !ok {
			return fmt.Errorf("user %d: %v, found %v", id, err, ok)
		}
		return json.Unmarshal(rec["password_hash"], &hash)
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return hash
}

func TestCheckPasswordUpgradesOldHash(t *testing.T) {
	h := newHarness(t)
	u := h.create(identity.RoleClient, "Bo Ek", "bo@example.se")
	if err := h.ids.SetPassword(u.ID, goodPassword); err != nil {
		t.Fatal(err)
	}
	current := h.storedPasswordHash(u.ID)
	if !strings.HasPrefix(current, "$argon2id$") || strings.Contains(current, goodPassword) {
		t.Fatalf("stored hash %q", current)
	}
	old := legacyHash(goodPassword)
	h.setStoredPasswordHash(u.ID, old)

	if _, err := h.ids.CheckPassword("bo@example.se", goodPassword+"!"); !errors.Is(err, identity.ErrBadLogin) {
		t.Errorf("wrong password against an old hash: %v", err)
	}
	if got := h.storedPasswordHash(u.ID); got != old {
		t.Errorf("a failed login changed the stored hash to %q", got)
	}
	if _, err := h.ids.CheckPassword("bo@example.se", goodPassword); err != nil {
		t.Fatalf("right password against an old hash: %v", err)
	}
	upgraded := h.storedPasswordHash(u.ID)
	if upgraded == old || !strings.Contains(upgraded, "$m=65536,t=1,p=1$") {
		t.Errorf("hash after a login with old parameters: %q, want it upgraded", upgraded)
	}
	if _, err := h.ids.CheckPassword("bo@example.se", goodPassword); err != nil {
		t.Errorf("login after the upgrade: %v", err)
	}
	if got := h.storedPasswordHash(u.ID); got != upgraded {
		t.Error("a current hash was rewritten on login")
	}

	// A damaged stored hash is a failed login, not another error.
	h.setStoredPasswordHash(u.ID, "$argon2id$v=19$m=1,t=1,p=1$AAAA$AAAA")
	if _, err := h.ids.CheckPassword("bo@example.se", goodPassword); !errors.Is(err, identity.ErrBadLogin) {
		t.Errorf("malformed stored hash: %v, want ErrBadLogin", err)
	}
}
