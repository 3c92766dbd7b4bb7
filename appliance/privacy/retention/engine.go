package retention

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"clinicbox/storage"
)

// RoomRules is what the rooms package does for the rules
// (*rooms.Store implements it).
type RoomRules interface {
	InactivateIdle(idleSince time.Time) ([]uint64, error)
	Expired(inactivatedBefore time.Time) ([]uint64, error)
	Purge(roomID uint64) ([]string, error)
	PruneActivity(before time.Time) (int, error)
}

// RoomPreview counts without changing anything, for dry runs. If
// Options.Rooms does not implement it, the engine reads the rooms
// buckets itself (roomPreview in preview.go).
type RoomPreview interface {
	Idle(idleSince time.Time) ([]uint64, error)
	CountActivity(before time.Time) (int, error)
}

// Client is what the account rules need to know of a client account.
type Client struct {
	ID           uint64
	Deactivated  bool
	Units        []uint64
	CreatedAt    time.Time
	LastActiveAt time.Time // a day; zero if never active
}

// AccountRules is what identity does for the rules (Accounts adapts
// *identity.Store).
type AccountRules interface {
	// Clients lists the client accounts not yet erased.
	Clients() ([]Client, error)
	// UnitKinds maps unit ids to their kind ("standard", "digital-care").
	UnitKinds() (map[uint64]string, error)
	// Erase erases one client account.
	Erase(id uint64) error
}

// BookingLinks says whether a user is tied to a booking (the booking
// package, later). Without it no client is.
type BookingLinks interface {
	HasBooking(userID uint64) (bool, error)
}

// SessionRules is identity's expired-session purge (housekeeping).
type SessionRules interface {
	PurgeExpiredSessions() (int, error)
}

// Cutoff is what a runner deletes before: Global for the whole box, and
// Unit for a unit (per-unit policies).
type Cutoff struct {
	Global time.Time
	Unit   func(unitID uint64) time.Time
}

// Runner applies one policy to data a later package keeps (ratings,
// error log, bookings...): it deletes (or, on a dry run, counts) what is
// older than the cutoff and returns how many.
type Runner func(ctx context.Context, cutoff Cutoff, dryRun bool) (int, error)

// Options configure an Engine.
type Options struct {
	DB       *storage.DB
	Rooms    RoomRules    // nil: the room rules are skipped
	Accounts AccountRules // nil: the account rules are skipped
	Bookings BookingLinks // nil: no client is tied to a booking
	Sessions SessionRules // nil: sessions are left to identity
	// Runners plug in the policies whose data lands later, by policy key.
	Runners map[string]Runner
	// DeleteFiles receives the attachment ids of purged rooms, for the
	// attachment store to delete the files (not on dry runs).
	DeleteFiles func(ids []string)
	Now         func() time.Time
	Log         *slog.Logger
	// FirstRun and Interval time RunDaily: default 5 minutes and 24 h.
	FirstRun, Interval time.Duration
	// KeepRuns bounds the run records kept (default 1000: ~3 years of
	// daily runs plus manual ones).
	KeepRuns int
}

// Engine runs the retention rules.
type Engine struct {
	o  Options
	mu sync.Mutex // one run at a time
}

var (
	bucketRetention = []byte("retention")
	bucketRuns      = []byte("runs")
	keySettings     = []byte("settings")
)

// BucketNames are the buckets the package uses, for the storage
// migration: "retention", with "runs" nested in it.
func BucketNames() []string { return []string{"retention", "retention/runs"} }

// New returns an Engine, creating its bucket if missing.
func New(o Options) (*Engine, error) {
	if o.DB == nil {
		return nil, errors.New("retention: a DB is required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.FirstRun <= 0 {
		o.FirstRun = 5 * time.Minute
	}
	if o.Interval <= 0 {
		o.Interval = 24 * time.Hour
	}
	if o.KeepRuns <= 0 {
		o.KeepRuns = 1000
	}
	for key := range o.Runners {
		if _, ok := PolicyFor(key); !ok {
			return nil, fmt.Errorf("retention: a runner for %q, which is no policy", key)
		}
	}
	err := o.DB.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketRetention)
		if err != nil {
			return err
		}
		_, err = b.CreateBucketIfNotExists(bucketRuns)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("retention: create bucket: %w", err)
	}
	return &Engine{o: o}, nil
}

// Settings returns the configured settings (the defaults until an
// administrator saves some).
func (e *Engine) Settings() (Settings, error) {
	var s Settings
	var found bool
	err := e.o.DB.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketRetention).Get(keySettings)
		if v == nil {
			return nil
		}
		found = true
		return json.Unmarshal(v, &s)
	})
	if err != nil {
		return Settings{}, fmt.Errorf("retention: settings: %w", err)
	}
	if !found {
		return Defaults(), nil
	}
	return s.normalize(), nil
}

// SetSettings validates and stores settings; out of bounds it returns
// FieldErrors and stores nothing.
func (e *Engine) SetSettings(s Settings) error {
	s = s.normalize()
	if err := s.Validate(); err != nil {
		return err
	}
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return e.o.DB.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketRetention).Put(keySettings, data)
	})
}

// Report is what a run did (or, dry, would do): counts per rule, never
// ids or names.
type Report struct {
	At     time.Time      `json:"at"`
	DryRun bool           `json:"dry_run"`
	Counts map[string]int `json:"counts"`
	// Skipped are policies not applied: no data source (no runner) yet,
	// or, on a dry run, no way to count.
	Skipped []string `json:"skipped,omitempty"`
	// Failed are the rules that failed (details in the log, which names
	// no person either).
	Failed []string `json:"failed,omitempty"`
}

// RunRecord is a stored Report.
type RunRecord = Report

// Run applies every rule once (dryRun: counts only, nothing changes) and
// records the run. A failing rule does not stop the others; the error
// joins them.
func (e *Engine) Run(ctx context.Context, dryRun bool) (Report, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.o.Now()
	rep := Report{At: now.UTC(), DryRun: dryRun, Counts: map[string]int{}}
	set, err := e.Settings()
	if err != nil {
		return rep, err
	}
	var errs []error
	fail := func(rule string, err error) {
		rep.Failed = append(rep.Failed, rule)
		errs = append(errs, fmt.Errorf("retention: %s: %w", rule, err))
		e.o.Log.Error("retention rule failed", "rule", rule, "err", err)
	}
	step := func(rule string, fn func() error) {
		if ctx.Err() != nil {
			return
		}
		if err := fn(); err != nil {
			fail(rule, err)
		}
	}

	if e.o.Rooms != nil {
		step(RoomsIdle, func() error { return e.roomsIdle(set, now, dryRun, &rep) })
		step(RoomsInactive, func() error { return e.roomsInactive(ctx, set, now, dryRun, &rep) })
	} else {
		rep.Skipped = append(rep.Skipped, RoomsIdle, RoomsInactive)
	}
	if e.o.Accounts != nil {
		step(AccountsInactive, func() error { return e.accounts(ctx, set, now, dryRun, &rep) })
	} else {
		rep.Skipped = append(rep.Skipped, AccountsInactive, DeactivatedClients)
	}
	if e.o.Sessions != nil && !dryRun {
		step(CountSessions, func() error {
			n, err := e.o.Sessions.PurgeExpiredSessions()
			rep.Counts[CountSessions] = n
			return err
		})
	} else if e.o.Sessions != nil {
		rep.Skipped = append(rep.Skipped, CountSessions)
	}
	for _, pol := range Policies() {
		switch pol.Key {
		case AccountsInactive, DeactivatedClients, RoomsIdle, RoomsInactive:
			continue
		}
		run := e.o.Runners[pol.Key]
		if run == nil {
			rep.Skipped = append(rep.Skipped, pol.Key)
			continue
		}
		key := pol.Key
		step(key, func() error {
			kinds := map[uint64]string{}
			if pol.PerUnit && e.o.Accounts != nil {
				var err error
				if kinds, err = e.o.Accounts.UnitKinds(); err != nil {
					return err
				}
			}
			c := Cutoff{Global: set.Global(key).Cutoff(now), Unit: func(unit uint64) time.Time {
				return set.ForUnit(key, unit, kinds[unit]).Cutoff(now)
			}}
			n, err := run(ctx, c, dryRun)
			rep.Counts[key] = n
			return err
		})
	}
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	}
	slices.Sort(rep.Skipped)
	if err := e.record(rep); err != nil {
		errs = append(errs, err)
	}
	e.o.Log.Info("retention run", "dry_run", dryRun, "counts", rep.Counts, "failed", rep.Failed)
	return rep, errors.Join(errs...)
}

func (e *Engine) roomsIdle(set Settings, now time.Time, dryRun bool, rep *Report) error {
	cutoff := set.Global(RoomsIdle).Cutoff(now)
	var ids []uint64
	var err error
	if dryRun {
		ids, err = e.preview().Idle(cutoff)
	} else {
		ids, err = e.o.Rooms.InactivateIdle(cutoff)
	}
	rep.Counts[RoomsIdle] = len(ids)
	return err
}

func (e *Engine) roomsInactive(ctx context.Context, set Settings, now time.Time, dryRun bool, rep *Report) error {
	cutoff := set.Global(RoomsInactive).Cutoff(now)
	ids, err := e.o.Rooms.Expired(cutoff)
	if err != nil {
		return err
	}
	var errs []error
	if dryRun {
		rep.Counts[RoomsInactive] = len(ids)
	} else {
		for _, id := range ids {
			if ctx.Err() != nil {
				break
			}
			files, err := e.o.Rooms.Purge(id)
			if len(files) > 0 && e.o.DeleteFiles != nil {
				e.o.DeleteFiles(files)
			}
			rep.Counts[CountRoomFiles] += len(files)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			rep.Counts[RoomsInactive]++
		}
	}
	// The time log: an inactive room has none newer than its
	// inactivation, so pruning every entry older than the period deletes
	// a room's whole log the period after inactivation (the log of
	// deleted rooms and old days of active rooms go with the same rule).
	var n int
	if dryRun {
		n, err = e.preview().CountActivity(cutoff)
	} else {
		n, err = e.o.Rooms.PruneActivity(cutoff)
	}
	rep.Counts[CountRoomTimeLog] = n
	return errors.Join(append(errs, err)...)
}

func (e *Engine) preview() RoomPreview {
	if p, ok := e.o.Rooms.(RoomPreview); ok {
		return p
	}
	return roomPreview{db: e.o.DB}
}

// accounts applies AccountsInactive and DeactivatedClients. A client in
// several units is kept as long as the longest period of its units asks
// (one unit's shorter rule does not take the account from another).
func (e *Engine) accounts(ctx context.Context, set Settings, now time.Time, dryRun bool, rep *Report) error {
	clients, err := e.o.Accounts.Clients()
	if err != nil {
		return err
	}
	kinds, err := e.o.Accounts.UnitKinds()
	if err != nil {
		return err
	}
	rep.Counts[AccountsInactive], rep.Counts[DeactivatedClients] = 0, 0
	var errs []error
	for _, c := range clients {
		if ctx.Err() != nil {
			break
		}
		rule := ""
		if c.Deactivated {
			booked := false
			if e.o.Bookings != nil {
				if booked, err = e.o.Bookings.HasBooking(c.ID); err != nil {
					errs = append(errs, err)
					continue
				}
			}
			if !booked {
				rule = DeactivatedClients
			}
		}
		if rule == "" && inactive(set, kinds, c, now) {
			rule = AccountsInactive
		}
		if rule == "" {
			continue
		}
		if !dryRun {
			if err := e.o.Accounts.Erase(c.ID); err != nil {
				errs = append(errs, fmt.Errorf("erase a client: %w", err))
				continue
			}
		}
		rep.Counts[rule]++
	}
	return errors.Join(errs...)
}

func inactive(set Settings, kinds map[uint64]string, c Client, now time.Time) bool {
	last := c.LastActiveAt
	if last.IsZero() {
		last = c.CreatedAt
	}
	cutoff := set.Global(AccountsInactive).Cutoff(now)
	for i, u := range c.Units {
		cu := set.ForUnit(AccountsInactive, u, kinds[u]).Cutoff(now)
		if i == 0 || cu.Before(cutoff) {
			cutoff = cu
		}
	}
	return !last.After(cutoff)
}

func (e *Engine) record(rep Report) error {
	data, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	return e.o.DB.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketRetention).Bucket(bucketRuns)
		id, err := b.NextSequence()
		if err != nil {
			return err
		}
		if err := b.Put(storage.TimeKey(rep.At, id), data); err != nil {
			return err
		}
		for n := b.Stats().KeyN - e.o.KeepRuns; n > 0; n-- {
			k, _ := b.Cursor().First()
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// Runs returns the recorded runs, newest first, at most limit (0: all).
func (e *Engine) Runs(limit int) ([]RunRecord, error) {
	var out []RunRecord
	err := e.o.DB.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketRetention).Bucket(bucketRuns).Cursor()
		for k, v := c.Last(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Prev() {
			var r RunRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("retention: runs: %w", err)
	}
	return out, nil
}

// RunDaily runs the rules FirstRun after it starts, then every Interval,
// until ctx ends. Failures are logged; the next run tries again.
func (e *Engine) RunDaily(ctx context.Context) {
	t := time.NewTimer(e.o.FirstRun)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := e.Run(ctx, false); err != nil && ctx.Err() == nil {
			e.o.Log.Error("retention run failed", "err", err)
		}
		t.Reset(e.o.Interval)
	}
}
