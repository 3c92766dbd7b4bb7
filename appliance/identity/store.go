package identity

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.etcd.io/bbolt"

	"clinicbox/storage"
	"clinicbox/storage/keystore"
)

// Sealer encrypts a subject's data with that subject's own key
// (storage/keystore.Store).
type Sealer interface {
	Seal(subject string, plaintext, aad []byte) ([]byte, error)
	Open(subject string, ciphertext, aad []byte) ([]byte, error)
	Erase(subject string) error
}

// Options configure a Store.
type Options struct {
	DB   *storage.DB
	Keys Sealer
	// IndexKey keys the HMAC of the e-mail index, so the index cannot be
	// reversed by hashing a list of addresses.
	IndexKey []byte
	Now      func() time.Time
}

// Store keeps units, users, links and sessions.
type Store struct {
	db       *storage.DB
	keys     Sealer
	indexKey []byte
	now      func() time.Time
	// hashing bounds concurrent argon2id work: each costs 64 MiB, and a
	// burst of logins must not exhaust a small box's memory.
	hashing chan struct{}
}

// New returns a Store over the identity buckets (storage migration 2).
func New(opts Options) (*Store, error) {
	if opts.DB == nil || opts.Keys == nil || len(opts.IndexKey) < 16 {
		return nil, errors.New("identity: DB, Keys and a 16+ byte IndexKey are required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Store{db: opts.DB, keys: opts.Keys, indexKey: opts.IndexKey, now: opts.Now,
		hashing: make(chan struct{}, max(1, runtime.NumCPU()))}, nil
}

var (
	bucketUnits          = []byte("units")
	bucketUsers          = []byte("users")
	bucketUsersByEmail   = []byte("users-by-email")
	bucketTokens         = []byte("tokens")
	bucketSessions       = []byte("sessions")
	bucketSessionsByUser = []byte("sessions-by-user")
)

// userRecord is a user as stored. Profile is sealed with the key of
// subject "user:<id>"; the rest holds no personal data.
type userRecord struct {
	ID             uint64    `json:"id"`
	Role           Role      `json:"role"`
	Status         Status    `json:"status"`
	Units          []uint64  `json:"units,omitempty"`
	SealedProfile  []byte    `json:"profile"`
	PasswordHash   string    `json:"password_hash,omitempty"`
	SealedTOTP     []byte    `json:"totp,omitempty"`
	TOTPLastStep   int64     `json:"totp_last_step,omitempty"`
	RecoveryHashes []string  `json:"recovery,omitempty"`
	Lang           string    `json:"lang,omitempty"`
	TermsVersion   string    `json:"terms_version,omitempty"`
	TermsAccepted  time.Time `json:"terms_accepted,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	LastActiveAt   time.Time `json:"last_active_at,omitempty"`

	// Notify is the user's choice of notification channels; nil means
	// the defaults (notify.go).
	Notify *notifyChoice `json:"notify,omitempty"`
}

// Subject is the key-store subject of a user.
func Subject(userID uint64) string { return "user:" + strconv.FormatUint(userID, 10) }

func (s *Store) emailKey(email string) []byte {
	m := hmac.New(sha256.New, s.indexKey)
	m.Write([]byte(NormalizeEmail(email)))
	return m.Sum(nil)
}

// NormalizeEmail lower-cases and trims an address for lookups.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// FieldError is a problem with one form field. Err, when set, is the
// cause a form can translate (e.g. password.ErrTooShort).
type FieldError struct {
	Field string
	Msg   string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }
func (e *FieldError) Unwrap() error { return e.Err }

// ValidateProfile checks the fields a person types.
func ValidateProfile(p Profile, needEmail bool) error {
	if strings.TrimSpace(p.Name) == "" {
		return &FieldError{Field: "name", Msg: "the name is missing", Err: ErrNameMissing}
	}
	if utf8.RuneCountInString(p.Name) > 200 {
		return &FieldError{Field: "name", Msg: "the name is longer than 200 characters", Err: ErrNameMissing}
	}
	if p.Email != "" || needEmail {
		addr, err := mail.ParseAddress(p.Email)
		if err != nil || addr.Address != strings.TrimSpace(p.Email) || len(p.Email) > 254 {
			return &FieldError{Field: "email", Msg: "this is not an e-mail address, e.g. anna@example.se", Err: ErrEmailInvalid}
		}
	}
	if len(p.Phone) > 32 {
		return &FieldError{Field: "phone", Msg: "the phone number is too long"}
	}
	return nil
}

// CreateUnit adds a unit.
func (s *Store) CreateUnit(name, kind string) (Unit, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 100 {
		return Unit{}, &FieldError{Field: "name", Msg: "a unit needs a name of at most 100 characters", Err: ErrNameMissing}
	}
	if kind == "" {
		kind = "standard"
	}
	if kind != "standard" && kind != "digital-care" {
		return Unit{}, &FieldError{Field: "kind", Msg: "the kind is standard or digital-care"}
	}
	u := Unit{Name: name, Kind: kind, CreatedAt: s.now().UTC()}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketUnits)
		id, err := storage.NextID(b)
		if err != nil {
			return err
		}
		u.ID = id
		return storage.Put(b, storage.ID(id), u)
	})
	return u, err
}

// Units lists every unit.
func (s *Store) Units() ([]Unit, error) {
	var units []Unit
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketUnits).ForEach(func(_, v []byte) error {
			u, err := storage.Decode[Unit](v)
			units = append(units, u)
			return err
		})
	})
	return units, err
}

// CreateUser adds a pending user. The profile is sealed with a new key of
// the user's own.
func (s *Store) CreateUser(role Role, p Profile, units []uint64) (User, error) {
	if _, err := ParseRole(string(role)); err != nil {
		return User{}, &FieldError{Field: "role", Msg: err.Error()}
	}
	p.Email = strings.TrimSpace(p.Email)
	p.Name = strings.TrimSpace(p.Name)
	if err := ValidateProfile(p, role.NeedsSecondFactor()); err != nil {
		return User{}, err
	}
	var rec userRecord
	err := s.db.Update(func(tx *bbolt.Tx) error {
		if p.Email != "" && tx.Bucket(bucketUsersByEmail).Get(s.emailKey(p.Email)) != nil {
			return ErrEmailTaken
		}
		for _, id := range units {
			if tx.Bucket(bucketUnits).Get(storage.ID(id)) == nil {
				return &FieldError{Field: "units", Msg: fmt.Sprintf("there is no unit %d", id)}
			}
		}
		b := tx.Bucket(bucketUsers)
		id, err := storage.NextID(b)
		if err != nil {
			return err
		}
		rec = userRecord{ID: id, Role: role, Status: StatusPending, Units: slices.Clone(units), CreatedAt: s.now().UTC()}
		if rec.SealedProfile, err = s.sealProfile(id, p); err != nil {
			return err
		}
		if p.Email != "" {
			if err := tx.Bucket(bucketUsersByEmail).Put(s.emailKey(p.Email), storage.ID(id)); err != nil {
				return err
			}
		}
		return storage.Put(b, storage.ID(id), rec)
	})
	if err != nil {
		return User{}, err
	}
	return s.open(rec)
}

func (s *Store) sealProfile(id uint64, p Profile) ([]byte, error) {
	plain, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	return s.keys.Seal(Subject(id), plain, []byte("profile"))
}

// open turns a record into a User, opening the sealed profile.
func (s *Store) open(rec userRecord) (User, error) {
	u := User{ID: rec.ID, Role: rec.Role, Status: rec.Status, Units: rec.Units, Lang: rec.Lang,
		HasPassword: rec.PasswordHash != "", HasTOTP: len(rec.SealedTOTP) > 0,
		TermsVersion: rec.TermsVersion, TermsAccepted: rec.TermsAccepted,
		CreatedAt: rec.CreatedAt, LastActiveAt: rec.LastActiveAt}
	u.HasPasskey = s.hasPasskey(rec.ID)
	p, err := s.profileIn(rec)
	u.Profile = p
	u.NotifyEmail, u.NotifySMS = rec.Notify.channels(p)
	return u, err
}

func (s *Store) record(tx *bbolt.Tx, id uint64) (userRecord, error) {
	rec, ok, err := storage.Get[userRecord](tx.Bucket(bucketUsers), storage.ID(id))
	if err != nil {
		return rec, err
	}
	if !ok {
		return rec, ErrNotFound
	}
	return rec, nil
}

// updateRecord changes one user in a write transaction.
func (s *Store) updateRecord(id uint64, fn func(*userRecord) error) error {
	return s.db.Batch(func(tx *bbolt.Tx) error {
		rec, err := s.record(tx, id)
		if err != nil {
			return err
		}
		if err := fn(&rec); err != nil {
			return err
		}
		return storage.Put(tx.Bucket(bucketUsers), storage.ID(id), rec)
	})
}

// User returns one user.
func (s *Store) User(id uint64) (User, error) {
	var rec userRecord
	err := s.db.View(func(tx *bbolt.Tx) (err error) {
		rec, err = s.record(tx, id)
		return err
	})
	if err != nil {
		return User{}, err
	}
	return s.open(rec)
}

// UserByEmail finds a user by e-mail address.
func (s *Store) UserByEmail(email string) (User, error) {
	var rec userRecord
	err := s.db.View(func(tx *bbolt.Tx) (err error) {
		idb := tx.Bucket(bucketUsersByEmail).Get(s.emailKey(email))
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
	return s.open(rec)
}

// Users lists the users with one of roles (all when none given).
func (s *Store) Users(roles ...Role) ([]User, error) {
	var recs []userRecord
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketUsers).ForEach(func(_, v []byte) error {
			rec, err := storage.Decode[userRecord](v)
			if err != nil {
				return err
			}
			if len(roles) == 0 || slices.Contains(roles, rec.Role) {
				recs = append(recs, rec)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	users := make([]User, 0, len(recs))
	for _, rec := range recs {
		u, err := s.open(rec)
		if errors.Is(err, keystore.ErrNoKey) {
			continue // erased: nobody to list
		}
		if err != nil {
			return nil, err
		}
		users = append(users, u)
	}
	return users, nil
}

// CountAdmins counts active and pending admins (the first-run page appears
// only while there are none).
func (s *Store) CountAdmins() (int, error) {
	n := 0
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketUsers).ForEach(func(_, v []byte) error {
			rec, err := storage.Decode[userRecord](v)
			if err == nil && rec.Role == RoleAdmin && rec.Status != StatusDeactivated {
				n++
			}
			return err
		})
	})
	return n, err
}

// SetStatus activates or deactivates a user. Deactivation also ends the
// user's sessions.
func (s *Store) SetStatus(id uint64, st Status) error {
	if st != StatusPending && st != StatusActive && st != StatusDeactivated {
		return fmt.Errorf("identity: unknown status %q", st)
	}
	if err := s.updateRecord(id, func(r *userRecord) error { r.Status = st; return nil }); err != nil {
		return err
	}
	if st == StatusDeactivated {
		return s.EndAllSessions(id)
	}
	return nil
}

// SetLang stores the user's language choice.
func (s *Store) SetLang(id uint64, lang string) error {
	return s.updateRecord(id, func(r *userRecord) error { r.Lang = lang; return nil })
}
