package config

import (
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// DefaultEIDPnrClaim is the claim of the Swedish OpenID Connect profile
// (oidc.se, also used by Sweden Connect and Freja eID's own OIDC service).
// Brokers differ: Idura (formerly Criipto) sends "ssn", Signicat "nin"
// (with the scope "nin"); docs/OPERATIONS.md lists them.
const DefaultEIDPnrClaim = "https://id.oidc.se/claim/personalIdentityNumber"

// addEIDFlags declares the eID settings (see Config.EIDIssuer).
func addEIDFlags(fs *flag.FlagSet, cfg *Config) {
	fs.StringVar(&cfg.EIDIssuer, "eid-issuer", "", "issuer `URL` (https) of the OpenID Connect broker for BankID / Freja eID login; empty turns eID login off")
	fs.StringVar(&cfg.EIDClientID, "eid-client-id", "", "client `ID` the broker gave this box")
	fs.StringVar(&cfg.EIDClientSecretFile, "eid-client-secret-file", "", "`FILE` holding the client secret (a file, so the secret shows neither in ps nor in the environment)")
	fs.StringVar(&cfg.EIDPnrClaim, "eid-pnr-claim", cfg.EIDPnrClaim, "`CLAIM` that holds the personnummer (Idura: ssn, Signicat: nin)")
	fs.StringVar(&cfg.EIDNameClaim, "eid-name-claim", cfg.EIDNameClaim, "`CLAIM` that holds the person's full name (given_name + family_name when it is missing)")
	fs.StringVar(&cfg.EIDScopes, "eid-scopes", cfg.EIDScopes, "`SCOPES` to ask the broker for, separated by spaces (Signicat: \"openid profile nin\")")
	fs.StringVar(&cfg.EIDCARoot, "eid-ca-root", "", "PEM `FILE` with the root certificate of a broker that is not publicly trusted")
}

// EIDEnabled reports whether eID login is configured.
func (c *Config) EIDEnabled() bool { return c.EIDIssuer != "" }

// validateEID checks the eID settings, reading the secret and the CA
// root once so that a wrong path stops the box at start with the flag's
// name.
func (c *Config) validateEID() error {
	if c.EIDIssuer == "" {
		for _, f := range []struct{ name, v string }{
			{"eid-client-id", c.EIDClientID}, {"eid-client-secret-file", c.EIDClientSecretFile}, {"eid-ca-root", c.EIDCARoot},
		} {
			if f.v != "" {
				return &FieldError{Field: "eid-issuer", Msg: fmt.Sprintf("--%s is set but --eid-issuer is not; set the broker's issuer URL to turn eID login on", f.name)}
			}
		}
		return nil
	}
	u, err := url.Parse(c.EIDIssuer)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return &FieldError{Field: "eid-issuer", Msg: fmt.Sprintf("%q is not an https:// URL without query, e.g. https://clinic.idura.broker", c.EIDIssuer)}
	}
	if strings.TrimSpace(c.EIDClientID) == "" {
		return &FieldError{Field: "eid-client-id", Msg: "eID login needs the client id the broker gave this box"}
	}
	if c.EIDClientSecretFile == "" {
		return &FieldError{Field: "eid-client-secret-file", Msg: "eID login needs a file with the client secret"}
	}
	if _, err := c.EIDClientSecret(); err != nil {
		return err
	}
	if strings.TrimSpace(c.EIDPnrClaim) == "" {
		return &FieldError{Field: "eid-pnr-claim", Msg: "must name the claim that holds the personnummer"}
	}
	if strings.TrimSpace(c.EIDNameClaim) == "" {
		return &FieldError{Field: "eid-name-claim", Msg: "must name the claim that holds the name"}
	}
	if !strings.Contains(" "+strings.Join(c.EIDScopeList(), " ")+" ", " openid ") {
		return &FieldError{Field: "eid-scopes", Msg: fmt.Sprintf("%q lacks the scope openid", c.EIDScopes)}
	}
	if c.EIDCARoot != "" {
		if _, err := c.EIDRoots(); err != nil {
			return err
		}
	}
	return nil
}

// EIDScopeList is EIDScopes split at spaces and commas.
func (c *Config) EIDScopeList() []string {
	return strings.FieldsFunc(c.EIDScopes, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' })
}

// EIDClientSecret reads the client secret from EIDClientSecretFile (one
// line; surrounding white space is dropped).
func (c *Config) EIDClientSecret() (string, error) {
	b, err := os.ReadFile(c.EIDClientSecretFile)
	if err != nil {
		return "", &FieldError{Field: "eid-client-secret-file", Msg: fmt.Sprintf("cannot read %s: %v", c.EIDClientSecretFile, unwrapPathError(err))}
	}
	secret := strings.TrimSpace(string(b))
	if secret == "" {
		return "", &FieldError{Field: "eid-client-secret-file", Msg: fmt.Sprintf("%s is empty", c.EIDClientSecretFile)}
	}
	if strings.ContainsAny(secret, "\r\n") {
		return "", &FieldError{Field: "eid-client-secret-file", Msg: fmt.Sprintf("%s has more than one line; put only the secret in it", c.EIDClientSecretFile)}
	}
	return secret, nil
}

// EIDRoots returns the certificates to trust for the broker: the
// system's roots plus the ones in EIDCARoot, or nil (the system's alone)
// when EIDCARoot is empty.
func (c *Config) EIDRoots() (*x509.CertPool, error) {
	if c.EIDCARoot == "" {
		return nil, nil
	}
	b, err := os.ReadFile(c.EIDCARoot)
	if err != nil {
		return nil, &FieldError{Field: "eid-ca-root", Msg: fmt.Sprintf("cannot read %s: %v", c.EIDCARoot, unwrapPathError(err))}
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	n := 0
	for rest := b; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, &FieldError{Field: "eid-ca-root", Msg: fmt.Sprintf("%s: a certificate cannot be read: %v", c.EIDCARoot, err)}
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, &FieldError{Field: "eid-ca-root", Msg: fmt.Sprintf("%s holds no PEM certificate", c.EIDCARoot)}
	}
	return pool, nil
}
