package identity

import (
	"bytes"
	"errors"
	"strings"

	"go.etcd.io/bbolt"

	"clinicbox/appliance/identity/password"
	"clinicbox/storage"
)

// AcceptTerms records that the user accepted this version of the terms
// and privacy policy, and when.
func (s *Store) AcceptTerms(id uint64, version string) error {
	return s.updateRecord(id, func(r *userRecord) error {
		r.TermsVersion, r.TermsAccepted = version, s.now().UTC()
		return nil
	})
}

// UpdateContact changes the contact details the user gives themselves:
// e-mail (also their login) and phone. Only the user calls this: staff
// never enter a client's contact details.
func (s *Store) UpdateContact(id uint64, email, phone string) error {
	email, phone = strings.TrimSpace(email), strings.TrimSpace(phone)
	u, err := s.User(id)
	if err != nil {
		return err
	}
	p := u.Profile
	oldEmail := p.Email
	p.Email, p.Phone = email, phone
	if err := ValidateProfile(p, u.Role.NeedsSecondFactor()); err != nil {
		return err
	}
	sealed, err := s.sealProfile(id, p)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		idx := tx.Bucket(bucketUsersByEmail)
		if NormalizeEmail(email) != NormalizeEmail(oldEmail) {
			if email != "" && idx.Get(s.emailKey(email)) != nil {
				return ErrEmailTaken
			}
			if oldEmail != "" {
				if err := idx.Delete(s.emailKey(oldEmail)); err != nil {
					return err
				}
			}
			if email != "" {
				if err := idx.Put(s.emailKey(email), storage.ID(id)); err != nil {
					return err
				}
			}
		}
		rec, err := s.record(tx, id)
		if err != nil {
			return err
		}
		rec.SealedProfile = sealed
		return storage.Put(tx.Bucket(bucketUsers), storage.ID(id), rec)
	})
}

// ChangePassword replaces the password after checking the current one.
// Other sessions of the user end: whoever knew the old password is out.
func (s *Store) ChangePassword(id uint64, current, next string, keepSession string) error {
	var hash string
	err := s.db.View(func(tx *bbolt.Tx) error {
		rec, err := s.record(tx, id)
		hash = rec.PasswordHash
		return err
	})
	if err != nil {
		return err
	}
	s.hashing <- struct{}{}
	ok, _, err := password.Verify(current, hash)
	<-s.hashing
	if err != nil || !ok {
		return &FieldError{Field: "current", Msg: "the current password is wrong", Err: ErrBadLogin}
	}
	if err := s.SetPassword(id, next); err != nil {
		return err
	}
	return s.endOtherSessions(id, keepSession)
}

// endOtherSessions ends every session of a user but the one of keepTok
// ("" keeps none).
func (s *Store) endOtherSessions(id uint64, keepTok string) error {
	keep := string(hashToken(keepTok))
	prefix := storage.ID(id)
	return s.db.Update(func(tx *bbolt.Tx) error {
		byUser := tx.Bucket(bucketSessionsByUser)
		var keys [][]byte
		c := byUser.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if string(k[8:]) != keep {
				keys = append(keys, bytes.Clone(k))
			}
		}
		for _, k := range keys {
			if err := tx.Bucket(bucketSessions).Delete(k[8:]); err != nil {
				return err
			}
			if err := byUser.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// ErrNameLocked is returned when a name that came from eID is to be
// changed: eID is its source, not a person typing.
var ErrNameLocked = errors.New("identity: the name comes from e-legitimation and cannot be changed here")

// Rename corrects a user's name (staff or admin correcting a client,
// GDPR art. 16). A name that came from eID stays locked.
func (s *Store) Rename(id uint64, name string) error {
	u, err := s.User(id)
	if err != nil {
		return err
	}
	if u.Profile.NameFromEID {
		return &FieldError{Field: "name", Msg: ErrNameLocked.Error(), Err: ErrNameLocked}
	}
	p := u.Profile
	p.Name = strings.TrimSpace(name)
	if err := ValidateProfile(p, false); err != nil {
		return err
	}
	sealed, err := s.sealProfile(id, p)
	if err != nil {
		return err
	}
	return s.updateRecord(id, func(r *userRecord) error { r.SealedProfile = sealed; return nil })
}
