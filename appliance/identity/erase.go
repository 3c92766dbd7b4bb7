package identity

import (
	"bytes"
	"errors"
	"fmt"

	"go.etcd.io/bbolt"

	"clinicbox/appliance/identity/passkey"
	"clinicbox/appliance/identity/personnummer"
	"clinicbox/storage"
)

// ErrLastAdmin refuses erasing the last active administrator: nobody
// could manage the box afterwards. The error EraseUser returns wraps it
// with a message for the person who asked (errors.Is works).
var ErrLastAdmin = errors.New("identity: this is the last active administrator")

// EraseUser erases an account (GDPR art. 17), at once and for good:
//
//   - the user record (role, units, password hash, sealed TOTP secret,
//     recovery code hashes, terms, notification choices) is deleted;
//   - the e-mail and personnummer index entries go, so the address and
//     the number can be used for a new account;
//   - every session (both buckets), every set-up or invitation link and
//     every passkey of the user is deleted;
//   - then the user's data key (key-store subject "user:<id>") is erased
//     (crypto-shredding): whatever sealed personal data bbolt still has in
//     freed pages, or any other copy on the box, is noise from then on.
//
// The numeric id is never reused (the users bucket's sequence only goes
// up), so access-log entries and room events keep pointing to an id that
// now names nobody: a pseudonym. Room membership and the messages the
// user wrote are the rooms package's (rooms.Store.RemoveUserEverywhere);
// messages stay, sealed with the room's key, and show as "former
// participant".
//
// An active administrator who is the only one left is refused with an
// error wrapping ErrLastAdmin; actorIsSelf picks the wording of its
// message (the admin deleting their own account, or someone erasing an
// admin). A user that does not exist gives ErrNotFound; the key is erased
// anyway, so calling EraseUser again finishes an erasure whose key
// erasure failed.
func (s *Store) EraseUser(id uint64, actorIsSelf bool) error {
	if id == 0 {
		return ErrNotFound
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		rec, err := s.record(tx, id)
		if err != nil {
			return err
		}
		if rec.Role == RoleAdmin && rec.Status == StatusActive {
			others, err := s.otherActiveAdmins(tx, id)
			if err != nil {
				return err
			}
			if others == 0 {
				if actorIsSelf {
					return fmt.Errorf("%w: you are the only active administrator; make someone else administrator before you delete your account", ErrLastAdmin)
				}
				return fmt.Errorf("%w: make someone else administrator before this account is erased", ErrLastAdmin)
			}
		}
		if err := s.dropIndexes(tx, rec); err != nil {
			return err
		}
		if err := dropSessionsTx(tx, id); err != nil {
			return err
		}
		if err := dropTokensTx(tx, id); err != nil {
			return err
		}
		if err := passkey.RemoveAllTx(tx, id); err != nil {
			return err
		}
		return tx.Bucket(bucketUsers).Delete(storage.ID(id))
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	if eraseErr := s.keys.Erase(Subject(id)); eraseErr != nil {
		return fmt.Errorf("identity: user %d: the records are deleted but the key could not be erased (call EraseUser again): %w", id, eraseErr)
	}
	return err
}

// otherActiveAdmins counts the active administrators other than id whose
// profile still opens (an erased one is nobody).
func (s *Store) otherActiveAdmins(tx *bbolt.Tx, id uint64) (int, error) {
	n := 0
	err := tx.Bucket(bucketUsers).ForEach(func(_, v []byte) error {
		rec, err := storage.Decode[userRecord](v)
		if err != nil {
			return err
		}
		if rec.ID != id && rec.Role == RoleAdmin && rec.Status == StatusActive && s.liveUser(tx, rec.ID) {
			n++
		}
		return nil
	})
	return n, err
}

// dropIndexes removes the e-mail and personnummer index entries that
// point to rec. With the profile readable they are found by key; if it is
// not (the key was erased before), both indexes are scanned for the id.
func (s *Store) dropIndexes(tx *bbolt.Tx, rec userRecord) error {
	byEmail, byPnr := tx.Bucket(bucketUsersByEmail), tx.Bucket(bucketUsersByPnr)
	idb := storage.ID(rec.ID)
	p, err := s.profileIn(rec)
	if err == nil {
		if p.Email != "" {
			if k := s.emailKey(p.Email); bytes.Equal(byEmail.Get(k), idb) {
				if err := byEmail.Delete(k); err != nil {
					return err
				}
			}
		}
		if p.Personnummer != "" {
			if n, perr := personnummer.Parse(p.Personnummer, s.now()); perr == nil {
				if k := s.pnrKey(n); bytes.Equal(byPnr.Get(k), idb) {
					if err := byPnr.Delete(k); err != nil {
						return err
					}
				}
			}
		}
	}
	// Always sweep too: cheap (one entry per user) and it also catches
	// entries the profile no longer names.
	for _, b := range []*bbolt.Bucket{byEmail, byPnr} {
		if b == nil {
			continue
		}
		var dead [][]byte
		if err := b.ForEach(func(k, v []byte) error {
			if bytes.Equal(v, idb) {
				dead = append(dead, bytes.Clone(k))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range dead {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
	}
	return nil
}

// dropSessionsTx deletes every session of a user, in both buckets.
func dropSessionsTx(tx *bbolt.Tx, id uint64) error {
	prefix := storage.ID(id)
	byUser, sessions := tx.Bucket(bucketSessionsByUser), tx.Bucket(bucketSessions)
	var keys [][]byte
	c := byUser.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := sessions.Delete(k[8:]); err != nil {
			return err
		}
		if err := byUser.Delete(k); err != nil {
			return err
		}
	}
	// A session whose by-user entry went missing would still name the
	// user: sweep the sessions bucket for it too.
	var dead [][]byte
	err := sessions.ForEach(func(k, v []byte) error {
		if sess, err := storage.Decode[Session](v); err == nil && sess.UserID == id {
			dead = append(dead, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range dead {
		if err := sessions.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// dropTokensTx deletes every link (set-up, invitation) made for a user.
func dropTokensTx(tx *bbolt.Tx, id uint64) error {
	b := tx.Bucket(bucketTokens)
	var dead [][]byte
	err := b.ForEach(func(k, v []byte) error {
		if t, err := storage.Decode[Token](v); err == nil && t.UserID == id {
			dead = append(dead, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range dead {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
