package identity

import (
	"slices"
	"time"

	"go.etcd.io/bbolt"

	"clinicbox/appliance/identity/password"
	"clinicbox/appliance/identity/totp"
)

// SetPassword checks the password against the policy (length, common
// passwords, the user's own name and address) and stores its argon2id
// hash. A pending user becomes active only when every required factor is
// in place (see activateIfComplete).
func (s *Store) SetPassword(id uint64, pw string) error {
	u, err := s.User(id)
	if err != nil {
		return err
	}
	if err := password.Check(pw, u.Profile.Email, u.Profile.Name); err != nil {
		return &FieldError{Field: "password", Msg: err.Error(), Err: err}
	}
	s.hashing <- struct{}{}
	hash, err := password.Hash(pw)
	<-s.hashing
	if err != nil {
		return err
	}
	return s.updateRecord(id, func(r *userRecord) error {
		r.PasswordHash = hash
		activateIfComplete(r)
		return nil
	})
}

func activateIfComplete(r *userRecord) {
	if r.Status != StatusPending || r.PasswordHash == "" {
		return
	}
	if r.Role.NeedsSecondFactor() && len(r.SealedTOTP) == 0 {
		return
	}
	r.Status = StatusActive
}

// CheckPassword verifies e-mail and password. An unknown address costs the
// same time as a known one and gives the same error, so neither the
// answer nor its timing tells whether an account exists.
func (s *Store) CheckPassword(email, pw string) (User, error) {
	s.hashing <- struct{}{}
	defer func() { <-s.hashing }()
	u, err := s.UserByEmail(email)
	if err != nil {
		password.VerifyDummy(pw)
		return User{}, ErrBadLogin
	}
	var hash string
	err = s.db.View(func(tx *bbolt.Tx) error {
		rec, err := s.record(tx, u.ID)
		hash = rec.PasswordHash
		return err
	})
	if err != nil || hash == "" {
		password.VerifyDummy(pw)
		return User{}, ErrBadLogin
	}
	ok, rehash, err := password.Verify(pw, hash)
	if err != nil || !ok {
		return User{}, ErrBadLogin
	}
	if u.Status == StatusDeactivated {
		return User{}, ErrBadLogin
	}
	// A pending user with a password has only the second factor left to
	// enrol; the login leads there.
	if rehash {
		// Parameters were raised since this hash was made; upgrade it now
		// that the password is at hand. A failure here is not the user's.
		// Only if the hash is still the one verified: a password changed
		// meanwhile must not be overwritten by the old one.
		if h, err := password.Hash(pw); err == nil {
			s.updateRecord(u.ID, func(r *userRecord) error {
				if r.PasswordHash == hash {
					r.PasswordHash = h
				}
				return nil
			})
		}
	}
	return u, nil
}

// TOTPEnrolment is a new secret waiting for its first code.
type TOTPEnrolment struct {
	Secret []byte
	URI    string // otpauth://… for the QR code
	Base32 string // for typing into an authenticator app by hand
}

// NewTOTPEnrolment makes a secret for a user; nothing is stored until
// ConfirmTOTP sees a valid code from it.
func NewTOTPEnrolment(issuer, account string) (TOTPEnrolment, error) {
	secret, err := totp.NewSecret()
	if err != nil {
		return TOTPEnrolment{}, err
	}
	return TOTPEnrolment{Secret: secret, URI: totp.URI(issuer, account, secret), Base32: totp.Base32(secret)}, nil
}

// ConfirmTOTP stores the secret once the user has typed a valid code from
// it, and returns fresh recovery codes, shown once.
func (s *Store) ConfirmTOTP(id uint64, secret []byte, code string) ([]string, error) {
	if _, err := s.User(id); err != nil {
		return nil, err // no key is made for a user who does not exist
	}
	step, ok := totp.Validate(secret, code, s.now(), 0)
	if !ok {
		return nil, &FieldError{Field: "code", Msg: "the code does not match", Err: ErrCodeMismatch}
	}
	sealed, err := s.keys.Seal(Subject(id), secret, []byte("totp"))
	if err != nil {
		return nil, err
	}
	codes, err := totp.NewRecoveryCodes(10)
	if err != nil {
		return nil, err
	}
	hashes := make([]string, len(codes))
	for i, c := range codes {
		hashes[i] = totp.HashRecoveryCode(c)
	}
	err = s.updateRecord(id, func(r *userRecord) error {
		r.SealedTOTP = sealed
		r.TOTPLastStep = step
		r.RecoveryHashes = hashes
		activateIfComplete(r)
		return nil
	})
	return codes, err
}

// CheckSecondFactor accepts a TOTP code (each time step only once, against
// replay) or an unused recovery code, which is then spent.
func (s *Store) CheckSecondFactor(id uint64, code string) error {
	return s.updateRecord(id, func(r *userRecord) error {
		if len(r.SealedTOTP) > 0 {
			secret, err := s.keys.Open(Subject(id), r.SealedTOTP, []byte("totp"))
			if err != nil {
				return err
			}
			if step, ok := totp.Validate(secret, code, s.now(), r.TOTPLastStep); ok {
				r.TOTPLastStep = step
				return nil
			}
		}
		h := totp.HashRecoveryCode(code) // case and separators do not matter
		if i := slices.Index(r.RecoveryHashes, h); i >= 0 {
			r.RecoveryHashes = slices.Delete(r.RecoveryHashes, i, i+1)
			return nil
		}
		return ErrBadLogin
	})
}

// ResetSecondFactor removes a user's TOTP secret, passkeys and recovery
// codes (an admin's action for a lost phone); the user enrols again at
// next login.
func (s *Store) ResetSecondFactor(id uint64) error {
	err := s.updateRecord(id, func(r *userRecord) error {
		r.SealedTOTP, r.TOTPLastStep, r.RecoveryHashes = nil, 0, nil
		return nil
	})
	if err == nil {
		err = s.removePasskeys(id)
	}
	if err != nil {
		return err
	}
	return s.EndAllSessions(id)
}

// RecoveryCodesLeft tells the user when to print new ones.
func (s *Store) RecoveryCodesLeft(id uint64) (int, error) {
	n := 0
	err := s.db.View(func(tx *bbolt.Tx) error {
		rec, err := s.record(tx, id)
		n = len(rec.RecoveryHashes)
		return err
	})
	return n, err
}

// Touch records activity (the admin sees the date each colleague was last
// active; nothing finer is kept).
func (s *Store) Touch(id uint64, at time.Time) error {
	day := at.UTC().Truncate(24 * time.Hour)
	var changed bool
	err := s.db.View(func(tx *bbolt.Tx) error {
		rec, err := s.record(tx, id)
		changed = !rec.LastActiveAt.Equal(day)
		return err
	})
	if err != nil || !changed {
		return err
	}
	return s.updateRecord(id, func(r *userRecord) error { r.LastActiveAt = day; return nil })
}
