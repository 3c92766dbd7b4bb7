package keystore

import (
	"testing"

	"go.etcd.io/bbolt"
)

// boltDB is a real bbolt file holding ciphertexts, as the appliance's
// database does, so erasure is checked against what bbolt leaves on disk.
type boltDB struct{ db *bbolt.DB }

const records = "records"

func openBolt(t *testing.T, path string) *boltDB {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &boltDB{db: db}
}

func (b *boltDB) put(t *testing.T, key string, value []byte) {
	t.Helper()
	err := b.db.Update(func(tx *bbolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists([]byte(records))
		if err != nil {
			return err
		}
		return bk.Put([]byte(key), value)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (b *boltDB) get(t *testing.T, key string) []byte {
	t.Helper()
	var v []byte
	err := b.db.View(func(tx *bbolt.Tx) error {
		v = append([]byte(nil), tx.Bucket([]byte(records)).Get([]byte(key))...)
		return nil
	})
	if err != nil || v == nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return v
}

func (b *boltDB) close(t *testing.T) {
	t.Helper()
	if err := b.db.Close(); err != nil {
		t.Fatal(err)
	}
}
