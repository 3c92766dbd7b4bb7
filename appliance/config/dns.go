package config

import (
	"encoding/base64"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// DNS01 configures ACME DNS-01 challenges answered through RFC 2136
// dynamic updates signed with TSIG, sent to a DNS server the clinic or its
// IT partner runs (BIND, Knot, PowerDNS, many routers). Off while Server
// is empty. With it, tls-mode acme uses DNS-01 only: no port needs to be
// forwarded to the box to get or renew its certificate.
type DNS01 struct {
	Server         string // host:port of the server that takes the updates
	Zone           string // the zone, e.g. example-clinic.se.
	TSIGKey        string // the key's name as the server knows it
	TSIGSecretFile string // file holding the key's base64 secret
	TSIGAlgorithm  string // hmac-sha256 (default), hmac-sha512, …
}

// DefaultTSIGAlgorithm is what BIND's tsig-keygen makes by default.
const DefaultTSIGAlgorithm = "hmac-sha256"

// TSIGAlgorithms are the accepted --acme-dns-tsig-algorithm values
// (HMAC-MD5 is not among them).
var TSIGAlgorithms = []string{"hmac-sha256", "hmac-sha512", "hmac-sha384", "hmac-sha224", "hmac-sha1"}

// addDNS01Flags declares the DNS-01 settings (see DNS01).
func addDNS01Flags(fs *flag.FlagSet, cfg *Config) {
	if cfg.DNS01.TSIGAlgorithm == "" {
		cfg.DNS01.TSIGAlgorithm = DefaultTSIGAlgorithm
	}
	fs.StringVar(&cfg.DNS01.Server, "acme-dns-server", "", "`HOST:PORT` of the DNS server that takes RFC 2136 updates; turns on DNS-01 (only) in tls-mode acme, so no port needs forwarding")
	fs.StringVar(&cfg.DNS01.Zone, "acme-dns-zone", "", "`ZONE` the box's names are in, e.g. example-clinic.se. (DNS-01)")
	fs.StringVar(&cfg.DNS01.TSIGKey, "acme-dns-tsig-key", "", "`NAME` of the TSIG key the DNS server accepts updates with (DNS-01)")
	fs.StringVar(&cfg.DNS01.TSIGSecretFile, "acme-dns-tsig-secret-file", "", "`FILE` holding the TSIG key's base64 secret, or the key clause tsig-keygen prints (DNS-01)")
	fs.Var(choiceValue{&cfg.DNS01.TSIGAlgorithm, TSIGAlgorithms}, "acme-dns-tsig-algorithm", "TSIG algorithm: "+strings.Join(TSIGAlgorithms, ", ")+" (DNS-01)")
}

// DNS01Enabled reports whether ACME challenges go through DNS-01.
func (c *Config) DNS01Enabled() bool { return c.DNS01.Server != "" }

// DNS01Zone is the zone in canonical form: lower case, final dot.
func (c *Config) DNS01Zone() string {
	z := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(c.DNS01.Zone), "."))
	if z == "" {
		return ""
	}
	return z + "."
}

// validateDNS01 checks the DNS-01 settings, reading the secret once so
// that a wrong path or a broken secret stops the box at start with the
// flag's name.
func (c *Config) validateDNS01() error {
	d := &c.DNS01
	if d.Server == "" {
		for _, f := range []struct{ name, v string }{
			{"acme-dns-zone", d.Zone}, {"acme-dns-tsig-key", d.TSIGKey}, {"acme-dns-tsig-secret-file", d.TSIGSecretFile},
		} {
			if f.v != "" {
				return &FieldError{Field: "acme-dns-server", Msg: fmt.Sprintf("--%s is set but --acme-dns-server is not; set the DNS server that takes the updates to turn DNS-01 on", f.name)}
			}
		}
		return nil
	}
	if c.TLSMode != TLSACME {
		return &FieldError{Field: "acme-dns-server", Msg: fmt.Sprintf("DNS-01 is for --tls-mode acme, and the mode is %s", c.TLSMode)}
	}
	host, port, err := net.SplitHostPort(d.Server)
	if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
		return &FieldError{Field: "acme-dns-server", Msg: fmt.Sprintf("%q is not host:port; e.g. ns1.example-clinic.se:53 or 192.0.2.53:53", d.Server)}
	}
	if checkHostname(host) != nil {
		return &FieldError{Field: "acme-dns-server", Msg: fmt.Sprintf("%q: %q is not a host name or IP address", d.Server, host)}
	}
	zone := c.DNS01Zone()
	if zone == "" {
		return &FieldError{Field: "acme-dns-zone", Msg: "DNS-01 needs the zone the box's names are in, e.g. example-clinic.se."}
	}
	if _, err := netip.ParseAddr(strings.TrimSuffix(zone, ".")); err == nil || checkHostname(zone) != nil {
		return &FieldError{Field: "acme-dns-zone", Msg: fmt.Sprintf("%q is not a DNS zone name", d.Zone)}
	}
	for _, h := range c.Hostnames {
		n := strings.ToLower(strings.TrimSuffix(h, ".")) + "."
		if n != zone && !strings.HasSuffix(n, "."+zone) {
			return &FieldError{Field: "acme-dns-zone", Msg: fmt.Sprintf("--hostname %s is not in zone %s; DNS-01 can only answer for names in the zone", h, zone)}
		}
	}
	if !validKeyName(d.TSIGKey) {
		if d.TSIGKey == "" {
			return &FieldError{Field: "acme-dns-tsig-key", Msg: "DNS-01 needs the name of the TSIG key, e.g. clinicbox-key"}
		}
		return &FieldError{Field: "acme-dns-tsig-key", Msg: fmt.Sprintf("%q is not a key name (letters, digits, '-', '_' and '.')", d.TSIGKey)}
	}
	if d.TSIGSecretFile == "" {
		return &FieldError{Field: "acme-dns-tsig-secret-file", Msg: "DNS-01 needs a file with the TSIG key's secret"}
	}
	if _, err := c.DNS01TSIGSecret(); err != nil {
		return err
	}
	if d.TSIGAlgorithm == "" {
		d.TSIGAlgorithm = DefaultTSIGAlgorithm
	}
	if err := (choiceValue{new(string), TSIGAlgorithms}).Set(d.TSIGAlgorithm); err != nil {
		return &FieldError{Field: "acme-dns-tsig-algorithm", Msg: err.Error()}
	}
	return nil
}

// validKeyName accepts the key names BIND and Knot accept in practice: a
// domain name of letters, digits, '-' and '_'.
func validKeyName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// secretClause finds the secret in a key clause as BIND's tsig-keygen
// prints it (secret "…";) or as Knot's keymgr prints it (secret: …).
var secretClause = regexp.MustCompile(`(?m)^\s*secret\s*(?::\s*|\s)"?([A-Za-z0-9+/=]+)"?\s*;?\s*$`)

// DNS01TSIGSecret reads the TSIG secret (base64) from TSIGSecretFile: a
// file holding only the secret, or the key clause tsig-keygen or keymgr
// printed. The secret never appears in an error.
func (c *Config) DNS01TSIGSecret() (string, error) {
	name := c.DNS01.TSIGSecretFile
	b, err := os.ReadFile(name)
	if err != nil {
		return "", &FieldError{Field: "acme-dns-tsig-secret-file", Msg: fmt.Sprintf("cannot read %s: %v", name, unwrapPathError(err))}
	}
	text := strings.TrimSpace(string(b))
	secret := text
	if m := secretClause.FindStringSubmatch(text); m != nil {
		secret = m[1]
	} else if strings.Contains(text, "secret") {
		return "", &FieldError{Field: "acme-dns-tsig-secret-file", Msg: fmt.Sprintf("%s looks like a key clause, but its secret line cannot be read; put only the base64 secret in the file", name)}
	}
	if secret == "" {
		return "", &FieldError{Field: "acme-dns-tsig-secret-file", Msg: fmt.Sprintf("%s is empty", name)}
	}
	if strings.ContainsAny(secret, " \t\r\n") {
		return "", &FieldError{Field: "acme-dns-tsig-secret-file", Msg: fmt.Sprintf("%s holds more than the secret; put only the base64 secret in it", name)}
	}
	if raw, err := base64.StdEncoding.DecodeString(secret); err != nil || len(raw) == 0 {
		return "", &FieldError{Field: "acme-dns-tsig-secret-file", Msg: fmt.Sprintf("%s does not hold a base64 secret", name)}
	}
	return secret, nil
}
