package identity_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"clinicbox/appliance/identity"
)

func TestNewRequiresDBKeysAndIndexKey(t *testing.T) {
	h := newHarness(t)
	key := make([]byte, 32)
	for _, opts := range []identity.Options{
		{Keys: h.keys, IndexKey: key},
		{DB: h.db, IndexKey: key},
		{DB: h.db, Keys: h.keys},
		{DB: h.db, Keys: h.keys, IndexKey: key[:15]},
	} {
		if _, err := identity.New(opts); err == nil {
			t.Errorf("New(%+v) succeeded", opts)
		}
	}
	if _, err := identity.New(identity.Options{DB: h.db, Keys: h.keys, IndexKey: key[:16]}); err != nil {
		t.Errorf("New with a 16-byte key: %v", err)
	}
}

func TestParseRole(t *testing.T) {
	for _, r := range identity.Roles() {
		if got, err := identity.ParseRole(string(r)); err != nil || got != r {
			t.Errorf("ParseRole(%q) = %q, %v", r, got, err)
		}
	}
	for _, s := range []string{"", "Admin", "doctor", "admin "} {
		if _, err := identity.ParseRole(s); err == nil {
			t.Errorf("ParseRole(%q) succeeded", s)
		}
	}
	need := map[identity.Role]bool{identity.RoleAdmin: true, identity.RoleStaff: true, identity.RoleTechnician: true}
	for _, r := range identity.Roles() {
		if r.NeedsSecondFactor() != need[r] {
			t.Errorf("%s.NeedsSecondFactor() = %v", r, r.NeedsSecondFactor())
		}
	}
}

func TestCreateUserValidation(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name    string
		role    identity.Role
		profile identity.Profile
		field   string
		err     error // nil: only the field is checked
	}{
		{"no name", identity.RoleClient, identity.Profile{Email: "a@example.se"}, "name", identity.ErrNameMissing},
		{"blank name", identity.RoleStaff, identity.Profile{Name: " \t ", Email: "a@example.se"}, "name", identity.ErrNameMissing},
		{"long name", identity.RoleClient, identity.Profile{Name: strings.Repeat("å", 201)}, "name", identity.ErrNameMissing},
		{"staff without e-mail", identity.RoleStaff, identity.Profile{Name: "Anna"}, "email", identity.ErrEmailInvalid},
		{"admin without e-mail", identity.RoleAdmin, identity.Profile{Name: "Anna"}, "email", identity.ErrEmailInvalid},
		{"technician without e-mail", identity.RoleTechnician, identity.Profile{Name: "Anna"}, "email", identity.ErrEmailInvalid},
		{"not an address", identity.RoleClient, identity.Profile{Name: "Anna", Email: "not-an-address"}, "email", identity.ErrEmailInvalid},
		{"no domain", identity.RoleClient, identity.Profile{Name: "Anna", Email: "anna@"}, "email", identity.ErrEmailInvalid},
		{"display name", identity.RoleStaff, identity.Profile{Name: "Anna", Email: "Anna <anna@example.se>"}, "email", identity.ErrEmailInvalid},
		{"two addresses", identity.RoleStaff, identity.Profile{Name: "Anna", Email: "anna@example.se, bo@example.se"}, "email", identity.ErrEmailInvalid},
		{"too long address", identity.RoleStaff, identity.Profile{Name: "Anna", Email: strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 63) + ".se"}, "email", identity.ErrEmailInvalid},
		{"long phone", identity.RoleClient, identity.Profile{Name: "Anna", Phone: strings.Repeat("1", 33)}, "phone", nil},
		{"unknown role", identity.Role("doctor"), identity.Profile{Name: "Anna", Email: "anna@example.se"}, "role", nil},
		{"empty role", identity.Role(""), identity.Profile{Name: "Anna", Email: "anna@example.se"}, "role", nil},
		{"role in capitals", identity.Role("Staff"), identity.Profile{Name: "Anna", Email: "anna@example.se"}, "role", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := h.ids.CreateUser(tt.role, tt.profile, nil)
			if err == nil {
				t.Fatalf("CreateUser succeeded: %+v", u)
			}
			fe := fieldError(t, err)
			if fe.Field != tt.field {
				t.Errorf("field %q, want %q (%v)", fe.Field, tt.field, err)
			}
			if tt.err != nil && !errors.Is(err, tt.err) {
				t.Errorf("error %v, want errors.Is %v", err, tt.err)
			}
			if fe.Error() == "" {
				t.Error("empty message")
			}
		})
	}
	users, err := h.ids.Users()
	if err != nil || len(users) != 0 {
		t.Errorf("after refused creations: Users() = %d users, %v; want none", len(users), err)
	}

	// The limits themselves are allowed.
	if _, err := h.ids.CreateUser(identity.RoleClient, identity.Profile{Name: strings.Repeat("å", 200), Phone: strings.Repeat("1", 32)}, nil); err != nil {
		t.Errorf("200-rune name and 32-byte phone: %v", err)
	}
	// A client or relative needs no e-mail address.
	for _, r := range []identity.Role{identity.RoleClient, identity.RoleRelative} {
		if _, err := h.ids.CreateUser(r, identity.Profile{Name: "Utan Adress"}, nil); err != nil {
			t.Errorf("%s without e-mail: %v", r, err)
		}
	}
}

func TestCreateUserIsPendingAndTrimmed(t *testing.T) {
	h := newHarness(t)
	unit, err := h.ids.CreateUnit("Vårdcentralen Norr", "")
	if err != nil {
		t.Fatal(err)
	}
	p := identity.Profile{Name: "  Anna Svensson ", Email: " anna.svensson@example.se ", Phone: "070-123 45 67", Title: "Sjuksköterska"}
	u, err := h.ids.CreateUser(identity.RoleStaff, p, []uint64{unit.ID})
	if err != nil {
		t.Fatal(err)
	}
	if u.ID == 0 || u.Role != identity.RoleStaff || u.Status != identity.StatusPending {
		t.Errorf("new user: id %d role %s status %s", u.ID, u.Role, u.Status)
	}
	if u.HasPassword || u.HasTOTP {
		t.Errorf("new user has password %v, TOTP %v", u.HasPassword, u.HasTOTP)
	}
	if u.Profile.Name != "Anna Svensson" || u.Profile.Email != "anna.svensson@example.se" {
		t.Errorf("profile not trimmed: %q %q", u.Profile.Name, u.Profile.Email)
	}
	if !slices.Equal(u.Units, []uint64{unit.ID}) {
		t.Errorf("units %v", u.Units)
	}
	if !u.CreatedAt.Equal(t0) {
		t.Errorf("CreatedAt %v, want %v", u.CreatedAt, t0)
	}
	got := h.user(u.ID)
	if got.Profile != u.Profile || got.Status != identity.StatusPending || !slices.Equal(got.Units, u.Units) || !got.CreatedAt.Equal(t0) {
		t.Errorf("reloaded %+v, created %+v", got, u)
	}
	if got.Profile.Phone != p.Phone || got.Profile.Title != p.Title {
		t.Errorf("phone/title %q %q", got.Profile.Phone, got.Profile.Title)
	}
	// Ids are distinct.
	v := h.create(identity.RoleClient, "Bo Ek", "")
	if v.ID == u.ID {
		t.Errorf("two users with id %d", u.ID)
	}
}

func TestCreateUserEmailUniqueIgnoringCaseAndSpace(t *testing.T) {
	h := newHarness(t)
	h.create(identity.RoleStaff, "Anna Svensson", "anna@example.se")
	for _, email := range []string{"anna@example.se", "ANNA@Example.SE", "  Anna@example.se\t"} {
		for _, role := range []identity.Role{identity.RoleStaff, identity.RoleClient} {
			if _, err := h.ids.CreateUser(role, identity.Profile{Name: "Other", Email: email}, nil); !errors.Is(err, identity.ErrEmailTaken) {
				t.Errorf("CreateUser(%s, %q) = %v, want ErrEmailTaken", role, email, err)
			}
		}
	}
	h.create(identity.RoleStaff, "Anna Andersson", "anna2@example.se")
	// Users without an address do not collide with each other.
	h.create(identity.RoleClient, "Klient Ett", "")
	h.create(identity.RoleClient, "Klient Två", "")
	users, err := h.ids.Users()
	if err != nil || len(users) != 4 {
		t.Errorf("Users() = %d, %v; want 4", len(users), err)
	}
}

func TestCreateUserRefusesUnknownUnit(t *testing.T) {
	h := newHarness(t)
	unit, err := h.ids.CreateUnit("Mottagning A", "standard")
	if err != nil {
		t.Fatal(err)
	}
	for _, units := range [][]uint64{{unit.ID + 1}, {unit.ID, 999}, {0}} {
		_, err := h.ids.CreateUser(identity.RoleStaff, identity.Profile{Name: "Anna", Email: "anna@example.se"}, units)
		if fe := fieldError(t, err); fe.Field != "units" {
			t.Errorf("units %v: field %q (%v), want units", units, fe.Field, err)
		}
	}
	if users, _ := h.ids.Users(); len(users) != 0 {
		t.Errorf("%d users after refused creations", len(users))
	}
	// Nothing was half-written: the address is still free.
	if _, err := h.ids.UserByEmail("anna@example.se"); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("UserByEmail after refused creation: %v, want ErrNotFound", err)
	}
	u, err := h.ids.CreateUser(identity.RoleStaff, identity.Profile{Name: "Anna", Email: "anna@example.se"}, []uint64{unit.ID})
	if err != nil {
		t.Fatalf("creation with a real unit: %v", err)
	}
	if !slices.Equal(u.Units, []uint64{unit.ID}) {
		t.Errorf("units %v", u.Units)
	}
}

func TestUserByEmail(t *testing.T) {
	h := newHarness(t)
	anna := h.create(identity.RoleStaff, "Anna Svensson", "Anna.Svensson@Example.se")
	bo := h.create(identity.RoleClient, "Bo Ek", "bo@example.se")
	for _, q := range []string{"Anna.Svensson@Example.se", "anna.svensson@example.se", "ANNA.SVENSSON@EXAMPLE.SE", "  anna.svensson@example.se \n"} {
		u, err := h.ids.UserByEmail(q)
		if err != nil || u.ID != anna.ID {
			t.Errorf("UserByEmail(%q) = %d, %v; want %d", q, u.ID, err, anna.ID)
		}
		if u.Profile.Email != "Anna.Svensson@Example.se" {
			t.Errorf("profile e-mail %q: the address is kept as typed", u.Profile.Email)
		}
	}
	if u, err := h.ids.UserByEmail(" BO@example.se"); err != nil || u.ID != bo.ID {
		t.Errorf("UserByEmail(bo) = %d, %v", u.ID, err)
	}
	for _, q := range []string{"", "nobody@example.se", "anna.svensson@example.s", "bo@example.se.x"} {
		if _, err := h.ids.UserByEmail(q); !errors.Is(err, identity.ErrNotFound) {
			t.Errorf("UserByEmail(%q) = %v, want ErrNotFound", q, err)
		}
	}
	if _, err := h.ids.User(999); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("User(999) = %v, want ErrNotFound", err)
	}
}

func TestEmailIndexDependsOnIndexKey(t *testing.T) {
	h := newHarness(t)
	h.create(identity.RoleStaff, "Anna", "anna@example.se")
	other, err := identity.New(identity.Options{DB: h.db, Keys: h.keys, IndexKey: []byte("another key of at least 16 bytes"), Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.UserByEmail("anna@example.se"); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("lookup with another index key: %v, want ErrNotFound", err)
	}
}

func TestUsersByRoleAndCountAdmins(t *testing.T) {
	h := newHarness(t)
	if n, err := h.ids.CountAdmins(); err != nil || n != 0 {
		t.Fatalf("CountAdmins on an empty box = %d, %v", n, err)
	}
	if users, err := h.ids.Users(); err != nil || len(users) != 0 {
		t.Fatalf("Users() on an empty box = %v, %v", users, err)
	}
	admin1 := h.create(identity.RoleAdmin, "Admin Ett", "admin1@example.se")
	admin2 := h.create(identity.RoleAdmin, "Admin Två", "admin2@example.se")
	staff1 := h.create(identity.RoleStaff, "Staff Ett", "staff1@example.se")
	staff2 := h.create(identity.RoleStaff, "Staff Två", "staff2@example.se")
	client := h.create(identity.RoleClient, "Klient", "")
	relative := h.create(identity.RoleRelative, "Anhörig", "anhorig@example.se")
	tech := h.create(identity.RoleTechnician, "Tekniker", "tech@example.se")

	ids := func(users []identity.User, err error) []uint64 {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		var out []uint64
		for _, u := range users {
			if u.Profile.Name == "" {
				t.Errorf("user %d listed without its profile", u.ID)
			}
			out = append(out, u.ID)
		}
		slices.Sort(out)
		return out
	}
	sorted := func(v ...uint64) []uint64 { slices.Sort(v); return v }
	tests := []struct {
		roles []identity.Role
		want  []uint64
	}{
		{nil, sorted(admin1.ID, admin2.ID, staff1.ID, staff2.ID, client.ID, relative.ID, tech.ID)},
		{[]identity.Role{identity.RoleStaff}, sorted(staff1.ID, staff2.ID)},
		{[]identity.Role{identity.RoleAdmin, identity.RoleTechnician}, sorted(admin1.ID, admin2.ID, tech.ID)},
		{[]identity.Role{identity.RoleClient, identity.RoleRelative}, sorted(client.ID, relative.ID)},
		{[]identity.Role{identity.Role("nobody")}, nil},
	}
	for _, tt := range tests {
		if got := ids(h.ids.Users(tt.roles...)); !slices.Equal(got, tt.want) {
			t.Errorf("Users(%v) = %v, want %v", tt.roles, got, tt.want)
		}
	}

	if n, err := h.ids.CountAdmins(); err != nil || n != 2 {
		t.Errorf("CountAdmins = %d, %v; want 2 (pending admins count)", n, err)
	}
	if err := h.ids.SetStatus(admin1.ID, identity.StatusActive); err != nil {
		t.Fatal(err)
	}
	if n, _ := h.ids.CountAdmins(); n != 2 {
		t.Errorf("CountAdmins with one active, one pending = %d, want 2", n)
	}
	if err := h.ids.SetStatus(admin2.ID, identity.StatusDeactivated); err != nil {
		t.Fatal(err)
	}
	if n, _ := h.ids.CountAdmins(); n != 1 {
		t.Errorf("CountAdmins after deactivating one = %d, want 1", n)
	}
	// Deactivated users are still listed (the admin sees them).
	if got := ids(h.ids.Users(identity.RoleAdmin)); len(got) != 2 {
		t.Errorf("Users(admin) = %v, want both", got)
	}
}

func TestCreateUnitAndUnits(t *testing.T) {
	h := newHarness(t)
	a, err := h.ids.CreateUnit("  Mottagning A ", "")
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "Mottagning A" || a.Kind != "standard" || a.ID == 0 || !a.CreatedAt.Equal(t0) {
		t.Errorf("unit %+v", a)
	}
	b, err := h.ids.CreateUnit("Digitala vården", "digital-care")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, kind, field string }{
		{"", "standard", "name"},
		{"   ", "", "name"},
		{strings.Repeat("x", 101), "", "name"},
		{"Mottagning C", "hospital", "kind"},
	} {
		_, err := h.ids.CreateUnit(tt.name, tt.kind)
		if fe := fieldError(t, err); fe.Field != tt.field {
			t.Errorf("CreateUnit(%q, %q): field %q, want %q", tt.name, tt.kind, fe.Field, tt.field)
		}
	}
	units, err := h.ids.Units()
	if err != nil {
		t.Fatal(err)
	}
	if len(units) != 2 || units[0].ID != a.ID || units[1].ID != b.ID || units[1].Kind != "digital-care" {
		t.Errorf("Units() = %+v", units)
	}
}

func TestSetStatusLangTouch(t *testing.T) {
	h := newHarness(t)
	u := h.create(identity.RoleClient, "Bo Ek", "bo@example.se")
	if err := h.ids.SetStatus(999, identity.StatusActive); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("SetStatus of an unknown user: %v", err)
	}
	if err := h.ids.SetLang(999, "sv"); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("SetLang of an unknown user: %v", err)
	}
	if err := h.ids.SetLang(u.ID, "sv"); err != nil {
		t.Fatal(err)
	}
	if got := h.user(u.ID); got.Lang != "sv" {
		t.Errorf("Lang %q", got.Lang)
	}
	at := time.Date(2026, 3, 11, 15, 4, 5, 0, time.FixedZone("CET", 3600))
	if err := h.ids.Touch(u.ID, at); err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 3, 11, 0, 0, 0, 0, time.UTC)
	if got := h.user(u.ID); !got.LastActiveAt.Equal(day) {
		t.Errorf("LastActiveAt %v, want %v (the day only)", got.LastActiveAt, day)
	}
	if err := h.ids.Touch(u.ID, at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := h.user(u.ID); !got.LastActiveAt.Equal(day) {
		t.Errorf("LastActiveAt after a second touch the same day %v", got.LastActiveAt)
	}
	if err := h.ids.Touch(999, at); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("Touch of an unknown user: %v", err)
	}
}
