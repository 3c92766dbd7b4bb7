package certs

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/caddyserver/certmagic"
)

const (
	// rootLifetime is long because every device that installed the root must
	// install a new one when it ends; nothing but the box itself uses it.
	rootLifetime = 10 * 365 * 24 * time.Hour

	// leafLifetime is short so that a leaked leaf key is useless soon, and
	// because CertMagic renews it on its own at a third of its lifetime.
	leafLifetime = 7 * 24 * time.Hour

	// maxLeafLifetime is the most browsers accept (398 days, with a day of
	// margin); a longer leaf is rejected outright, even from a private root.
	maxLeafLifetime = 397 * 24 * time.Hour

	// backdate tolerates tablets and phones whose clocks run a little behind:
	// a certificate that is "not yet valid" is as broken as an expired one.
	backdate = time.Hour

	rootCertFile = "root.crt"
	rootKeyFile  = "root.key"
)

// localCA is the box's own certificate authority. It signs leaves directly
// with the root: an intermediate would live on the same disk with the same
// protection as the root, so it would add a file and no security.
//
// The root carries no name constraints although that would limit the damage
// of a stolen root key: the box's names and addresses change (a new DHCP
// lease, a renamed host), and a constrained root would then have to be
// reinstalled on every device of the clinic.
type localCA struct {
	cert    *x509.Certificate
	certPEM []byte
	key     crypto.Signer
	shortID string
	allowed map[string]bool // normalised names the CA may sign for
	now     func() time.Time
}

var _ certmagic.Issuer = (*localCA)(nil)

// IssuerKey names the root, not just "the local CA", so that leaves signed
// by a previous root (after an administrator deleted tls/ca/) are never
// served or renewed as if the new root had signed them.
func (ca *localCA) IssuerKey() string { return "clinicbox-local-" + ca.shortID }

// Issue signs csr with the root. It is the last line of defence for the
// "only configured names" rule, so it checks the names itself instead of
// trusting that CertMagic only asks for allowed ones.
func (ca *localCA) Issue(ctx context.Context, csr *x509.CertificateRequest) (*certmagic.IssuedCertificate, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("certs: local CA: bad CSR signature: %w", err)
	}
	if len(csr.EmailAddresses) > 0 || len(csr.URIs) > 0 {
		return nil, errors.New("certs: local CA: only DNS names and IP addresses can be certified")
	}
	if len(csr.DNSNames)+len(csr.IPAddresses) == 0 {
		return nil, errors.New("certs: local CA: CSR names nothing")
	}
	var ips []net.IP
	for _, n := range csr.DNSNames {
		if !ca.allowed[strings.ToLower(n)] {
			return nil, fmt.Errorf("certs: local CA refuses %q: not one of the box's names", n)
		}
	}
	for _, ip := range csr.IPAddresses {
		a, ok := netip.AddrFromSlice(ip)
		if !ok || !ca.allowed[a.Unmap().String()] {
			return nil, fmt.Errorf("certs: local CA refuses %s: not one of the box's addresses", ip)
		}
		ips = append(ips, net.IP(a.Unmap().AsSlice()))
	}

	now := ca.now()
	notAfter := now.Add(leafLifetime)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter // a leaf cannot outlive its root
	}
	if notAfter.Sub(now) < time.Hour {
		return nil, fmt.Errorf("certs: local CA root expires %s; delete the tls/ca directory to create a new root",
			ca.cert.NotAfter.UTC().Format(time.DateOnly))
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		NotBefore:             now.Add(-backdate),
		NotAfter:              notAfter,
		DNSNames:              csr.DNSNames,
		IPAddresses:           ips,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	// Certificate viewers (and some older clients) show the common name;
	// it must be one of the SANs to be harmless.
	if len(csr.DNSNames) > 0 && len(csr.DNSNames[0]) <= 64 {
		tmpl.Subject.CommonName = csr.DNSNames[0]
	} else if len(ips) > 0 {
		tmpl.Subject.CommonName = ips[0].String()
	}
	if tmpl.NotAfter.Sub(tmpl.NotBefore) > maxLeafLifetime {
		return nil, errors.New("certs: local CA: leaf lifetime exceeds what browsers accept")
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, csr.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("certs: local CA: signing: %w", err)
	}
	// Only the leaf: the root is the trust anchor the device already has,
	// and sending it in every handshake would only cost bytes.
	return &certmagic.IssuedCertificate{
		Certificate: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
	}, nil
}

// loadOrCreateCA returns the root kept in dir, creating it on first use.
// A root is never replaced silently: the clinic's devices trust it, so a
// damaged or half-present root is an error the administrator must see.
func loadOrCreateCA(dir string, now func() time.Time, log *slog.Logger) (*localCA, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("certs: data-dir %s: %w", dir, pathErr(err))
	}
	certPath := filepath.Join(dir, rootCertFile)
	keyPath := filepath.Join(dir, rootKeyFile)

	keyPEM, keyErr := os.ReadFile(keyPath)
	certPEM, certErr := os.ReadFile(certPath)
	switch {
	case errors.Is(keyErr, fs.ErrNotExist) && errors.Is(certErr, fs.ErrNotExist):
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("certs: local CA: %w", err)
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("certs: local CA: %w", err)
		}
		// The key is written before the certificate, so a crash in between
		// leaves a key without a certificate, which the next start repairs.
		keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
		if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
			return nil, fmt.Errorf("certs: local CA key %s: %w", keyPath, pathErr(err))
		}
		ca, err := newRootCert(key, certPath, now)
		if err != nil {
			return nil, err
		}
		log.Info("certs: created local CA", "ca", ca.cert.Subject.CommonName, "path", dir)
		return ca, nil
	case keyErr != nil && !errors.Is(keyErr, fs.ErrNotExist):
		return nil, fmt.Errorf("certs: local CA key %s: %w", keyPath, pathErr(keyErr))
	case certErr != nil && !errors.Is(certErr, fs.ErrNotExist):
		return nil, fmt.Errorf("certs: local CA certificate %s: %w", certPath, pathErr(certErr))
	case keyErr != nil:
		return nil, fmt.Errorf("certs: local CA key %s is missing but %s exists; restore the key, or delete %s to create a new root (devices must then install it again)",
			keyPath, certPath, dir)
	}

	key, err := parseSigner(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: local CA key %s: %w", keyPath, err)
	}
	if fi, err := os.Stat(keyPath); err == nil && fi.Mode().Perm()&0o077 != 0 {
		// Someone loosened it (a restore, a careless copy); tighten it
		// rather than refuse to start, and say so.
		log.Warn("certs: local CA key was readable by others; restricting it to 0600", "path", keyPath)
		if err := os.Chmod(keyPath, 0o600); err != nil {
			return nil, fmt.Errorf("certs: local CA key %s: %w", keyPath, pathErr(err))
		}
	}
	if errors.Is(certErr, fs.ErrNotExist) {
		// The previous start died between writing the key and the
		// certificate: no device can have installed this root yet.
		log.Warn("certs: local CA certificate missing next to its key; recreating it", "path", certPath)
		return newRootCert(key, certPath, now)
	}

	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("certs: local CA certificate %s: no PEM certificate", certPath)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("certs: local CA certificate %s: %w", certPath, err)
	}
	if !cert.IsCA || !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, fmt.Errorf("certs: local CA certificate %s does not belong to key %s", certPath, keyPath)
	}
	if now().After(cert.NotAfter) {
		return nil, fmt.Errorf("certs: local CA certificate %s expired on %s; delete %s to create a new root",
			certPath, cert.NotAfter.UTC().Format(time.DateOnly), dir)
	}
	return &localCA{
		cert:    cert,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}),
		key:     key,
		shortID: shortID(key.Public()),
		now:     now,
	}, nil
}

func newRootCert(key crypto.Signer, certPath string, now func() time.Time) (*localCA, error) {
	pub, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, fmt.Errorf("certs: local CA: %w", err)
	}
	ski := sha256.Sum256(pub)
	id := shortID(key.Public())
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	t := now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		// The id tells two boxes' roots apart in a device's trust store.
		Subject:               pkix.Name{CommonName: "clinicbox local CA " + id, Organization: []string{"clinicbox"}},
		NotBefore:             t.Add(-backdate),
		NotAfter:              t.Add(rootLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true, // it signs leaves only, never another CA
		SubjectKeyId:          ski[:20],
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("certs: local CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certs: local CA: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := writeFileAtomic(certPath, certPEM, 0o644); err != nil {
		return nil, fmt.Errorf("certs: local CA certificate %s: %w", certPath, pathErr(err))
	}
	return &localCA{cert: cert, certPEM: certPEM, key: key, shortID: id, now: now}, nil
}

// shortID is a stable, per-box tag derived from the root key.
func shortID(pub crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "00000000"
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:4])
}

func parseSigner(keyPEM []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, errors.New("no PEM private key")
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("unsupported PEM block %q", block.Type)
	}
	if err != nil {
		return nil, err
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported key type %T", key)
	}
	return s, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}

func randomSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("certs: serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil // never zero
}

// writeFileAtomic replaces path with data so that a reader (or a crash)
// sees either the old or the new content, never a truncated key.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the rename itself durable
		d.Close()
	}
	return nil
}

// pathErr drops the *fs.PathError wrapper, whose message repeats the path
// that our own message already names.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
