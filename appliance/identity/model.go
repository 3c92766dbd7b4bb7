// Package identity holds who may use the box: units (mottagningar), users
// and their roles, passwords and second factors, set-up links and
// sessions.
//
// Personal fields of a user (name, e-mail, phone, title, personnummer) are
// sealed with that user's own data key from the key store
// (storage/keystore), so erasing the key erases them everywhere at once,
// also in freed database pages. E-mail addresses are found through a keyed
// hash (HMAC) index, never stored as plain keys.
//
//	units            id(8)            → Unit (JSON)
//	users            id(8)            → userRecord (JSON; personal fields sealed)
//	users-by-email   HMAC(email)(32)  → user id(8)
//	tokens           SHA-256(token)   → Token (set-up and invitation links)
//	sessions         SHA-256(token)   → Session
//	sessions-by-user user id(8) || SHA-256(token) → nil   (log out everywhere)
package identity

import (
	"errors"
	"fmt"
	"time"
)

// Role is what a user is on the box. Least privilege: each role sees only
// what its work needs.
type Role string

const (
	RoleAdmin      Role = "admin"      // manages staff, units, settings; reviews the access log
	RoleStaff      Role = "staff"      // clinicians: rooms, clients of their units
	RoleClient     Role = "client"     // patients
	RoleRelative   Role = "relative"   // a client's relative, with consent
	RoleTechnician Role = "technician" // system health only, never client data
)

// Roles lists every role, for validation and the route × role tests.
func Roles() []Role {
	return []Role{RoleAdmin, RoleStaff, RoleClient, RoleRelative, RoleTechnician}
}

// ParseRole validates a role name from a form or the command line.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles() {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("%q is not a role; use admin, staff, client, relative or technician", s)
}

// NeedsSecondFactor reports whether the role must pass TOTP (or a passkey)
// before it reaches anything: everyone who can see client data or manage
// the box.
func (r Role) NeedsSecondFactor() bool {
	return r == RoleAdmin || r == RoleStaff || r == RoleTechnician
}

// Status is where a user account is in its life.
type Status string

const (
	StatusPending     Status = "pending"     // created; the set-up link is not used yet
	StatusActive      Status = "active"      // can log in
	StatusDeactivated Status = "deactivated" // cannot log in; erased by the retention rules
)

// Unit is a mottagning: a part of the clinic with its own staff and clients.
type Unit struct {
	ID        uint64    `json:"id"`
	Name      string    `json:"name"`
	Kind      string    `json:"kind"` // "standard" or "digital-care" (shorter retention)
	CreatedAt time.Time `json:"created_at"`
}

// Profile is a user's personal data, sealed at rest with the user's key.
type Profile struct {
	Name         string `json:"name"`
	Email        string `json:"email,omitempty"`
	Phone        string `json:"phone,omitempty"`
	Title        string `json:"title,omitempty"`         // staff
	Personnummer string `json:"personnummer,omitempty"`  // canonical digits
	NameFromEID  bool   `json:"name_from_eid,omitempty"` // name and personnummer came from eID: not editable by the user
}

// User is one account, with its profile opened.
type User struct {
	ID          uint64
	Role        Role
	Status      Status
	Units       []uint64
	Profile     Profile
	Lang        string
	HasPassword bool
	HasTOTP     bool
	HasPasskey  bool // at least one passkey (passkeys.go)
	// The channels the user wants notifications on, besides the live
	// one in the app (notify.go); each is true only while the user has
	// the contact detail it needs.
	NotifyEmail bool
	NotifySMS   bool
	// The version of the terms and privacy policy the user accepted, and
	// when; a new version asks again.
	TermsVersion  string
	TermsAccepted time.Time
	CreatedAt     time.Time
	LastActiveAt  time.Time
}

// Errors the web layer maps to status codes and messages.
var (
	ErrNameMissing    = errors.New("identity: a name of 1 to 200 characters is needed")
	ErrEmailInvalid   = errors.New("identity: not an e-mail address")
	ErrCodeMismatch   = errors.New("identity: the code does not match")
	ErrNotFound       = errors.New("identity: not found")
	ErrEmailTaken     = errors.New("identity: a user with this e-mail address already exists")
	ErrBadLogin       = errors.New("identity: wrong e-mail address, password or code")
	ErrTokenInvalid   = errors.New("identity: this link is not valid")
	ErrTokenExpired   = errors.New("identity: this link has expired")
	ErrTokenUsed      = errors.New("identity: this link has already been used")
	ErrNoSession      = errors.New("identity: not logged in")
	ErrSessionExpired = errors.New("identity: the session has expired")
)
