// Package passkey keeps staff members' passkeys (WebAuthn credentials), a
// second factor beside TOTP, and runs the registration and login
// ceremonies with github.com/go-webauthn/webauthn.
//
// A passkey is a key pair made by an authenticator (a phone, a laptop's
// platform authenticator, a security key); the box keeps only the public
// key, the signature counter and what the user calls it:
//
//	passkeys                user id(8) || credential id → Credential (JSON)
//	passkeys-by-credential  credential id → user id(8)
//
// Both buckets come from storage migration 5. The identity package reads
// them inside its own transactions (CountTx, RemoveAllTx), so "has a second
// factor" and "reset the second factor" stay consistent with the user
// record.
package passkey

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/webauthn"
	"go.etcd.io/bbolt"

	"clinicbox/storage"
)

var (
	bucketPasskeys     = []byte("passkeys")
	bucketByCredential = []byte("passkeys-by-credential")
)

// Errors the web layer maps to messages.
var (
	ErrNotFound     = errors.New("passkey: no such passkey")
	ErrExists       = errors.New("passkey: this passkey is already registered")
	ErrCloned       = errors.New("passkey: the signature counter went backwards; this passkey may have been copied")
	ErrLabel        = errors.New("passkey: a name of at most 60 characters is needed")
	ErrCredentialID = errors.New("passkey: a credential id of 1 to 1023 bytes is needed")
)

// MaxLabel is the longest name a user may give a passkey, in characters.
const MaxLabel = 60

// Credential is one passkey as stored.
type Credential struct {
	// WebAuthn is the credential go-webauthn verified: id, public key,
	// signature counter, flags, transports and the authenticator's AAGUID.
	WebAuthn webauthn.Credential `json:"webauthn"`
	// Label is the user's name for it ("Work laptop").
	Label      string    `json:"label"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	// ClonedAt is set when a login showed a signature counter that went
	// backwards: two copies of the key exist. Such a passkey is refused
	// from then on; the user removes it and adds a new one.
	ClonedAt time.Time `json:"cloned_at,omitzero"`
}

// ID is the credential id.
func (c Credential) ID() []byte { return c.WebAuthn.ID }

// Store keeps passkeys in the database.
type Store struct {
	db  *storage.DB
	now func() time.Time
}

// New returns a Store over the passkey buckets; now may be nil.
func New(db *storage.DB, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, now: now}
}

func key(userID uint64, credID []byte) []byte {
	return append(storage.ID(userID), credID...)
}

// CleanLabel trims a label and checks its length; an empty one gets
// fallback.
func CleanLabel(label, fallback string) (string, error) {
	label = strings.Join(strings.Fields(label), " ")
	if label == "" {
		label = fallback
	}
	if label == "" || utf8.RuneCountInString(label) > MaxLabel || !utf8.ValidString(label) {
		return "", ErrLabel
	}
	return label, nil
}

// Add stores a newly registered passkey of a user. A credential id is
// unique across the box: the same one again (of any user) is ErrExists.
func (s *Store) Add(userID uint64, c Credential) error {
	if n := len(c.WebAuthn.ID); n == 0 || n > 1023 {
		return ErrCredentialID
	}
	label, err := CleanLabel(c.Label, "")
	if err != nil {
		return err
	}
	c.Label = label
	if c.CreatedAt.IsZero() {
		c.CreatedAt = s.now().UTC()
	}
	return s.db.Batch(func(tx *bbolt.Tx) error {
		by := tx.Bucket(bucketByCredential)
		if by.Get(c.WebAuthn.ID) != nil {
			return ErrExists
		}
		if err := by.Put(bytes.Clone(c.WebAuthn.ID), storage.ID(userID)); err != nil {
			return err
		}
		return storage.Put(tx.Bucket(bucketPasskeys), key(userID, c.WebAuthn.ID), c)
	})
}

// List returns a user's passkeys, ordered by credential id.
func (s *Store) List(userID uint64) ([]Credential, error) {
	var out []Credential
	err := s.db.View(func(tx *bbolt.Tx) error {
		prefix := storage.ID(userID)
		c := tx.Bucket(bucketPasskeys).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			cred, err := storage.Decode[Credential](v)
			if err != nil {
				return fmt.Errorf("passkey: user %d: %w", userID, err)
			}
			out = append(out, cred)
		}
		return nil
	})
	return out, err
}

// Remove deletes one passkey of a user; another user's passkey is
// ErrNotFound, like one that does not exist.
func (s *Store) Remove(userID uint64, credID []byte) error {
	return s.db.Batch(func(tx *bbolt.Tx) error { return RemoveTx(tx, userID, credID) })
}

// ExistsTx reports whether the user has the passkey, inside tx.
func ExistsTx(tx *bbolt.Tx, userID uint64, credID []byte) bool {
	return len(credID) > 0 && tx.Bucket(bucketPasskeys).Get(key(userID, credID)) != nil
}

// RemoveTx is Remove inside tx (identity checks, in the same transaction,
// that it is not the user's last second factor).
func RemoveTx(tx *bbolt.Tx, userID uint64, credID []byte) error {
	if !ExistsTx(tx, userID, credID) {
		return ErrNotFound
	}
	if err := tx.Bucket(bucketPasskeys).Delete(key(userID, credID)); err != nil {
		return err
	}
	return tx.Bucket(bucketByCredential).Delete(credID)
}

// ByCredential finds a passkey and its owner by credential id.
func (s *Store) ByCredential(credID []byte) (uint64, Credential, error) {
	var (
		userID uint64
		cred   Credential
	)
	err := s.db.View(func(tx *bbolt.Tx) error {
		if len(credID) == 0 {
			return ErrNotFound
		}
		idb := tx.Bucket(bucketByCredential).Get(credID)
		if idb == nil {
			return ErrNotFound
		}
		id, err := storage.ParseID(idb)
		if err != nil {
			return err
		}
		c, ok, err := storage.Get[Credential](tx.Bucket(bucketPasskeys), key(id, credID))
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		userID, cred = id, c
		return nil
	})
	return userID, cred, err
}

// UpdateAfterLogin records a verified login with a passkey: its new
// signature counter and flags, and the time. A counter that does not go
// forward (when either value is non-zero; authenticators that keep no
// counter always send 0) means the key exists twice: the login is refused
// with ErrCloned and the passkey is marked, so it is refused from then on
// too. The check runs against the stored counter inside the write, so
// two logins racing with the same counter cannot both pass.
func (s *Store) UpdateAfterLogin(userID uint64, used webauthn.Credential) error {
	cloned := false
	err := s.db.Batch(func(tx *bbolt.Tx) error {
		cloned = false
		b := tx.Bucket(bucketPasskeys)
		k := key(userID, used.ID)
		cred, ok, err := storage.Get[Credential](b, k)
		switch {
		case err != nil:
			return err
		case !ok || len(used.ID) == 0:
			return ErrNotFound
		case !cred.ClonedAt.IsZero():
			cloned = true
			return nil
		}
		stored, got := cred.WebAuthn.Authenticator.SignCount, used.Authenticator.SignCount
		if used.Authenticator.CloneWarning || (got != 0 || stored != 0) && got <= stored {
			cloned = true
			cred.ClonedAt = s.now().UTC()
			return storage.Put(b, k, cred)
		}
		cred.WebAuthn.Authenticator.SignCount = got
		cred.WebAuthn.Flags = used.Flags
		if used.Authenticator.Attachment != "" {
			cred.WebAuthn.Authenticator.Attachment = used.Authenticator.Attachment
		}
		cred.LastUsedAt = s.now().UTC()
		return storage.Put(b, k, cred)
	})
	if err == nil && cloned {
		return ErrCloned
	}
	return err
}

// CountTx is how many passkeys a user has, inside tx (identity asks this
// within its own transactions).
func CountTx(tx *bbolt.Tx, userID uint64) int {
	n := 0
	prefix := storage.ID(userID)
	c := tx.Bucket(bucketPasskeys).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		n++
	}
	return n
}

// RemoveAllTx deletes every passkey of a user inside tx (an admin's reset
// of the second factor, erasure of the account).
func RemoveAllTx(tx *bbolt.Tx, userID uint64) error {
	prefix := storage.ID(userID)
	b := tx.Bucket(bucketPasskeys)
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
		if err := tx.Bucket(bucketByCredential).Delete(k[8:]); err != nil {
			return err
		}
	}
	return nil
}

// Count is how many passkeys a user has.
func (s *Store) Count(userID uint64) (int, error) {
	n := 0
	err := s.db.View(func(tx *bbolt.Tx) error { n = CountTx(tx, userID); return nil })
	return n, err
}
