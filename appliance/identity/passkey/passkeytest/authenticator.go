// Package passkeytest is a software WebAuthn authenticator for tests: it
// answers the options the box's ceremonies send, as a browser with a
// platform authenticator would (attestation "none", ES256 keys, a
// signature counter per credential), so the Go tests can drive both
// ceremonies and tamper with the answers. It is never used by the box.
package passkeytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
)

// Authenticator holds credentials like a platform authenticator. Origin
// is what it writes into the client data (the page's origin).
type Authenticator struct {
	Origin string
	creds  map[string]*credential
}

type credential struct {
	id         []byte
	rpID       string
	userHandle []byte
	key        *ecdsa.PrivateKey
	counter    uint32
}

// New returns an authenticator that answers for a page at origin
// ("https://localhost:8443").
func New(origin string) *Authenticator {
	return &Authenticator{Origin: origin, creds: map[string]*credential{}}
}

var b64 = base64.RawURLEncoding

// Flags of authenticator data.
const (
	flagUP = 0x01
	flagUV = 0x04
	flagAT = 0x40
)

// Create answers navigator.credentials.create: options is the JSON the
// box sent ({"publicKey": …}); the result is the JSON the page posts back.
func (a *Authenticator) Create(options []byte) ([]byte, error) {
	var cc protocol.CredentialCreation
	if err := json.Unmarshal(options, &cc); err != nil {
		return nil, err
	}
	opts := cc.Response
	handleStr, ok := opts.User.ID.(string)
	if !ok {
		return nil, errors.New("passkeytest: user.id is not a string")
	}
	handle, err := b64.DecodeString(handleStr)
	if err != nil {
		return nil, err
	}
	for _, ex := range opts.CredentialExcludeList {
		if c, ok := a.creds[string(ex.CredentialID)]; ok && c.rpID == opts.RelyingParty.ID {
			return nil, errors.New("passkeytest: InvalidStateError: already registered")
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	id := make([]byte, 32)
	rand.Read(id)
	c := &credential{id: id, rpID: opts.RelyingParty.ID, userHandle: handle, key: key}
	a.creds[string(id)] = c

	ecdh, err := key.PublicKey.ECDH()
	if err != nil {
		return nil, err
	}
	raw := ecdh.Bytes() // 0x04 || X || Y
	cose, err := webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
		PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(webauthncose.AlgES256)},
		Curve:         1, // P-256
		XCoord:        raw[1:33],
		YCoord:        raw[33:],
	})
	if err != nil {
		return nil, err
	}
	authData := a.authData(c.rpID, flagUP|flagUV|flagAT, c.counter)
	authData = append(authData, make([]byte, 16)...) // AAGUID: none
	authData = binary.BigEndian.AppendUint16(authData, uint16(len(id)))
	authData = append(authData, id...)
	authData = append(authData, cose...)
	attObj, err := webauthncbor.Marshal(struct {
		Fmt      string         `cbor:"fmt"`
		AttStmt  map[string]any `cbor:"attStmt"`
		AuthData []byte         `cbor:"authData"`
	}{"none", map[string]any{}, authData})
	if err != nil {
		return nil, err
	}
	clientData := a.clientData("webauthn.create", opts.Challenge)
	return json.Marshal(map[string]any{
		"id":                      b64.EncodeToString(id),
		"rawId":                   b64.EncodeToString(id),
		"type":                    "public-key",
		"authenticatorAttachment": "platform",
		"clientExtensionResults":  map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(clientData),
			"attestationObject": b64.EncodeToString(attObj),
			"transports":        []string{"internal"},
		},
	})
}

// Get answers navigator.credentials.get with the first allowed credential
// this authenticator holds for the RP; each answer counts up.
func (a *Authenticator) Get(options []byte) ([]byte, error) {
	var ca protocol.CredentialAssertion
	if err := json.Unmarshal(options, &ca); err != nil {
		return nil, err
	}
	opts := ca.Response
	var c *credential
	for _, allowed := range opts.AllowedCredentials {
		if found, ok := a.creds[string(allowed.CredentialID)]; ok && found.rpID == opts.RelyingPartyID {
			c = found
			break
		}
	}
	if c == nil {
		return nil, errors.New("passkeytest: NotAllowedError: no credential for this site")
	}
	c.counter++
	return a.sign(c, opts.Challenge)
}

// GetWith answers with a given credential, allowed or not (to test a
// passkey the box does not know for this user).
func (a *Authenticator) GetWith(credID []byte, options []byte) ([]byte, error) {
	var ca protocol.CredentialAssertion
	if err := json.Unmarshal(options, &ca); err != nil {
		return nil, err
	}
	c, ok := a.creds[string(credID)]
	if !ok {
		return nil, errors.New("passkeytest: no such credential")
	}
	c.counter++
	return a.sign(c, ca.Response.Challenge)
}

// SetCounter sets a credential's signature counter (a copy of the key
// that has been used less).
func (a *Authenticator) SetCounter(credID []byte, n uint32) error {
	c, ok := a.creds[string(credID)]
	if !ok {
		return errors.New("passkeytest: no such credential")
	}
	c.counter = n
	return nil
}

// CredentialIDs lists the ids this authenticator holds.
func (a *Authenticator) CredentialIDs() [][]byte {
	var ids [][]byte
	for _, c := range a.creds {
		ids = append(ids, c.id)
	}
	return ids
}

func (a *Authenticator) sign(c *credential, challenge protocol.URLEncodedBase64) ([]byte, error) {
	authData := a.authData(c.rpID, flagUP|flagUV, c.counter)
	clientData := a.clientData("webauthn.get", challenge)
	h := sha256.Sum256(clientData)
	digest := sha256.Sum256(append(append([]byte{}, authData...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, c.key, digest[:])
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id":                      b64.EncodeToString(c.id),
		"rawId":                   b64.EncodeToString(c.id),
		"type":                    "public-key",
		"authenticatorAttachment": "platform",
		"clientExtensionResults":  map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(clientData),
			"authenticatorData": b64.EncodeToString(authData),
			"signature":         b64.EncodeToString(sig),
			"userHandle":        b64.EncodeToString(c.userHandle),
		},
	})
}

func (a *Authenticator) authData(rpID string, flags byte, counter uint32) []byte {
	h := sha256.Sum256([]byte(rpID))
	out := append(h[:], flags)
	return binary.BigEndian.AppendUint32(out, counter)
}

func (a *Authenticator) clientData(typ string, challenge protocol.URLEncodedBase64) []byte {
	b, _ := json.Marshal(map[string]any{
		"type":        typ,
		"challenge":   b64.EncodeToString(challenge),
		"origin":      a.Origin,
		"crossOrigin": false,
	})
	return b
}

// Tamper flips one bit of a field of the answer's response
// ("signature", "authenticatorData", "clientDataJSON"…).
func Tamper(answer []byte, field string) ([]byte, error) {
	var m map[string]any
	if err := json.Unmarshal(answer, &m); err != nil {
		return nil, err
	}
	resp, _ := m["response"].(map[string]any)
	s, _ := resp[field].(string)
	raw, err := b64.DecodeString(s)
	if err != nil || len(raw) == 0 {
		return nil, fmt.Errorf("passkeytest: no field %q", field)
	}
	raw[len(raw)/2] ^= 0x01
	resp[field] = b64.EncodeToString(raw)
	return json.Marshal(m)
}
