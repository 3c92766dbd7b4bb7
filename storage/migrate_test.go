package storage

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// Each migration N has a TestMigrationN here that starts from a file at
// schema N-1 (made by fixtureAt), applies migration N, and checks what it
// did.

// fixtureAt returns the path of a closed database at schema version (0:
// no file yet), built with the real migrations 1..version.
func fixtureAt(t *testing.T, version int) string {
	t.Helper()
	path := dbPath(t)
	if version > 0 {
		db, err := Open(path, Options{Migrations: Migrations()[:version]})
		if err != nil {
			t.Fatal(err)
		}
		if db.SchemaVersion() != version {
			t.Fatalf("fixture at schema %d, want %d", db.SchemaVersion(), version)
		}
		db.Close()
	}
	return path
}

// migrateTo opens path with migrations 1..version and returns it open.
func migrateTo(t *testing.T, path string, version int) *DB {
	t.Helper()
	db := openTest(t, path, Options{Migrations: Migrations()[:version]})
	if db.SchemaVersion() != version {
		t.Fatalf("schema %d after migrating, want %d", db.SchemaVersion(), version)
	}
	return db
}

func TestMigration1Foundation(t *testing.T) {
	db := migrateTo(t, fixtureAt(t, 0), 1)
	_ = db.View(func(tx *bbolt.Tx) error {
		meta := tx.Bucket([]byte("meta"))
		if meta == nil {
			t.Fatal("no meta bucket")
		}
		if v, err := ParseID(meta.Get([]byte("schema_version"))); err != nil || v != 1 {
			t.Errorf("schema_version = %d, %v; want 1", v, err)
		}
		if id := string(meta.Get([]byte("box_id"))); !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) || id != db.BoxID() {
			t.Errorf("box_id = %q (BoxID %q), want 32 lowercase hex characters", id, db.BoxID())
		}
		created, err := time.Parse(time.RFC3339Nano, string(meta.Get([]byte("created_at"))))
		if err != nil || time.Since(created) > time.Minute || created.Location() != time.UTC {
			t.Errorf("created_at = %v, %v; want now, UTC", created, err)
		}
		var names []string
		_ = tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
			names = append(names, string(name))
			return nil
		})
		if strings.Join(names, ",") != "meta" {
			t.Errorf("buckets = %v, want [meta]", names)
		}
		return nil
	})
	// Two boxes never share an id.
	other := migrateTo(t, fixtureAt(t, 0), 1)
	if other.BoxID() == db.BoxID() {
		t.Error("two databases got the same box id")
	}
}

func TestMigration2Identity(t *testing.T) {
	db := migrateTo(t, fixtureAt(t, 1), 2)
	_ = db.View(func(tx *bbolt.Tx) error {
		for _, name := range []string{"meta", "units", "users", "users-by-email", "tokens", "sessions", "sessions-by-user"} {
			if tx.Bucket([]byte(name)) == nil {
				t.Errorf("no bucket %s", name)
			}
		}
		return nil
	})
	if db.SchemaVersion() != 2 {
		t.Errorf("schema %d", db.SchemaVersion())
	}
}

func TestMigration3Audit(t *testing.T) {
	db := migrateTo(t, fixtureAt(t, 2), 3)
	_ = db.View(func(tx *bbolt.Tx) error {
		for _, name := range []string{"audit", "audit-by-subject", "audit-by-actor", "audit-by-unit", "audit-meta", "users"} {
			if tx.Bucket([]byte(name)) == nil {
				t.Errorf("no bucket %s", name)
			}
		}
		return nil
	})
}

func TestMigration4EID(t *testing.T) {
	db := migrateTo(t, fixtureAt(t, 3), 4)
	_ = db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket([]byte("users-by-pnr")) == nil {
			t.Error("no bucket users-by-pnr")
		}
		return nil
	})
}

func TestMigration5Passkeys(t *testing.T) {
	db := migrateTo(t, fixtureAt(t, 4), 5)
	_ = db.View(func(tx *bbolt.Tx) error {
		for _, name := range []string{"passkeys", "passkeys-by-credential", "users-by-pnr", "audit"} {
			if tx.Bucket([]byte(name)) == nil {
				t.Errorf("no bucket %s", name)
			}
		}
		return nil
	})
}

func TestMigration6Rooms(t *testing.T) {
	db := migrateTo(t, fixtureAt(t, 5), 6)
	_ = db.View(func(tx *bbolt.Tx) error {
		for _, name := range []string{"rooms", "room-members", "user-rooms", "room-events", "room-activity", "attachments", "events-seq", "passkeys"} {
			if tx.Bucket([]byte(name)) == nil {
				t.Errorf("no bucket %s", name)
			}
		}
		return nil
	})
}

func TestMigration7Retention(t *testing.T) {
	db := migrateTo(t, fixtureAt(t, 6), 7)
	_ = db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("retention"))
		if b == nil || b.Bucket([]byte("runs")) == nil {
			t.Error("no retention/runs bucket")
		}
		return nil
	})
}

func TestMigration8ErrorLog(t *testing.T) {
	db := migrateTo(t, fixtureAt(t, 7), 8)
	_ = db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket([]byte("error-log")) == nil {
			t.Error("no error-log bucket")
		}
		return nil
	})
}

// Adding migration N means adding TestMigrationN.
func TestEveryMigrationHasATest(t *testing.T) {
	file, err := parser.ParseFile(token.NewFileSet(), "migrate_test.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	tested := map[string]bool{}
	re := regexp.MustCompile(`^TestMigration(\d+)(\D.*)?$`)
	for _, d := range file.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok {
			if m := re.FindStringSubmatch(fn.Name.Name); m != nil {
				tested[m[1]] = true
			}
		}
	}
	for _, m := range Migrations() {
		if !tested[strconv.Itoa(m.Version)] {
			t.Errorf("migration %d (%s) has no TestMigration%d in migrate_test.go", m.Version, m.Name, m.Version)
		}
	}
}

func TestMigrationsAreValid(t *testing.T) {
	if err := validateMigrations(Migrations()); err != nil {
		t.Fatal(err)
	}
	up := func(*bbolt.Tx) error { return nil }
	for name, ms := range map[string][]Migration{
		"empty":     {},
		"gap":       {{1, "a", up}, {3, "c", up}},
		"unordered": {{2, "b", up}, {1, "a", up}},
		"from zero": {{0, "z", up}},
		"no name":   {{1, "", up}},
		"no func":   {{1, "a", nil}},
	} {
		if err := validateMigrations(ms); err == nil {
			t.Errorf("%s: validateMigrations succeeded", name)
		}
	}
	_, err := Open(dbPath(t), Options{Migrations: []Migration{{2, "b", up}}})
	if err == nil {
		t.Error("Open with a bad migration list succeeded")
	}
}

// testMigration returns migration n (after the real ones) that creates
// bucket name, then returns fail.
func testMigration(n int, name string, fail error) Migration {
	return Migration{n, "test " + name, func(tx *bbolt.Tx) error {
		if _, err := tx.CreateBucket([]byte(name)); err != nil {
			return err
		}
		return fail
	}}
}

func TestMigrationAppliesPending(t *testing.T) {
	latest := len(Migrations())
	path := fixtureAt(t, latest)
	db := openTest(t, path, Options{})
	boxID := db.BoxID()
	db.Close()

	ms := append(Migrations(), testMigration(latest+1, "extra", nil), testMigration(latest+2, "more", nil))
	db = openTest(t, path, Options{Migrations: ms})
	if db.SchemaVersion() != latest+2 || db.BoxID() != boxID {
		t.Errorf("schema %d box %s, want %d %s", db.SchemaVersion(), db.BoxID(), latest+2, boxID)
	}
	_ = db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket([]byte("extra")) == nil || tx.Bucket([]byte("more")) == nil {
			t.Error("the new migrations' buckets are missing")
		}
		return nil
	})
	db.Close()
	// Opening again applies nothing (CreateBucket would fail if it did).
	openTest(t, path, Options{Migrations: ms})
}

func TestMigrationFailureRollsBack(t *testing.T) {
	latest := len(Migrations())
	for name, m := range map[string]Migration{
		"error": testMigration(latest+1, "broken", errors.New("boom")),
		"panic": {latest + 1, "test panic", func(tx *bbolt.Tx) error {
			if _, err := tx.CreateBucket([]byte("broken")); err != nil {
				return err
			}
			panic("boom")
		}},
	} {
		t.Run(name, func(t *testing.T) {
			path := fixtureAt(t, latest)
			_, err := Open(path, Options{Migrations: append(Migrations(), m)})
			if err == nil {
				t.Fatal("Open succeeded")
			}
			want := fmt.Sprintf("storage: migration %d (%s) of %s failed, the database stays at schema %d", latest+1, m.Name, path, latest)
			if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "boom") {
				t.Errorf("error = %q, want %q...boom", err, want)
			}
			db := openTest(t, path, Options{})
			if db.SchemaVersion() != latest {
				t.Errorf("schema = %d, want %d", db.SchemaVersion(), latest)
			}
			_ = db.View(func(tx *bbolt.Tx) error {
				if tx.Bucket([]byte("broken")) != nil {
					t.Error("the failed migration's bucket was committed")
				}
				return nil
			})
		})
	}
}

func TestDowngradeRefused(t *testing.T) {
	latest := len(Migrations())
	path := dbPath(t)
	newer, err := Open(path, Options{Migrations: append(Migrations(), testMigration(latest+1, "future", nil))})
	if err != nil {
		t.Fatal(err)
	}
	newer.Close()
	before := fileHash(t, path)

	_, err = Open(path, Options{})
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open of a newer file: %v, want ErrSchemaTooNew", err)
	}
	want := fmt.Sprintf("storage: database %s has schema version %d but this clinicbox knows only up to %d", path, latest+1, latest)
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error = %q\nwant %q...", err, want)
	}
	if fileHash(t, path) != before {
		t.Error("the refused Open changed the file")
	}
	// Check still reads it, and says it is newer.
	rep, err := Check(path, time.Second)
	if err != nil || rep.SchemaVersion != latest+1 || !strings.Contains(rep.String(), "newer than this clinicbox") {
		t.Errorf("Check = %v, %v", rep, err)
	}
}

func TestDocDrawsEveryMigration(t *testing.T) {
	// The drawing of the bucket tree lives in doc.go; make sure each
	// migration's name appears there, so it is updated with the schema.
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range Migrations() {
		if !strings.Contains(string(doc), fmt.Sprintf("migration %d", m.Version)) {
			t.Errorf("doc.go does not draw the buckets of migration %d (%s)", m.Version, m.Name)
		}
	}
}
