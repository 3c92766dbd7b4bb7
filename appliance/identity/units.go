package identity

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"go.etcd.io/bbolt"

	"clinicbox/storage"
)

// Unit kinds. A digital-care unit (digital vårdkontakt, seed 004) keeps
// client accounts and chat history for a shorter time than a standard
// mottagning: the retention rules read the kind.
const (
	UnitStandard    = "standard"
	UnitDigitalCare = "digital-care"
)

// Unit returns one unit.
func (s *Store) Unit(id uint64) (Unit, error) {
	var u Unit
	err := s.db.View(func(tx *bbolt.Tx) error {
		v, ok, err := storage.Get[Unit](tx.Bucket(bucketUnits), storage.ID(id))
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		u = v
		return nil
	})
	return u, err
}

// RenameUnit gives a unit a new name. The kind is chosen at creation and
// kept: it decides how long the unit's data is kept.
func (s *Store) RenameUnit(id uint64, name string) (Unit, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 100 {
		return Unit{}, &FieldError{Field: "name", Msg: "a unit needs a name of at most 100 characters", Err: ErrNameMissing}
	}
	var out Unit
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketUnits)
		u, ok, err := storage.Get[Unit](b, storage.ID(id))
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		u.Name = name
		out = u
		return storage.Put(b, storage.ID(id), u)
	})
	if err != nil {
		return Unit{}, err
	}
	return out, nil
}

// SetUnits replaces the units a user belongs to (a user can belong to
// several). Every unit must exist, else a *FieldError for "units" and
// nothing changes; the list is stored sorted, without repeats. An
// unknown user is ErrNotFound.
func (s *Store) SetUnits(userID uint64, units []uint64) error {
	ids := slices.Clone(units)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	return s.db.Batch(func(tx *bbolt.Tx) error {
		ub := tx.Bucket(bucketUnits)
		for _, id := range ids {
			if id == 0 || ub.Get(storage.ID(id)) == nil {
				return &FieldError{Field: "units", Msg: fmt.Sprintf("there is no unit %d", id), Err: ErrNotFound}
			}
		}
		rec, err := s.record(tx, userID)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			rec.Units = nil
		} else {
			rec.Units = ids
		}
		return storage.Put(tx.Bucket(bucketUsers), storage.ID(userID), rec)
	})
}
