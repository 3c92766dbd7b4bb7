package passkey

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"clinicbox/storage"
)

// Errors of the ceremonies, beside the store's.
var (
	ErrNoCeremony        = errors.New("passkey: no passkey request is waiting (it expired after 5 minutes, was already answered, or began in another session)")
	ErrInvalid           = errors.New("passkey: the authenticator's answer could not be verified")
	ErrUnknownCredential = errors.New("passkey: this passkey is not registered for this account")
	ErrNoPasskey         = errors.New("passkey: the account has no passkey")
	ErrBusy              = errors.New("passkey: too many passkey requests are waiting; try again in a few minutes")
)

// CeremonyTimeout is how long a challenge stays valid: the time a user has
// to touch the authenticator.
const CeremonyTimeout = 5 * time.Minute

// maxPending bounds the waiting challenges (one per session and kind).
const maxPending = 10000

// RP is the relying party of one ceremony. Its ID is the host name the
// user reached the box by; passkeys are bound to it, so one registered at
// https://clinic.example.se works only there.
type RP struct {
	ID     string // "clinic.example.se"
	Origin string // "https://clinic.example.se:8443"
	Name   string // what the authenticator shows: "clinicbox"
}

// User is a user as WebAuthn sees it.
type User struct {
	ID          uint64
	Name        string // the e-mail address: how authenticators list the account
	DisplayName string
	Credentials []Credential
}

var _ webauthn.User = User{}

// WebAuthnID is the user handle: the internal user id, 8 bytes, which
// names nobody.
func (u User) WebAuthnID() []byte { return storage.ID(u.ID) }

// WebAuthnName is the account's name in the authenticator.
func (u User) WebAuthnName() string { return u.Name }

// WebAuthnDisplayName is the person's name in the authenticator.
func (u User) WebAuthnDisplayName() string { return u.DisplayName }

// WebAuthnCredentials are the user's passkeys.
func (u User) WebAuthnCredentials() []webauthn.Credential {
	out := make([]webauthn.Credential, len(u.Credentials))
	for i, c := range u.Credentials {
		out[i] = c.WebAuthn
	}
	return out
}

type kind string

const (
	kindRegister kind = "register"
	kindLogin    kind = "login"
)

// pending is a challenge waiting for its answer. It lives in memory only:
// a restart loses at most five minutes of half-done ceremonies.
type pending struct {
	kind    kind
	userID  uint64
	rp      RP
	label   string
	data    webauthn.SessionData
	expires time.Time
}

// Ceremonies runs registrations and logins. Each challenge is kept here,
// server-side, under a key the caller binds to the login session; the
// answer must come in the same session, within CeremonyTimeout, and
// spends the challenge whether it verifies or not, so an answer cannot be
// replayed.
type Ceremonies struct {
	store *Store
	now   func() time.Time

	mu      sync.Mutex
	pending map[string]pending
}

// NewCeremonies returns a Ceremonies over store; now may be nil.
func NewCeremonies(store *Store, now func() time.Time) *Ceremonies {
	if now == nil {
		now = time.Now
	}
	return &Ceremonies{store: store, now: now, pending: map[string]pending{}}
}

// Store is the passkey store the ceremonies write to.
func (c *Ceremonies) Store() *Store { return c.store }

func relyingParty(rp RP) (*webauthn.WebAuthn, error) {
	timeout := webauthn.TimeoutConfig{Enforce: true, Timeout: CeremonyTimeout, TimeoutUVD: CeremonyTimeout}
	return webauthn.New(&webauthn.Config{
		RPID:                  rp.ID,
		RPDisplayName:         rp.Name,
		RPOrigins:             []string{rp.Origin},
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementPreferred,
			UserVerification: protocol.VerificationPreferred,
		},
		Timeouts: webauthn.TimeoutsConfig{Login: timeout, Registration: timeout},
	})
}

func (c *Ceremonies) put(key string, p pending) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if len(c.pending) >= maxPending {
		for k, old := range c.pending {
			if now.After(old.expires) {
				delete(c.pending, k)
			}
		}
	}
	if _, replacing := c.pending[key]; !replacing && len(c.pending) >= maxPending {
		return ErrBusy
	}
	p.expires = now.Add(CeremonyTimeout)
	c.pending[key] = p
	return nil
}

// take removes and returns the challenge waiting under key. It is spent
// whatever follows: a wrong answer needs a new challenge.
func (c *Ceremonies) take(key string, k kind, userID uint64, rp RP) (pending, error) {
	c.mu.Lock()
	p, ok := c.pending[key+"/"+string(k)]
	delete(c.pending, key+"/"+string(k))
	c.mu.Unlock()
	if !ok || p.kind != k || p.userID != userID || p.rp != rp || c.now().After(p.expires) {
		return pending{}, ErrNoCeremony
	}
	return p, nil
}

// BeginRegistration makes the options for navigator.credentials.create:
// a new challenge, the user, and the user's passkeys to exclude (the same
// authenticator is not registered twice). The label is checked now, before
// the authenticator makes a key.
func (c *Ceremonies) BeginRegistration(key string, rp RP, u User, label string) (*protocol.CredentialCreation, error) {
	label, err := CleanLabel(label, "")
	if err != nil {
		return nil, err
	}
	wa, err := relyingParty(rp)
	if err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	exclude := webauthn.Credentials(u.WebAuthnCredentials()).CredentialDescriptors()
	creation, data, err := wa.BeginRegistration(u,
		webauthn.WithExclusions(exclude),
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementPreferred),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation))
	if err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	err = c.put(key+"/"+string(kindRegister), pending{kind: kindRegister, userID: u.ID, rp: rp, label: label, data: *data})
	return creation, err
}

// FinishRegistration verifies the authenticator's answer (the JSON of the
// PublicKeyCredential) against the challenge waiting under key and stores
// the new passkey.
func (c *Ceremonies) FinishRegistration(key string, rp RP, u User, response []byte) (Credential, error) {
	p, err := c.take(key, kindRegister, u.ID, rp)
	if err != nil {
		return Credential{}, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return Credential{}, invalid(err)
	}
	wa, err := relyingParty(rp)
	if err != nil {
		return Credential{}, fmt.Errorf("passkey: %w", err)
	}
	cred, err := wa.CreateCredential(u, p.data, parsed)
	if err != nil {
		return Credential{}, invalid(err)
	}
	pk := Credential{WebAuthn: *cred, Label: p.label, CreatedAt: c.now().UTC()}
	if err := c.store.Add(u.ID, pk); err != nil {
		return Credential{}, err
	}
	return pk, nil
}

// BeginLogin makes the options for navigator.credentials.get, listing
// the user's passkeys.
func (c *Ceremonies) BeginLogin(key string, rp RP, u User) (*protocol.CredentialAssertion, error) {
	if len(u.Credentials) == 0 {
		return nil, ErrNoPasskey
	}
	wa, err := relyingParty(rp)
	if err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	assertion, data, err := wa.BeginLogin(u, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	err = c.put(key+"/"+string(kindLogin), pending{kind: kindLogin, userID: u.ID, rp: rp, data: *data})
	return assertion, err
}

// FinishLogin verifies the authenticator's answer against the challenge
// waiting under key and records the use (UpdateAfterLogin, which refuses
// a copied passkey). It returns the passkey used.
func (c *Ceremonies) FinishLogin(key string, rp RP, u User, response []byte) (Credential, error) {
	p, err := c.take(key, kindLogin, u.ID, rp)
	if err != nil {
		return Credential{}, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return Credential{}, invalid(err)
	}
	var used *Credential
	for i := range u.Credentials {
		if bytes.Equal(u.Credentials[i].ID(), parsed.RawID) {
			used = &u.Credentials[i]
		}
	}
	if used == nil {
		return Credential{}, ErrUnknownCredential
	}
	if !used.ClonedAt.IsZero() {
		return Credential{}, ErrCloned
	}
	wa, err := relyingParty(rp)
	if err != nil {
		return Credential{}, fmt.Errorf("passkey: %w", err)
	}
	cred, err := wa.ValidateLogin(u, p.data, parsed)
	if err != nil {
		return Credential{}, invalid(err)
	}
	if err := c.store.UpdateAfterLogin(u.ID, *cred); err != nil {
		return Credential{}, err
	}
	out := *used
	out.WebAuthn = *cred
	return out, nil
}

// invalid wraps a go-webauthn error: the caller sees ErrInvalid, the log
// the library's detail.
func invalid(err error) error {
	detail := err.Error()
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.DevInfo != "" {
		detail += " (" + pe.DevInfo + ")"
	}
	return fmt.Errorf("%w: %s", ErrInvalid, detail)
}
