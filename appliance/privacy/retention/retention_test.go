package retention_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"clinicbox/appliance/identity"
	"clinicbox/appliance/privacy/retention"
	"clinicbox/appliance/rooms"
)

func TestRoomIdleTwoYearsIsInactivated(t *testing.T) {
	b := newBox(t)
	r := b.room()
	b.clock.set(1, 11, 0)
	if rep := b.run(false); rep.Counts[retention.RoomsIdle] != 0 || b.roomStatus(r.ID) != rooms.StatusActive {
		t.Fatalf("at 1 year 11 months: %v, status %s; want the room active", rep.Counts, b.roomStatus(r.ID))
	}
	b.clock.set(2, 0, 1)
	if rep := b.run(false); rep.Counts[retention.RoomsIdle] != 1 {
		t.Fatalf("at 2 years: counts %v, want rooms-idle 1", rep.Counts)
	}
	if st := b.roomStatus(r.ID); st != rooms.StatusInactive {
		t.Fatalf("status %s, want inactive", st)
	}
}

func TestInactiveRoomPurgedFiveYearsAfterInactivation(t *testing.T) {
	b := newBox(t)
	r := b.room()
	if _, err := b.rooms.PostAttachment(b.staff, r.ID, rooms.AttachmentRef{ID: "file-1", Name: "x.pdf", Size: 3, Type: "application/pdf"}); err != nil {
		t.Fatal(err)
	}
	keep := b.room() // active all along, with a fresh message every year
	if err := b.rooms.Inactivate(b.staff, r.ID); err != nil {
		t.Fatal(err)
	}
	for y := 1; y <= 4; y++ {
		b.clock.set(y, 0, 0)
		if _, err := b.rooms.Post(b.staff, keep.ID, "still here"); err != nil {
			t.Fatal(err)
		}
	}
	b.clock.set(4, 11, 0)
	if rep := b.run(false); rep.Counts[retention.RoomsInactive] != 0 || b.roomStatus(r.ID) != rooms.StatusInactive {
		t.Fatalf("at 4 years 11 months: %v; want the inactive room kept", rep.Counts)
	}
	if act, _ := b.rooms.Activity(r.ID); len(act) == 0 {
		t.Fatal("the time log went before 5 years")
	}
	b.clock.set(5, 0, 1)
	rep := b.run(false)
	if rep.Counts[retention.RoomsInactive] != 1 || rep.Counts[retention.CountRoomFiles] != 1 || rep.Counts[retention.CountRoomTimeLog] == 0 {
		t.Fatalf("at 5 years: counts %v; want 1 room, 1 file and its time log", rep.Counts)
	}
	if _, _, err := b.rooms.Get(b.staff, r.ID); !errors.Is(err, rooms.ErrNotFound) {
		t.Fatalf("Get purged room: %v, want ErrNotFound", err)
	}
	if act, err := b.rooms.Activity(r.ID); err != nil || len(act) != 0 {
		t.Fatalf("time log after 5 years: %v, %v; want none", act, err)
	}
	if len(b.files) != 1 || b.files[0] != "file-1" {
		t.Fatalf("DeleteFiles got %v, want [file-1]", b.files)
	}
	if b.keys.Has(rooms.Subject(r.ID)) {
		t.Fatal("the purged room's key is still there")
	}
	if b.roomStatus(keep.ID) != rooms.StatusActive {
		t.Fatal("the active room was touched")
	}
	if act, _ := b.rooms.Activity(keep.ID); len(act) == 0 {
		t.Fatal("the active room's recent time log went")
	}
}

func TestClientAccountsInactive(t *testing.T) {
	b := newBox(t)
	std := b.client("Standard Client", b.standard.ID)
	dig := b.client("Digital Client", b.digital.ID)
	both := b.client("Both Units", b.standard.ID) // also in the digital unit: the longer period wins
	if err := b.ids.SetUnits(both.ID, []uint64{b.standard.ID, b.digital.ID}); err != nil {
		t.Fatal(err)
	}
	staff, _ := b.ids.User(b.staff.ID)
	b.clock.set(1, 0, 0)
	later := b.client("Later Client", b.standard.ID)

	b.clock.set(1, 11, 0)
	if rep := b.run(false); rep.Counts[retention.AccountsInactive] != 0 {
		t.Fatalf("at 1 year 11 months: %v, want nobody erased", rep.Counts)
	}
	b.clock.set(2, 0, 1)
	if rep := b.run(false); rep.Counts[retention.AccountsInactive] != 1 {
		t.Fatalf("at 2 years: %v, want the digital-care client erased", rep.Counts)
	}
	if b.exists(dig.ID) || !b.exists(std.ID) || !b.exists(both.ID) {
		t.Fatal("at 2 years: want only the digital-care client gone")
	}
	if b.keys.Has(identity.Subject(dig.ID)) {
		t.Fatal("the erased client's key is still there")
	}
	b.clock.set(4, 11, 0)
	if rep := b.run(false); rep.Counts[retention.AccountsInactive] != 0 {
		t.Fatalf("at 4 years 11 months: %v, want nobody erased", rep.Counts)
	}
	b.clock.set(5, 0, 1)
	if rep := b.run(false); rep.Counts[retention.AccountsInactive] != 2 {
		t.Fatalf("at 5 years: %v, want the two standard clients erased", rep.Counts)
	}
	if b.exists(std.ID) || b.exists(both.ID) {
		t.Fatal("at 5 years: the standard clients are still there")
	}
	if !b.exists(later.ID) {
		t.Fatal("a client inactive 4 years in a standard unit was erased")
	}
	if _, err := b.ids.User(staff.ID); err != nil {
		t.Fatalf("staff are not client accounts: %v", err)
	}
}

func TestPerUnitSetting(t *testing.T) {
	b := newBox(t)
	c := b.client("Client", b.standard.ID)
	set, _ := b.engine.Settings()
	set.Units = map[uint64]map[string]retention.Period{b.standard.ID: {retention.AccountsInactive: retention.Years(3)}}
	if err := b.engine.SetSettings(set); err != nil {
		t.Fatal(err)
	}
	b.clock.set(3, 0, 1)
	if rep := b.run(false); rep.Counts[retention.AccountsInactive] != 1 || b.exists(c.ID) {
		t.Fatalf("a unit set to 3 years: %v", rep.Counts)
	}
}

func TestDeactivatedClientErasedWithinADay(t *testing.T) {
	b := newBox(t)
	gone := b.client("Deactivated", b.standard.ID)
	booked := b.client("Deactivated But Booked", b.standard.ID)
	active := b.client("Active", b.standard.ID)
	for _, u := range []identity.User{gone, booked} {
		if err := b.ids.SetStatus(u.ID, identity.StatusDeactivated); err != nil {
			t.Fatal(err)
		}
	}
	b.bookings[booked.ID] = true
	b.clock.add(23 * time.Hour)
	rep := b.run(false)
	if rep.Counts[retention.DeactivatedClients] != 1 || b.exists(gone.ID) {
		t.Fatalf("counts %v; want the deactivated client erased", rep.Counts)
	}
	if !b.exists(booked.ID) || !b.exists(active.ID) {
		t.Fatal("a booked deactivated client or an active one was erased")
	}
	delete(b.bookings, booked.ID)
	if rep := b.run(false); rep.Counts[retention.DeactivatedClients] != 1 || b.exists(booked.ID) {
		t.Fatalf("once the booking is gone: %v", rep.Counts)
	}
}

func TestDryRunCountsAndChangesNothing(t *testing.T) {
	b := newBox(t)
	idle := b.room()
	old := b.room()
	if err := b.rooms.Inactivate(b.staff, old.ID); err != nil {
		t.Fatal(err)
	}
	std := b.client("Standard", b.standard.ID)
	dig := b.client("Digital", b.digital.ID)
	deact := b.client("Deactivated", b.standard.ID)
	b.ids.SetStatus(deact.ID, identity.StatusDeactivated)
	b.clock.set(5, 0, 1)

	dry := b.run(true)
	if !dry.DryRun || dry.Counts[retention.RoomsIdle] != 1 || dry.Counts[retention.RoomsInactive] != 1 ||
		dry.Counts[retention.AccountsInactive] != 2 || dry.Counts[retention.DeactivatedClients] != 1 {
		t.Fatalf("dry run counts %v", dry.Counts)
	}
	if b.roomStatus(idle.ID) != rooms.StatusActive || b.roomStatus(old.ID) != rooms.StatusInactive ||
		!b.exists(std.ID) || !b.exists(dig.ID) || !b.exists(deact.ID) || len(b.files) != 0 {
		t.Fatal("the dry run changed something")
	}
	if act, _ := b.rooms.Activity(old.ID); len(act) == 0 {
		t.Fatal("the dry run pruned the time log")
	}
	real := b.run(false)
	for _, k := range []string{retention.RoomsIdle, retention.RoomsInactive, retention.CountRoomTimeLog, retention.AccountsInactive, retention.DeactivatedClients} {
		if dry.Counts[k] != real.Counts[k] {
			t.Errorf("%s: dry run %d, run %d", k, dry.Counts[k], real.Counts[k])
		}
	}
	if b.roomStatus(idle.ID) != rooms.StatusInactive || b.exists(std.ID) || b.exists(dig.ID) || b.exists(deact.ID) {
		t.Fatal("the real run did not do what the dry run said")
	}
}

func TestSettingsBounds(t *testing.T) {
	b := newBox(t)
	set := retention.Defaults()
	if err := set.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	set.Periods[retention.AccessLog] = retention.Years(4)
	set.Periods[retention.RequestLogs] = retention.Period{}
	set.Units = map[uint64]map[string]retention.Period{7: {retention.Backups: retention.Days(3)}}
	err := b.engine.SetSettings(set)
	var fe retention.FieldErrors
	if !errors.As(err, &fe) || !errors.Is(err, retention.ErrInvalid) {
		t.Fatalf("SetSettings below the legal minimum: %v, want FieldErrors", err)
	}
	got := map[string]string{}
	for _, e := range fe {
		got[e.Field] = e.Msg
	}
	if !strings.HasPrefix(got[retention.AccessLog], "at least 5 years") {
		t.Errorf("access-log: %q", got[retention.AccessLog])
	}
	if got[retention.RequestLogs] == "" || got["units.7.backups"] == "" || len(got) != 3 {
		t.Errorf("field errors %v", got)
	}
	if !strings.Contains(err.Error(), "access-log: at least 5 years") {
		t.Errorf("message %q", err)
	}
	stored, _ := b.engine.Settings()
	if stored.Global(retention.AccessLog) != retention.Years(5) {
		t.Fatal("invalid settings were stored")
	}
	set = retention.Defaults()
	set.Periods[retention.AccessLog] = retention.Years(10)
	set.Periods[retention.Bookings] = retention.Months(13)
	if err := b.engine.SetSettings(set); err != nil {
		t.Fatal(err)
	}
	if stored, _ := b.engine.Settings(); stored.Global(retention.AccessLog) != retention.Years(10) {
		t.Fatal("valid settings not stored")
	}
	if d := retention.Defaults(); d.ForUnit(retention.AccountsInactive, 1, "digital-care") != retention.Years(2) ||
		d.ForUnit(retention.AccountsInactive, 1, "standard") != retention.Years(5) {
		t.Fatal("account defaults per unit kind")
	}
}

func TestRunsRecordedCountsOnly(t *testing.T) {
	b := newBox(t)
	b.room()
	c := b.client("Unique Marker Name", b.digital.ID)
	b.clock.set(2, 0, 1)
	b.run(true)
	b.run(false)
	runs, err := b.engine.Runs(0)
	if err != nil || len(runs) != 2 {
		t.Fatalf("Runs: %v, %v", runs, err)
	}
	if runs[0].DryRun || !runs[1].DryRun || runs[0].Counts[retention.AccountsInactive] != 1 || runs[1].Counts[retention.RoomsIdle] != 1 {
		t.Fatalf("runs %+v", runs)
	}
	b.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("retention")).Bucket([]byte("runs")).ForEach(func(_, v []byte) error {
			var m map[string]json.RawMessage
			json.Unmarshal(v, &m)
			for k := range m {
				switch k {
				case "at", "dry_run", "counts", "skipped", "failed":
				default:
					t.Errorf("a run record holds %q", k)
				}
			}
			if strings.Contains(string(v), "Marker") || strings.Contains(string(v), `"id`) {
				t.Errorf("a run record names someone: %s", v)
			}
			return nil
		})
	})
	_ = c
}

func TestRunnersPlugIn(t *testing.T) {
	var got retention.Cutoff
	var dry []bool
	b := newBox(t, func(o *retention.Options) {
		o.Runners = map[string]retention.Runner{
			retention.CallRatings: func(_ context.Context, c retention.Cutoff, d bool) (int, error) {
				got, dry = c, append(dry, d)
				return 7, nil
			},
			retention.DigitalCareChat: func(_ context.Context, c retention.Cutoff, d bool) (int, error) {
				if c.Unit(2) != t0.AddDate(3, 0, 0).AddDate(-2, 0, 0) {
					t.Errorf("chat cutoff for unit 2: %v", c.Unit(2))
				}
				return 0, nil
			},
		}
	})
	b.clock.set(3, 0, 0)
	rep := b.run(true)
	if rep.Counts[retention.CallRatings] != 7 || !got.Global.Equal(t0) || len(dry) != 1 || !dry[0] {
		t.Fatalf("runner: counts %v, cutoff %v, dry %v", rep.Counts, got.Global, dry)
	}
	for _, k := range []string{retention.Bookings, retention.ErrorLog, retention.AccessLog, retention.Backups} {
		if !contains(rep.Skipped, k) {
			t.Errorf("%s not reported as skipped: %v", k, rep.Skipped)
		}
	}
	if _, err := retention.New(retention.Options{DB: b.db, Runners: map[string]retention.Runner{"nope": nil}}); err == nil {
		t.Fatal("a runner for no policy was accepted")
	}
}

func TestRunDaily(t *testing.T) {
	b := newBox(t, func(o *retention.Options) { o.FirstRun, o.Interval = 5*time.Millisecond, 5*time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.engine.RunDaily(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		runs, _ := b.engine.Runs(0)
		if len(runs) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("RunDaily did not run twice")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
}

func TestPeriod(t *testing.T) {
	if s := retention.Months(13).String(); s != "13 months" {
		t.Error(s)
	}
	if !retention.Months(13).Less(retention.Years(2)) || retention.Years(5).Less(retention.Years(5)) {
		t.Error("Less")
	}
	now := time.Date(2030, 3, 31, 0, 0, 0, 0, time.UTC)
	if c := retention.Months(13).Cutoff(now); !c.Equal(time.Date(2029, 3, 3, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("13 months before %v: %v", now, c) // AddDate normalises Feb 31
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
