package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.etcd.io/bbolt"
)

// DefaultTimeout is how long Open waits for the file lock and Close for
// open transactions when Options.Timeout is zero.
const DefaultTimeout = 3 * time.Second

// Options configure Open. The zero value is ready to use.
type Options struct {
	// Timeout bounds the wait for the file lock in Open (and Check), and
	// the wait for open transactions in Close. Default DefaultTimeout.
	Timeout time.Duration
	// Migrations to apply; default Migrations(). Tests pass a prefix to
	// build a file at an older schema.
	Migrations []Migration
	// Logger for lifecycle events; default discards.
	Logger *slog.Logger
}

// DB is the appliance's open database.
type DB struct {
	bolt      *bbolt.DB
	path      string
	timeout   time.Duration
	log       *slog.Logger
	schema    int
	boxID     string
	createdAt time.Time
	metrics   *collector

	closeOnce sync.Once
	closeErr  error
	group     groupCommit
}

// Open opens (or creates) the database at path, creating its directory if
// needed, and brings its schema up to date. It fails with ErrLocked when
// another process has the file, ErrCorrupt when the file is damaged (it
// is then never written to) and ErrSchemaTooNew on a downgrade.
func Open(path string, opts Options) (*DB, error) {
	if path == "" {
		return nil, errors.New("storage: no database path")
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if len(opts.Migrations) == 0 {
		opts.Migrations = Migrations()
	}
	if err := validateMigrations(opts.Migrations); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	latest := opts.Migrations[len(opts.Migrations)-1].Version

	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("storage: cannot create data directory %s: %w", dir, err)
	}
	fi, err := os.Stat(path)
	switch {
	case err == nil && !fi.Mode().IsRegular():
		return nil, fmt.Errorf("storage: database %s is not a regular file", path)
	case err == nil && fi.Size() > 0:
		if err := preflight(path, fi.Size(), latest, opts.Timeout); err != nil {
			return nil, err
		}
	case err == nil:
		// A crash between creating the file and bbolt's first write
		// leaves it empty; there is nothing in it to lose.
		opts.Logger.Warn("storage: database file is empty, initialising it", "path", path)
	case errors.Is(err, fs.ErrNotExist):
		opts.Logger.Info("storage: creating database", "path", path)
	default:
		return nil, classifyOpenErr(path, err)
	}

	bdb, err := openBolt(path, false, false, opts.Timeout)
	if err != nil {
		return nil, err
	}
	db := &DB{bolt: bdb, path: path, timeout: opts.Timeout, log: opts.Logger}
	db.metrics = newCollector(db)
	if err := db.init(opts.Migrations); err != nil {
		_ = bdb.Close()
		return nil, err
	}
	db.removeStaleTemps()
	db.log.Info("storage: opened database", "path", path, "schema", db.schema, "box_id", db.boxID)
	return db, nil
}

// preflight looks at an existing file read-only before Open takes it
// read-write, so that a damaged or too-new file is never opened for
// writing (bbolt may write while opening, and the migrations would).
func preflight(path string, size int64, latest int, timeout time.Duration) error {
	bdb, err := openBolt(path, true, false, timeout)
	if err != nil {
		return err
	}
	defer bdb.Close()
	err = guard(func() error {
		return bdb.View(func(tx *bbolt.Tx) error {
			if tx.Size() > size {
				return corruptError(path, truncatedError(size, tx.Size()))
			}
			_, err := checkSchema(tx, path, latest)
			return err
		})
	})
	if _, ok := err.(*panicError); ok {
		return corruptError(path, err)
	}
	return err
}

func (db *DB) init(ms []Migration) error {
	v, err := db.migrate(ms)
	if err != nil {
		return err
	}
	db.schema = v
	err = guard(func() error {
		return db.bolt.View(func(tx *bbolt.Tx) error {
			meta := tx.Bucket([]byte(bucketMeta))
			id := meta.Get([]byte(keyBoxID))
			if len(id) != 32 {
				return corruptError(db.path, fmt.Errorf("meta bucket has no valid box_id"))
			}
			db.boxID = string(id)
			t, err := time.Parse(time.RFC3339Nano, string(meta.Get([]byte(keyCreatedAt))))
			if err != nil {
				return corruptError(db.path, fmt.Errorf("meta bucket has no valid created_at"))
			}
			db.createdAt = t
			return nil
		})
	})
	if _, ok := err.(*panicError); ok {
		return corruptError(db.path, err)
	}
	return err
}

// checkTempPattern names DB.Check's snapshots next to the database.
func checkTempPattern(dbPath string) string { return "." + filepath.Base(dbPath) + ".check-*" }

// removeStaleTemps deletes snapshots left by a DB.Check that was cut
// short (a crash, a power cut). Only a process holding the database makes
// them, and this one now holds it, so none is in use.
func (db *DB) removeStaleTemps() {
	stale, _ := filepath.Glob(filepath.Join(filepath.Dir(db.path), checkTempPattern(db.path)))
	for _, p := range stale {
		if err := os.Remove(p); err == nil {
			db.log.Info("storage: removed a stale check snapshot", "path", p)
		}
	}
}

// View runs fn in a read transaction. Keep it short: no network I/O inside.
func (db *DB) View(fn func(*bbolt.Tx) error) error {
	defer db.metrics.observe(kindRead, time.Now())
	return db.bolt.View(fn)
}

// Update runs fn in its own write transaction, committed and fsynced
// before it returns. Errors from fn are returned unchanged.
func (db *DB) Update(fn func(*bbolt.Tx) error) error {
	defer db.metrics.observe(kindWrite, time.Now())
	return db.bolt.Update(fn)
}

// Batch runs fn in a write transaction shared with other concurrent Batch
// calls, so that many requests share one fsync (see groupCommit). fn may
// run more than once (alone, if another call in the group fails), so it
// must be idempotent apart from its effect on tx.
func (db *DB) Batch(fn func(*bbolt.Tx) error) error {
	defer db.metrics.observe(kindBatch, time.Now())
	return db.group.do(db.bolt, fn)
}

// Bolt returns the underlying bbolt database, for what this type does not
// wrap. Transactions made through it are not in the metrics.
func (db *DB) Bolt() *bbolt.DB { return db.bolt }

// Path returns the absolute path of the database file.
func (db *DB) Path() string { return db.path }

// SchemaVersion returns the schema version after migrations.
func (db *DB) SchemaVersion() int { return db.schema }

// BoxID returns this box's random identity (32 hex characters), made once
// when the database was created.
func (db *DB) BoxID() string { return db.boxID }

// CreatedAt returns when the database was created.
func (db *DB) CreatedAt() time.Time { return db.createdAt }

// Close closes the database, waiting at most the Options.Timeout for open
// transactions. If they do not end in time, Close returns an error and
// the file is closed (and unlocked) in the background once they do.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		done := make(chan error, 1)
		go func() { done <- db.bolt.Close() }()
		timer := time.NewTimer(db.timeout)
		defer timer.Stop()
		select {
		case err := <-done:
			if err != nil {
				db.closeErr = fmt.Errorf("storage: close %s: %w", db.path, err)
			}
		case <-timer.C:
			db.closeErr = fmt.Errorf("storage: close %s: transactions still open after %s; it will close when they end", db.path, db.timeout)
		}
		if db.closeErr != nil {
			db.log.Warn("storage: close", "path", db.path, "error", db.closeErr)
		} else {
			db.log.Info("storage: closed database", "path", db.path)
		}
	})
	return db.closeErr
}
