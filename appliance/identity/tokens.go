package identity

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"time"

	"go.etcd.io/bbolt"

	"clinicbox/storage"
)

// TokenKind says what a link is for.
type TokenKind string

const (
	TokenSetup  TokenKind = "setup"  // first admin / new staff: set password and second factor (24 h)
	TokenInvite TokenKind = "invite" // client or relative invitation (7 days)
)

// Token is a single-use link as stored: only its SHA-256, so a copy of the
// database does not hold working links.
type Token struct {
	Kind      TokenKind `json:"kind"`
	UserID    uint64    `json:"user_id"`
	ExpiresAt time.Time `json:"expires_at"`
	UsedAt    time.Time `json:"used_at,omitempty"`
}

func newSecret() (string, []byte, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, err
	}
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	return tok, hashToken(tok), nil
}

func hashToken(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

// NewToken makes a link for a user, valid for ttl.
func (s *Store) NewToken(kind TokenKind, userID uint64, ttl time.Duration) (string, error) {
	tok, key, err := newSecret()
	if err != nil {
		return "", err
	}
	t := Token{Kind: kind, UserID: userID, ExpiresAt: s.now().Add(ttl).UTC()}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		if _, err := s.record(tx, userID); err != nil {
			return err
		}
		return storage.Put(tx.Bucket(bucketTokens), key, t)
	})
	return tok, err
}

// PeekToken checks a link without spending it (showing the form).
func (s *Store) PeekToken(kind TokenKind, tok string) (Token, error) {
	var t Token
	err := s.db.View(func(tx *bbolt.Tx) (err error) {
		t, err = s.checkToken(tx, kind, tok)
		return err
	})
	return t, err
}

// UseToken spends a link; a second use fails with ErrTokenUsed.
func (s *Store) UseToken(kind TokenKind, tok string) (Token, error) {
	var t Token
	err := s.db.Batch(func(tx *bbolt.Tx) (err error) {
		if t, err = s.checkToken(tx, kind, tok); err != nil {
			return err
		}
		t.UsedAt = s.now().UTC()
		return storage.Put(tx.Bucket(bucketTokens), hashToken(tok), t)
	})
	return t, err
}

func (s *Store) checkToken(tx *bbolt.Tx, kind TokenKind, tok string) (Token, error) {
	if len(tok) != 43 {
		return Token{}, ErrTokenInvalid
	}
	t, ok, err := storage.Get[Token](tx.Bucket(bucketTokens), hashToken(tok))
	switch {
	case err != nil:
		return t, err
	case !ok || t.Kind != kind:
		return t, ErrTokenInvalid
	case !t.UsedAt.IsZero():
		return t, ErrTokenUsed
	case s.now().After(t.ExpiresAt):
		return t, ErrTokenExpired
	}
	return t, nil
}
