package retention

import (
	"errors"
	"fmt"

	"clinicbox/appliance/identity"
)

// KeyEraser erases a subject's data key (storage/keystore.Store).
type KeyEraser interface {
	Erase(subject string) error
}

// Accounts adapts *identity.Store to AccountRules with identity's public
// API. Erase crypto-shreds: it deactivates the account (which ends its
// sessions) and erases the user's data key, so the sealed profile (name,
// personnummer, contact details, TOTP secret) can never be read again,
// in live records or freed pages; identity.Users no longer lists the
// account. What the record keeps without the key (role, status, units,
// dates, the password hash, the e-mail index entry) needs identity's own
// erase to go: until then this is the stand-in.
type Accounts struct {
	Users *identity.Store
	Keys  KeyEraser
}

// Clients lists clients whose key is not erased.
func (a Accounts) Clients() ([]Client, error) {
	users, err := a.Users.Users(identity.RoleClient)
	if err != nil {
		return nil, err
	}
	out := make([]Client, 0, len(users))
	for _, u := range users {
		out = append(out, Client{ID: u.ID, Deactivated: u.Status == identity.StatusDeactivated,
			Units: u.Units, CreatedAt: u.CreatedAt, LastActiveAt: u.LastActiveAt})
	}
	return out, nil
}

// UnitKinds maps every unit to its kind.
func (a Accounts) UnitKinds() (map[uint64]string, error) {
	units, err := a.Users.Units()
	if err != nil {
		return nil, err
	}
	kinds := make(map[uint64]string, len(units))
	for _, u := range units {
		kinds[u.ID] = u.Kind
	}
	return kinds, nil
}

// Erase erases the account with identity's EraseUser when the store has
// it (work in progress in appliance/identity/erase.go), else it
// deactivates the account and erases its key.
func (a Accounts) Erase(id uint64) error {
	if full, ok := any(a.Users).(interface{ EraseUser(uint64, bool) error }); ok {
		if err := full.EraseUser(id, false); err != nil && !errors.Is(err, identity.ErrNotFound) {
			return err
		}
		return nil
	}
	if err := a.Users.SetStatus(id, identity.StatusDeactivated); err != nil && !errors.Is(err, identity.ErrNotFound) {
		return fmt.Errorf("deactivate: %w", err)
	}
	if err := a.Keys.Erase(identity.Subject(id)); err != nil {
		return fmt.Errorf("erase the key: %w", err)
	}
	return nil
}
