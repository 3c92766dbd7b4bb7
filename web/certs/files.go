package certs

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// defaultReloadInterval is how often files mode looks at the certificate
// and key on disk. Reading two small files every half minute is nothing,
// and an administrator who replaced them sees the change within a minute.
const defaultReloadInterval = 30 * time.Second

// fileCert serves a certificate and key that an administrator (or an
// external tool such as a corporate PKI agent) keeps on disk.
type fileCert struct {
	certPath, keyPath string
	cur               atomic.Pointer[tls.Certificate]
}

// fileSig identifies the content of the pair. Content, not mtime and size:
// a renewed certificate often has exactly the old size, and coarse file
// system timestamps can hide a quick replacement.
type fileSig [sha256.Size]byte

// read returns the pair's bytes and their signature.
func (f *fileCert) read() (certPEM, keyPEM []byte, sig fileSig, err error) {
	certPEM, err = os.ReadFile(f.certPath)
	if err != nil {
		return nil, nil, sig, fmt.Errorf("certs: cert-file %s: %w", f.certPath, pathErr(err))
	}
	keyPEM, err = os.ReadFile(f.keyPath)
	if err != nil {
		return nil, nil, sig, fmt.Errorf("certs: key-file %s: %w", f.keyPath, pathErr(err))
	}
	h := sha256.New()
	h.Write(certPEM)
	h.Write([]byte{0})
	h.Write(keyPEM)
	copy(sig[:], h.Sum(nil))
	return certPEM, keyPEM, sig, nil
}

// parse turns the pair into a certificate, naming the file at fault.
func (f *fileCert) parse(certPEM, keyPEM []byte) (*tls.Certificate, error) {
	block, _ := pem.Decode(certPEM)
	for block != nil && block.Type != "CERTIFICATE" {
		block, _ = pem.Decode(nil)
	}
	if block == nil {
		return nil, fmt.Errorf("certs: cert-file %s: no PEM certificate found", f.certPath)
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return nil, fmt.Errorf("certs: cert-file %s: %w", f.certPath, err)
	}
	if _, err := parseSigner(keyPEM); err != nil {
		return nil, fmt.Errorf("certs: key-file %s: %w", f.keyPath, err)
	}
	tc, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: key-file %s does not match cert-file %s: %w", f.keyPath, f.certPath, err)
	}
	if tc.Leaf == nil {
		if tc.Leaf, err = x509.ParseCertificate(tc.Certificate[0]); err != nil {
			return nil, fmt.Errorf("certs: cert-file %s: %w", f.certPath, err)
		}
	}
	return &tc, nil
}

// load reads and installs the pair; on any error the current certificate
// stays in service.
func (f *fileCert) load() (fileSig, error) {
	certPEM, keyPEM, sig, err := f.read()
	if err != nil {
		return sig, err
	}
	tc, err := f.parse(certPEM, keyPEM)
	if err != nil {
		return sig, err
	}
	f.cur.Store(tc)
	return sig, nil
}

// watch polls the pair until ctx ends. A change is acted on only once two
// polls in a row saw the same content: an administrator who copies the
// certificate and then the key must not trigger a "mismatch" in between.
// Each distinct bad content is reported once, not at every poll.
func (f *fileCert) watch(ctx context.Context, interval time.Duration, loaded fileSig, report func(*tls.Certificate, error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	seen := loaded  // content seen at the previous poll
	tried := loaded // content last installed or refused
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		certPEM, keyPEM, sig, err := f.read()
		if err != nil {
			// An unreadable pair goes through the same settling as new
			// content: a file briefly missing during a replacement is
			// normal, one that stays missing is reported once.
			sig = sha256.Sum256([]byte("unreadable: " + err.Error()))
		}
		if sig != seen {
			seen = sig
			continue // let it settle for one more interval
		}
		if sig == tried {
			continue
		}
		tried = sig
		var tc *tls.Certificate
		if err == nil {
			if tc, err = f.parse(certPEM, keyPEM); err == nil {
				f.cur.Store(tc)
			}
		}
		report(tc, err)
	}
}

// errNoFileCert is returned during a handshake before any certificate was
// loaded; New makes that impossible, but a nil certificate must not panic.
var errNoFileCert = errors.New("certs: no certificate loaded")
