package identity

import (
	"errors"

	"go.etcd.io/bbolt"

	"clinicbox/appliance/identity/passkey"
	"clinicbox/appliance/identity/totp"
	"clinicbox/storage"
)

// Passkeys (WebAuthn) are a second factor beside TOTP. Package passkey
// keeps them in its own buckets of the same database; identity reads and
// changes those inside its own transactions, so "has a second factor" is
// always what is stored.

// ErrLastSecondFactor refuses removing the only second factor of someone
// who needs one.
var ErrLastSecondFactor = errors.New("identity: this is your only second factor; add another passkey or an authenticator app first")

// HasSecondFactor reports whether the user can pass the second step of
// logging in: TOTP, or at least one passkey.
func (u User) HasSecondFactor() bool { return u.HasTOTP || u.HasPasskey }

// Passkeys is the passkey store over the same database.
func (s *Store) Passkeys() *passkey.Store { return passkey.New(s.db, s.now) }

func (s *Store) hasPasskey(id uint64) bool {
	n := 0
	s.db.View(func(tx *bbolt.Tx) error { n = passkey.CountTx(tx, id); return nil })
	return n > 0
}

// PasskeyAdded is called once a user has registered a passkey: a pending
// user whose password is set now has every factor and becomes active.
func (s *Store) PasskeyAdded(id uint64) error {
	return s.db.Batch(func(tx *bbolt.Tx) error {
		rec, err := s.record(tx, id)
		if err != nil {
			return err
		}
		if rec.Status != StatusPending || rec.PasswordHash == "" || passkey.CountTx(tx, id) == 0 {
			return nil
		}
		rec.Status = StatusActive
		return storage.Put(tx.Bucket(bucketUsers), storage.ID(id), rec)
	})
}

// RemovePasskey removes one of a user's passkeys, unless it is the last
// second factor of a role that needs one (no TOTP, no other passkey):
// then ErrLastSecondFactor, checked in the same transaction as the
// removal so two removals at once cannot leave none.
func (s *Store) RemovePasskey(id uint64, credID []byte) error {
	return s.db.Batch(func(tx *bbolt.Tx) error {
		rec, err := s.record(tx, id)
		if err != nil {
			return err
		}
		if rec.Role.NeedsSecondFactor() && len(rec.SealedTOTP) == 0 && passkey.CountTx(tx, id) <= 1 {
			if !passkey.ExistsTx(tx, id, credID) {
				return passkey.ErrNotFound
			}
			return ErrLastSecondFactor
		}
		return passkey.RemoveTx(tx, id, credID)
	})
}

// removePasskeys deletes all of a user's passkeys (ResetSecondFactor).
func (s *Store) removePasskeys(id uint64) error {
	return s.db.Update(func(tx *bbolt.Tx) error { return passkey.RemoveAllTx(tx, id) })
}

// NewRecoveryCodes replaces a user's recovery codes with ten new ones,
// returned once to be shown. A user who enrols with a passkey gets them
// as one who enrols with TOTP does: a code on paper is the way in when
// the passkey's device is lost.
func (s *Store) NewRecoveryCodes(id uint64) ([]string, error) {
	codes, err := totp.NewRecoveryCodes(10)
	if err != nil {
		return nil, err
	}
	hashes := make([]string, len(codes))
	for i, c := range codes {
		hashes[i] = totp.HashRecoveryCode(c)
	}
	err = s.updateRecord(id, func(r *userRecord) error {
		r.RecoveryHashes = hashes
		return nil
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}
