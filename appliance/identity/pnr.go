package identity

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"go.etcd.io/bbolt"

	"clinicbox/appliance/identity/personnummer"
	"clinicbox/storage"
	"clinicbox/storage/keystore"
)

// A personnummer that came from eID (BankID, Freja eID) links a person to
// their account. It is kept like the rest of the profile, sealed with the
// user's key; lookups go through a keyed hash:
//
//	users-by-pnr   HMAC(index key, "pnr:" + twelve digits)(32) → user id(8)
//
// (bucket made by storage migration 4). The "pnr:" prefix keeps these
// hashes apart from the e-mail index's, which uses the same key.

var bucketUsersByPnr = []byte("users-by-pnr")

// ErrPnrTaken is returned when a personnummer is already linked to
// another account.
var ErrPnrTaken = errors.New("identity: this personal identity number belongs to another account")

// ErrPnrMissing is returned for the zero personnummer.Number.
var ErrPnrMissing = errors.New("identity: no personal identity number")

func (s *Store) pnrKey(pnr personnummer.Number) []byte {
	m := hmac.New(sha256.New, s.indexKey)
	m.Write([]byte("pnr:" + pnr.Digits()))
	return m.Sum(nil)
}

// SetPersonnummer links a personnummer and the name that came with it
// from eID to a user: the profile's Personnummer and Name are set, and
// NameFromEID marks both as not editable by the user. A personnummer
// linked to another user gives ErrPnrTaken; a user linked to a different
// number before is moved to the new one.
func (s *Store) SetPersonnummer(userID uint64, pnr personnummer.Number, nameFromEID string) error {
	return s.db.Batch(func(tx *bbolt.Tx) error {
		rec, err := s.record(tx, userID)
		if err != nil {
			return err
		}
		if err := s.linkPnr(tx, &rec, pnr, nameFromEID, true); err != nil {
			return err
		}
		return storage.Put(tx.Bucket(bucketUsers), storage.ID(userID), rec)
	})
}

// ErrPnrMismatch is returned when eID vouches for another person than the
// one staff invited by personnummer: the link was passed on or mixed up.
var ErrPnrMismatch = errors.New("identity: this invitation is for another person")

// RecordPersonnummer stores a personnummer that staff typed when inviting
// a client, so that eID finds the right account and only that person can
// use the invitation. The name stays as typed and editable by staff.
func (s *Store) RecordPersonnummer(userID uint64, pnr personnummer.Number) error {
	return s.db.Batch(func(tx *bbolt.Tx) error {
		rec, err := s.record(tx, userID)
		if err != nil {
			return err
		}
		if err := s.linkPnr(tx, &rec, pnr, "", false); err != nil {
			return err
		}
		return storage.Put(tx.Bucket(bucketUsers), storage.ID(userID), rec)
	})
}

// linkPnr sets the personnummer and eID name in rec's sealed profile and
// in the index; the caller stores rec.
func (s *Store) linkPnr(tx *bbolt.Tx, rec *userRecord, pnr personnummer.Number, name string, fromEID bool) error {
	if pnr.IsZero() {
		return ErrPnrMissing
	}
	name = strings.TrimSpace(name)
	if fromEID && (name == "" || utf8.RuneCountInString(name) > 200) {
		return &FieldError{Field: "name", Msg: "the name from eID is missing or longer than 200 characters", Err: ErrNameMissing}
	}
	idx := tx.Bucket(bucketUsersByPnr)
	key := s.pnrKey(pnr)
	if owner := idx.Get(key); owner != nil {
		id, err := storage.ParseID(owner)
		if err != nil {
			return err
		}
		if id != rec.ID && s.liveUser(tx, id) {
			return ErrPnrTaken
		}
	}
	p, err := s.profileIn(*rec)
	if err != nil {
		return err
	}
	if p.Personnummer != "" && p.Personnummer != pnr.Digits() {
		if old, err := personnummer.Parse(p.Personnummer, s.now()); err == nil {
			if err := idx.Delete(s.pnrKey(old)); err != nil {
				return err
			}
		}
	}
	p.Personnummer = pnr.Digits()
	if fromEID {
		p.Name, p.NameFromEID = name, true
	}
	if rec.SealedProfile, err = s.sealProfile(rec.ID, p); err != nil {
		return err
	}
	return idx.Put(key, storage.ID(rec.ID))
}

// liveUser reports whether a user still exists and is not erased (its key
// gone): an index entry left by an erased user does not hold the number.
func (s *Store) liveUser(tx *bbolt.Tx, id uint64) bool {
	rec, err := s.record(tx, id)
	if err != nil {
		return false
	}
	_, err = s.keys.Open(Subject(id), rec.SealedProfile, []byte("profile"))
	return !errors.Is(err, keystore.ErrNoKey)
}

// UserByPersonnummer finds the user linked to a personnummer, or
// ErrNotFound.
func (s *Store) UserByPersonnummer(pnr personnummer.Number) (User, error) {
	if pnr.IsZero() {
		return User{}, ErrNotFound
	}
	var rec userRecord
	err := s.db.View(func(tx *bbolt.Tx) error {
		idb := tx.Bucket(bucketUsersByPnr).Get(s.pnrKey(pnr))
		if idb == nil {
			return ErrNotFound
		}
		id, err := storage.ParseID(idb)
		if err != nil {
			return err
		}
		rec, err = s.record(tx, id)
		return err
	})
	if err != nil {
		return User{}, err
	}
	u, err := s.open(rec)
	if errors.Is(err, keystore.ErrNoKey) {
		return User{}, ErrNotFound // erased
	}
	return u, err
}

// AcceptInviteWithEID spends an invitation link and links the invited
// user to the personnummer and name that eID vouched for, in one
// transaction: a link cannot be spent twice, and a number that belongs to
// someone else leaves the link unspent. A pending user becomes active:
// eID is a complete login for a client or a relative.
func (s *Store) AcceptInviteWithEID(tok string, pnr personnummer.Number, nameFromEID string) (User, error) {
	var rec userRecord
	err := s.db.Batch(func(tx *bbolt.Tx) error {
		t, err := s.checkToken(tx, TokenInvite, tok)
		if err != nil {
			return err
		}
		if rec, err = s.record(tx, t.UserID); err != nil {
			return err
		}
		if rec.Status == StatusDeactivated {
			return ErrTokenInvalid
		}
		if invited, err := s.profileIn(rec); err != nil {
			return err
		} else if invited.Personnummer != "" && invited.Personnummer != pnr.Digits() {
			return ErrPnrMismatch
		}
		if err := s.linkPnr(tx, &rec, pnr, nameFromEID, true); err != nil {
			return err
		}
		if rec.Status == StatusPending {
			rec.Status = StatusActive
		}
		t.UsedAt = s.now().UTC()
		if err := storage.Put(tx.Bucket(bucketTokens), hashToken(tok), t); err != nil {
			return err
		}
		return storage.Put(tx.Bucket(bucketUsers), storage.ID(rec.ID), rec)
	})
	if err != nil {
		return User{}, err
	}
	return s.open(rec)
}

// profileIn opens the sealed profile of a record.
func (s *Store) profileIn(rec userRecord) (Profile, error) {
	var p Profile
	plain, err := s.keys.Open(Subject(rec.ID), rec.SealedProfile, []byte("profile"))
	if err != nil {
		return p, fmt.Errorf("identity: opening the profile of user %d: %w", rec.ID, err)
	}
	return p, json.Unmarshal(plain, &p)
}
