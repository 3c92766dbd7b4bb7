package storage

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// Migration moves the schema from Version-1 to Version. Up runs in one
// write transaction together with the update of the stored schema
// version, so a migration is applied entirely or not at all.
type Migration struct {
	Version int
	Name    string
	Up      func(tx *bbolt.Tx) error
}

// Migrations returns the schema's migrations in order. To change the
// schema, append one line here, write the function below, draw its
// buckets in doc.go and add TestMigrationN.
func Migrations() []Migration {
	return []Migration{
		{1, "foundation", migrateFoundation},
		{2, "identity", migrateIdentity},
		{3, "audit", migrateAudit},
		{4, "eid", migrateEID},
		{5, "passkeys", migratePasskeys},
		{6, "rooms", migrateRooms},
		{7, "retention", migrateRetention},
		{8, "error-log", migrateErrorLog},
	}
}

// Names in the meta bucket (see doc.go).
const (
	bucketMeta       = "meta"
	keySchemaVersion = "schema_version"
	keyBoxID         = "box_id"
	keyCreatedAt     = "created_at"
)

// migrateFoundation creates the meta bucket with the box's identity.
// CreateBucket (not ...IfNotExists) makes sure the box id is made once.
func migrateFoundation(tx *bbolt.Tx) error {
	meta, err := tx.CreateBucket([]byte(bucketMeta))
	if err != nil {
		return err
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return err
	}
	if err := meta.Put([]byte(keyBoxID), []byte(hex.EncodeToString(id[:]))); err != nil {
		return err
	}
	return meta.Put([]byte(keyCreatedAt), []byte(time.Now().UTC().Format(time.RFC3339Nano)))
}

// identityBuckets hold units, users, their set-up links and sessions
// (appliance/identity draws their keys and values).
var identityBuckets = []string{"units", "users", "users-by-email", "tokens", "sessions", "sessions-by-user"}

func migrateIdentity(tx *bbolt.Tx) error {
	return createBuckets(tx, identityBuckets)
}

// auditBuckets hold the hash-chained patient-data access log
// (appliance/privacy/auditlog draws their keys and values).
var auditBuckets = []string{"audit", "audit-by-subject", "audit-by-actor", "audit-by-unit", "audit-meta"}

func migrateAudit(tx *bbolt.Tx) error {
	return createBuckets(tx, auditBuckets)
}

// migrateEID adds the personnummer index for eID login
// (appliance/identity): HMAC(personnummer) → user id.
func migrateEID(tx *bbolt.Tx) error {
	return createBuckets(tx, []string{"users-by-pnr"})
}

// migratePasskeys adds WebAuthn credentials (appliance/identity/passkey):
// user id || credential id → credential, and credential id → user id.
func migratePasskeys(tx *bbolt.Tx) error {
	return createBuckets(tx, []string{"passkeys", "passkeys-by-credential"})
}

// roomBuckets hold rooms, their members, their timelines (messages,
// attachments, meeting-log and system events) and the content-free
// activity log kept after a room is deleted (appliance/rooms draws them).
var roomBuckets = []string{"rooms", "room-members", "user-rooms", "room-events", "room-activity", "attachments", "events-seq"}

func migrateRooms(tx *bbolt.Tx) error {
	return createBuckets(tx, roomBuckets)
}

// migrateRetention adds the retention settings and the record of runs
// (appliance/privacy/retention): retention/settings → JSON, and the
// nested bucket retention/runs: time key → counts of one run.
func migrateRetention(tx *bbolt.Tx) error {
	b, err := tx.CreateBucket([]byte("retention"))
	if err != nil {
		return err
	}
	_, err = b.CreateBucket([]byte("runs"))
	return err
}

// migrateErrorLog adds the technical error log (appliance/privacy/errorlog):
// time key → code and internal user id.
func migrateErrorLog(tx *bbolt.Tx) error {
	return createBuckets(tx, []string{"error-log"})
}

func createBuckets(tx *bbolt.Tx, names []string) error {
	for _, name := range names {
		if _, err := tx.CreateBucket([]byte(name)); err != nil {
			return fmt.Errorf("bucket %s: %w", name, err)
		}
	}
	return nil
}

// validateMigrations insists on versions 1..n in order, so that the
// version stored in a file is also the number of migrations applied.
func validateMigrations(ms []Migration) error {
	if len(ms) == 0 {
		return errors.New("storage: no migrations")
	}
	for i, m := range ms {
		if m.Version != i+1 {
			return fmt.Errorf("storage: migration %d (%q) has version %d, want %d: versions must be 1, 2, 3... in order", i, m.Name, m.Version, i+1)
		}
		if m.Name == "" || m.Up == nil {
			return fmt.Errorf("storage: migration %d needs a name and an Up function", m.Version)
		}
	}
	return nil
}

// schemaVersion reads the schema version; 0 means no migration has run.
func schemaVersion(tx *bbolt.Tx) (int, error) {
	meta := tx.Bucket([]byte(bucketMeta))
	if meta == nil {
		return 0, nil
	}
	raw := meta.Get([]byte(keySchemaVersion))
	if raw == nil {
		return 0, errors.New("meta bucket has no schema_version")
	}
	v, err := ParseID(raw)
	if err != nil || v == 0 || v > 1<<31 {
		return 0, fmt.Errorf("meta bucket has an invalid schema_version (%x)", raw)
	}
	return int(v), nil
}

func setSchemaVersion(tx *bbolt.Tx, v int) error {
	meta := tx.Bucket([]byte(bucketMeta))
	if meta == nil {
		return errors.New("no meta bucket (migration 1 creates it)")
	}
	return meta.Put([]byte(keySchemaVersion), ID(uint64(v)))
}

// checkSchema reads the version of the file and says whether this binary
// may use it: not newer than it knows, and a file without a schema must be
// empty (another program's bbolt file is not ours to migrate).
func checkSchema(tx *bbolt.Tx, path string, latest int) (int, error) {
	v, err := schemaVersion(tx)
	if err != nil {
		return 0, corruptError(path, err)
	}
	if v > latest {
		return v, &opError{
			msg: fmt.Sprintf("storage: database %s has schema version %d but this clinicbox knows only up to %d: "+
				"it was written by a newer release; run that release, or restore a backup made with this one (downgrades are not supported)",
				path, v, latest),
			kind: ErrSchemaTooNew,
		}
	}
	if v == 0 {
		if name, _ := tx.Cursor().First(); name != nil {
			return 0, corruptError(path, fmt.Errorf("it has buckets (%q...) but no clinicbox schema", name))
		}
	}
	return v, nil
}

// migrate applies the migrations the file has not seen yet, one
// transaction each, and returns the resulting schema version.
func (db *DB) migrate(ms []Migration) (int, error) {
	latest := ms[len(ms)-1].Version
	var v int
	err := guard(func() error {
		return db.bolt.View(func(tx *bbolt.Tx) (err error) {
			v, err = checkSchema(tx, db.path, latest)
			return err
		})
	})
	if err != nil {
		if _, ok := err.(*panicError); ok {
			err = corruptError(db.path, err)
		}
		return 0, err
	}
	for _, m := range ms[v:] {
		start := time.Now()
		err := guard(func() error {
			return db.bolt.Update(func(tx *bbolt.Tx) error {
				if err := m.Up(tx); err != nil {
					return err
				}
				return setSchemaVersion(tx, m.Version)
			})
		})
		if err != nil {
			return v, fmt.Errorf("storage: migration %d (%s) of %s failed, the database stays at schema %d: %w",
				m.Version, m.Name, db.path, v, err)
		}
		v = m.Version
		db.log.Info("storage: applied migration", "version", m.Version, "name", m.Name, "duration", time.Since(start))
	}
	return v, nil
}
