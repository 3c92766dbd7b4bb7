package keystore

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"

	"golang.org/x/crypto/chacha20poly1305"
)

const (
	keySize = chacha20poly1305.KeySize // master and data keys

	// Ciphertexts.
	sealVersion  = 1
	nonceSize    = chacha20poly1305.NonceSizeX
	sealOverhead = 1 + nonceSize + chacha20poly1305.Overhead

	// subjects.keys.
	fileMagic      = "CBXKEYS"
	fileVersion    = 1
	fingerprintLen = 8
	headerLen      = len(fileMagic) + 1 + fingerprintLen + 4
	macLen         = sha256.Size
	wrappedLen     = nonceSize + keySize + chacha20poly1305.Overhead
	maxSubjectLen  = 255
	minEntryLen    = 1 + 1 + wrappedLen

	// HKDF info strings: one key per purpose, all from the master key.
	infoWrap        = "clinicbox/keystore/v1 wrap"
	infoMAC         = "clinicbox/keystore/v1 file mac"
	infoFingerprint = "clinicbox/keystore/v1 fingerprint"
	infoDerive      = "clinicbox/keystore/v1 derive"
)

// masterKeys are the keys derived from master.key.
type masterKeys struct {
	wrap        cipher.AEAD
	mac         []byte
	derive      []byte // the root of DeriveKey's purpose keys
	fingerprint [fingerprintLen]byte
}

func deriveKeys(master []byte) (*masterKeys, error) {
	wk, err := hkdf.Key(sha256.New, master, nil, infoWrap, keySize)
	if err != nil {
		return nil, fmt.Errorf("keys: derive wrap key: %w", err)
	}
	wrap, err := chacha20poly1305.NewX(wk)
	clear(wk)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	mk, err := hkdf.Key(sha256.New, master, nil, infoMAC, sha256.Size)
	if err != nil {
		return nil, fmt.Errorf("keys: derive MAC key: %w", err)
	}
	fp, err := hkdf.Key(sha256.New, master, nil, infoFingerprint, fingerprintLen)
	if err != nil {
		return nil, fmt.Errorf("keys: derive fingerprint: %w", err)
	}
	dk, err := hkdf.Key(sha256.New, master, nil, infoDerive, sha256.Size)
	if err != nil {
		return nil, fmt.Errorf("keys: derive: %w", err)
	}
	mks := &masterKeys{wrap: wrap, mac: mk, derive: dk}
	copy(mks.fingerprint[:], fp)
	return mks, nil
}

// validSubject reports whether id can be stored: 1 to 255 bytes of UTF-8.
func validSubject(id string) error {
	if len(id) == 0 || len(id) > maxSubjectLen || !utf8.ValidString(id) {
		return fmt.Errorf("keys: subject id must be 1 to %d bytes of UTF-8, got %d bytes", maxSubjectLen, len(id))
	}
	return nil
}

// fileEntry is one subject in subjects.keys.
type fileEntry struct {
	subject string
	wrapped []byte // wrappedLen bytes; aliases the file's bytes after parseFile
}

// encodeFile lays out a whole subjects.keys. n is the number of entries
// each yields; the bytes are appended in the order each gives them.
func encodeFile(mk *masterKeys, n int, size int, each func(yield func(subject string, wrapped []byte))) []byte {
	buf := make([]byte, 0, headerLen+size+macLen)
	buf = append(buf, fileMagic...)
	buf = append(buf, fileVersion)
	buf = append(buf, mk.fingerprint[:]...)
	buf = binary.BigEndian.AppendUint32(buf, uint32(n))
	each(func(subject string, wrapped []byte) {
		buf = append(buf, byte(len(subject)))
		buf = append(buf, subject...)
		buf = append(buf, wrapped...)
	})
	m := hmac.New(sha256.New, mk.mac)
	m.Write(buf)
	return m.Sum(buf)
}

// fileLayout is subjects.keys parsed but not yet authenticated.
type fileLayout struct {
	fingerprint []byte
	entries     []fileEntry
	body        []byte // every byte the MAC covers
	mac         []byte
}

// parseLayout checks the structure of subjects.keys without any key: the
// header, that the entries fill the file exactly, and no duplicates. It
// is also how Open tells whether a file without its master key holds any
// keys.
func parseLayout(data []byte) (*fileLayout, error) {
	if len(data) < headerLen+macLen {
		return nil, fmt.Errorf("%d bytes is too short for a key store file", len(data))
	}
	if string(data[:len(fileMagic)]) != fileMagic {
		return nil, errors.New("not a clinicbox key store file")
	}
	if v := data[len(fileMagic)]; v != fileVersion {
		return nil, fmt.Errorf("unknown format version %d", v)
	}
	l := &fileLayout{
		fingerprint: data[len(fileMagic)+1 : len(fileMagic)+1+fingerprintLen],
		body:        data[:len(data)-macLen],
		mac:         data[len(data)-macLen:],
	}
	count := binary.BigEndian.Uint32(data[headerLen-4 : headerLen])
	rest := l.body[headerLen:]
	if uint64(count) > uint64(len(rest)/minEntryLen) {
		return nil, fmt.Errorf("it says %d keys but is only %d bytes long", count, len(data))
	}
	l.entries = make([]fileEntry, 0, count)
	seen := make(map[string]struct{}, count)
	for i := range count {
		if len(rest) < 1 {
			return nil, fmt.Errorf("entry %d is cut short", i)
		}
		n := int(rest[0])
		if n == 0 || len(rest) < 1+n+wrappedLen {
			return nil, fmt.Errorf("entry %d is cut short or malformed", i)
		}
		subject := string(rest[1 : 1+n])
		if validSubject(subject) != nil {
			return nil, fmt.Errorf("entry %d has an invalid subject id", i)
		}
		if _, dup := seen[subject]; dup {
			return nil, fmt.Errorf("entry %d repeats a subject", i)
		}
		seen[subject] = struct{}{}
		l.entries = append(l.entries, fileEntry{subject: subject, wrapped: rest[1+n : 1+n+wrappedLen]})
		rest = rest[1+n+wrappedLen:]
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%d unexpected bytes after the last key", len(rest))
	}
	return l, nil
}

// authenticate checks the file's MAC with the master key. A mismatch
// with a foreign fingerprint means the wrong master.key, otherwise damage.
func (l *fileLayout) authenticate(mk *masterKeys) (wrongMaster bool, ok bool) {
	m := hmac.New(sha256.New, mk.mac)
	m.Write(l.body)
	if hmac.Equal(m.Sum(nil), l.mac) {
		return false, true
	}
	return !hmac.Equal(l.fingerprint, mk.fingerprint[:]), false
}

// wrapKey seals a data key for subject with the master wrap key into dst
// (wrappedLen bytes): nonce || sealed key || tag. The subject id is the
// additional data, so a wrapped key cannot be moved to another subject.
func wrapKey(mk *masterKeys, subject string, key, nonce, dst []byte) {
	copy(dst, nonce)
	mk.wrap.Seal(dst[nonceSize:nonceSize], dst[:nonceSize], key, []byte(subject))
}

// unwrapKey opens a wrapped data key into dst (keySize bytes).
func unwrapKey(mk *masterKeys, subject string, wrapped, dst []byte) error {
	if len(wrapped) != wrappedLen {
		return errors.New("wrapped key has the wrong length")
	}
	_, err := mk.wrap.Open(dst[:0], wrapped[:nonceSize], wrapped[nonceSize:], []byte(subject))
	return err
}

// splitCiphertext checks a ciphertext's framing and returns its nonce and
// sealed part. It never looks at key material, so it is safe on any input.
func splitCiphertext(ct []byte) (nonce, sealed []byte, err error) {
	if len(ct) < sealOverhead {
		return nil, nil, decryptError(fmt.Sprintf("%d bytes is too short for a ciphertext", len(ct)))
	}
	if ct[0] != sealVersion {
		return nil, nil, decryptError(fmt.Sprintf("unknown ciphertext version %d", ct[0]))
	}
	return ct[1 : 1+nonceSize], ct[1+nonceSize:], nil
}

// sealAD is the AEAD's additional data: the version byte, then the
// caller's aad, so the version is authenticated too.
func sealAD(aad []byte) []byte {
	ad := make([]byte, 0, 1+len(aad))
	ad = append(ad, sealVersion)
	return append(ad, aad...)
}
