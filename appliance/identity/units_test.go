package identity_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"clinicbox/appliance/identity"
)

func TestSetUnits(t *testing.T) {
	h := newHarness(t)
	a, err := h.ids.CreateUnit("Mottagning A", identity.UnitStandard)
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.ids.CreateUnit("Digitala vården", identity.UnitDigitalCare)
	if err != nil {
		t.Fatal(err)
	}
	anna := h.create(identity.RoleStaff, "Anna Svensson", "anna@example.se")

	// Several units, given in any order and with repeats, are stored
	// sorted and once each.
	if err := h.ids.SetUnits(anna.ID, []uint64{b.ID, a.ID, b.ID}); err != nil {
		t.Fatal(err)
	}
	if got := h.user(anna.ID).Units; !slices.Equal(got, []uint64{a.ID, b.ID}) {
		t.Errorf("units %v, want [%d %d]", got, a.ID, b.ID)
	}

	// An unknown unit is a field error and changes nothing.
	for _, units := range [][]uint64{{b.ID + 1}, {a.ID, 999}, {0}} {
		err := h.ids.SetUnits(anna.ID, units)
		if fe := fieldError(t, err); fe.Field != "units" {
			t.Errorf("SetUnits(%v): field %q, want units", units, fe.Field)
		}
		if got := h.user(anna.ID).Units; !slices.Equal(got, []uint64{a.ID, b.ID}) {
			t.Errorf("after refused SetUnits(%v): units %v", units, got)
		}
	}

	// One unit, then none.
	if err := h.ids.SetUnits(anna.ID, []uint64{b.ID}); err != nil {
		t.Fatal(err)
	}
	if got := h.user(anna.ID).Units; !slices.Equal(got, []uint64{b.ID}) {
		t.Errorf("units %v, want [%d]", got, b.ID)
	}
	if err := h.ids.SetUnits(anna.ID, nil); err != nil {
		t.Fatal(err)
	}
	if got := h.user(anna.ID).Units; len(got) != 0 {
		t.Errorf("units %v, want none", got)
	}

	// The profile and the rest of the record are untouched.
	if got := h.user(anna.ID); got.Profile != anna.Profile || got.Role != anna.Role || got.Status != anna.Status {
		t.Errorf("SetUnits changed more than the units: %+v", got)
	}

	if err := h.ids.SetUnits(anna.ID+100, []uint64{a.ID}); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("SetUnits of an unknown user: %v, want ErrNotFound", err)
	}
}

func TestUnitAndRenameUnit(t *testing.T) {
	h := newHarness(t)
	a, err := h.ids.CreateUnit("Mottagning A", identity.UnitDigitalCare)
	if err != nil {
		t.Fatal(err)
	}
	got, err := h.ids.Unit(a.ID)
	if err != nil || got != a {
		t.Fatalf("Unit(%d) = %+v, %v; want %+v", a.ID, got, err, a)
	}
	if _, err := h.ids.Unit(a.ID + 1); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("Unit of an unknown id: %v, want ErrNotFound", err)
	}

	renamed, err := h.ids.RenameUnit(a.ID, "  Mottagning Norr ")
	if err != nil {
		t.Fatal(err)
	}
	if renamed.Name != "Mottagning Norr" || renamed.Kind != identity.UnitDigitalCare || !renamed.CreatedAt.Equal(a.CreatedAt) {
		t.Errorf("renamed %+v", renamed)
	}
	if got, _ := h.ids.Unit(a.ID); got != renamed {
		t.Errorf("stored %+v, want %+v", got, renamed)
	}
	for _, name := range []string{"", "  ", strings.Repeat("å", 101)} {
		if fe := fieldError(t, func() error { _, err := h.ids.RenameUnit(a.ID, name); return err }()); fe.Field != "name" {
			t.Errorf("RenameUnit(%q): field %q", name, fe.Field)
		}
	}
	if _, err := h.ids.RenameUnit(a.ID+1, "X"); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("RenameUnit of an unknown id: %v, want ErrNotFound", err)
	}
	if got, _ := h.ids.Unit(a.ID); got.Name != "Mottagning Norr" {
		t.Errorf("a refused rename changed the name to %q", got.Name)
	}
}
