package identity

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"time"

	"go.etcd.io/bbolt"

	"clinicbox/storage"
)

// Session timeouts. Staff and admins work with client data on shared
// clinic computers: a short idle timeout. Everyone has an absolute limit.
const (
	IdleTimeoutStaff  = 30 * time.Minute
	IdleTimeoutClient = 60 * time.Minute
	AbsoluteTimeout   = 12 * time.Hour
)

// IdleTimeout is the inactivity after which a role's session ends.
func IdleTimeout(r Role) time.Duration {
	if r == RoleClient || r == RoleRelative {
		return IdleTimeoutClient
	}
	return IdleTimeoutStaff
}

// Session is a login as stored under SHA-256(token).
type Session struct {
	UserID    uint64    `json:"user_id"`
	Role      Role      `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	SeenAt    time.Time `json:"seen_at"`
	// Complete is false between the password and the second factor:
	// such a session reaches nothing but the second-factor page.
	Complete bool `json:"complete"`
	// csrfKey signs the session's CSRF tokens; random per session.
	CSRFKey []byte `json:"csrf_key"`
}

// CSRFToken is the token forms of this session carry.
func (s Session) CSRFToken() string {
	m := hmac.New(sha256.New, s.CSRFKey)
	m.Write([]byte("csrf"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// ValidCSRF compares a submitted token in constant time.
func (s Session) ValidCSRF(tok string) bool {
	if len(s.CSRFKey) == 0 {
		return false
	}
	return hmac.Equal([]byte(tok), []byte(s.CSRFToken()))
}

// StartSession creates a session; complete says whether every factor the
// role needs has been passed.
func (s *Store) StartSession(u User, complete bool) (string, Session, error) {
	tok, key, err := newSecret()
	if err != nil {
		return "", Session{}, err
	}
	_, csrf, err := newSecret()
	if err != nil {
		return "", Session{}, err
	}
	now := s.now().UTC()
	sess := Session{UserID: u.ID, Role: u.Role, CreatedAt: now, SeenAt: now, Complete: complete, CSRFKey: csrf}
	err = s.db.Batch(func(tx *bbolt.Tx) error {
		if _, err := s.record(tx, u.ID); err != nil {
			return err
		}
		if err := storage.Put(tx.Bucket(bucketSessions), key, sess); err != nil {
			return err
		}
		return tx.Bucket(bucketSessionsByUser).Put(append(storage.ID(u.ID), key...), nil)
	})
	return tok, sess, err
}

// seenGranularity bounds writes: a session's last-seen time is stored at
// most once a minute, not on every request.
const seenGranularity = time.Minute

// Session looks a token up, enforcing idle and absolute timeouts, and
// notes the activity.
func (s *Store) Session(tok string) (Session, error) {
	sess, err := s.PeekSession(tok)
	if err != nil {
		return sess, err
	}
	now := s.now()
	if now.Sub(sess.SeenAt) > seenGranularity {
		sess.SeenAt = now.UTC()
		key := hashToken(tok)
		err = s.db.Batch(func(tx *bbolt.Tx) error {
			if tx.Bucket(bucketSessions).Get(key) == nil {
				return ErrNoSession // ended meanwhile
			}
			return storage.Put(tx.Bucket(bucketSessions), key, sess)
		})
	}
	return sess, err
}

// PeekSession checks a session without counting it as activity: an open
// browser tab's live connection must not keep an idle session alive.
func (s *Store) PeekSession(tok string) (Session, error) {
	if len(tok) != 43 {
		return Session{}, ErrNoSession
	}
	key := hashToken(tok)
	var sess Session
	err := s.db.View(func(tx *bbolt.Tx) error {
		v, ok, err := storage.Get[Session](tx.Bucket(bucketSessions), key)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNoSession
		}
		sess = v
		return nil
	})
	if err != nil {
		return sess, err
	}
	now := s.now()
	if now.Sub(sess.SeenAt) > IdleTimeout(sess.Role) || now.Sub(sess.CreatedAt) > AbsoluteTimeout {
		s.EndSession(tok)
		return Session{}, ErrSessionExpired
	}
	return sess, nil
}

// CompleteSession marks the second factor as passed. The token changes,
// so a token seen before login (session fixation) is worthless after. The
// old session must still be live and belong to u; the swap is one
// transaction, so a logout or deactivation racing it wins.
func (s *Store) CompleteSession(tok string, u User) (string, Session, error) {
	newTok, newKey, err := newSecret()
	if err != nil {
		return "", Session{}, err
	}
	_, csrf, err := newSecret()
	if err != nil {
		return "", Session{}, err
	}
	now := s.now()
	oldKey := hashToken(tok)
	sess := Session{UserID: u.ID, Role: u.Role, CreatedAt: now.UTC(), SeenAt: now.UTC(), Complete: true, CSRFKey: csrf}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		old, ok, err := storage.Get[Session](tx.Bucket(bucketSessions), oldKey)
		switch {
		case err != nil:
			return err
		case !ok || old.UserID != u.ID:
			return ErrNoSession
		case now.Sub(old.SeenAt) > IdleTimeout(old.Role) || now.Sub(old.CreatedAt) > AbsoluteTimeout:
			return ErrSessionExpired
		}
		rec, err := s.record(tx, u.ID)
		if err != nil {
			return err
		}
		if rec.Status == StatusDeactivated {
			return ErrNoSession
		}
		byUser := tx.Bucket(bucketSessionsByUser)
		if err := byUser.Delete(append(storage.ID(u.ID), oldKey...)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketSessions).Delete(oldKey); err != nil {
			return err
		}
		if err := storage.Put(tx.Bucket(bucketSessions), newKey, sess); err != nil {
			return err
		}
		return byUser.Put(append(storage.ID(u.ID), newKey...), nil)
	})
	if err != nil {
		return "", Session{}, err
	}
	return newTok, sess, nil
}

// EndSession logs one session out.
func (s *Store) EndSession(tok string) error {
	key := hashToken(tok)
	return s.db.Batch(func(tx *bbolt.Tx) error {
		sess, ok, err := storage.Get[Session](tx.Bucket(bucketSessions), key)
		if err != nil || !ok {
			return err
		}
		tx.Bucket(bucketSessionsByUser).Delete(append(storage.ID(sess.UserID), key...))
		return tx.Bucket(bucketSessions).Delete(key)
	})
}

// EndAllSessions logs a user out everywhere.
func (s *Store) EndAllSessions(userID uint64) error { return s.endOtherSessions(userID, "") }

// PurgeExpiredSessions removes sessions past their timeouts (run daily);
// it returns how many went.
func (s *Store) PurgeExpiredSessions() (int, error) {
	now := s.now()
	n := 0
	err := s.db.Update(func(tx *bbolt.Tx) error {
		sessions := tx.Bucket(bucketSessions)
		var dead [][]byte
		var owners []uint64
		err := sessions.ForEach(func(k, v []byte) error {
			sess, err := storage.Decode[Session](v)
			if err != nil || now.Sub(sess.SeenAt) > IdleTimeout(sess.Role) || now.Sub(sess.CreatedAt) > AbsoluteTimeout {
				dead = append(dead, bytes.Clone(k))
				owners = append(owners, sess.UserID)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for i, k := range dead {
			sessions.Delete(k)
			tx.Bucket(bucketSessionsByUser).Delete(append(storage.ID(owners[i]), k...))
		}
		n = len(dead)
		return nil
	})
	return n, err
}
