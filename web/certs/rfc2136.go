package certs

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/libdns/libdns"
	"github.com/miekg/dns"
)

// RFC2136Config configures an RFC2136 provider.
type RFC2136Config struct {
	// Server is the host:port of the DNS server that takes the updates,
	// usually the zone's primary (which may be a hidden primary on the
	// clinic's or the IT partner's network).
	Server string
	// Zone is the zone the updates are for, e.g. "example-clinic.se.";
	// the box's names must lie inside it.
	Zone string
	// TSIGKey is the name of the TSIG key as the server knows it, e.g.
	// "clinicbox-key"; TSIGSecret is its base64 secret.
	TSIGKey, TSIGSecret string
	// TSIGAlgorithm is one of hmac-sha1, hmac-sha224, hmac-sha256 (the
	// default), hmac-sha384 and hmac-sha512. HMAC-MD5 is not offered.
	TSIGAlgorithm string
	// Timeout bounds one update, connecting included (default 10s).
	Timeout time.Duration
}

// RFC2136 is a libdns provider (a certmagic.DNSProvider) that adds and
// removes the TXT records of ACME DNS-01 challenges with RFC 2136 dynamic
// updates signed with TSIG (RFC 8945). It needs no cloud API: BIND, Knot,
// PowerDNS and many routers accept such updates, and no port has to be
// open towards the box. Updates go over TCP, which every DNS server must
// serve (RFC 7766) and which needs no retransmission logic here.
//
// Only TXT records are handled; they are all DNS-01 needs and all a
// sensible update policy grants the key. An RFC 2136 server does not say
// which of the records named in a deletion existed, so DeleteRecords
// returns the records it asked the server to remove.
type RFC2136 struct {
	server  string
	zone    string // canonical: lower case, trailing dot
	keyName string // canonical
	secret  string // base64, as dns.Client wants it
	alg     string // a dns.Hmac* constant
	timeout time.Duration
}

var _ interface {
	libdns.RecordAppender
	libdns.RecordDeleter
} = (*RFC2136)(nil)

// tsigAlgorithms are the TSIG algorithms offered, by the name BIND's
// tsig-keygen and key clauses use.
var tsigAlgorithms = map[string]string{
	"hmac-sha1":   dns.HmacSHA1,
	"hmac-sha224": dns.HmacSHA224,
	"hmac-sha256": dns.HmacSHA256,
	"hmac-sha384": dns.HmacSHA384,
	"hmac-sha512": dns.HmacSHA512,
}

// DefaultTSIGAlgorithm is what tsig-keygen creates by default.
const DefaultTSIGAlgorithm = "hmac-sha256"

const defaultRFC2136Timeout = 10 * time.Second

// NewRFC2136 checks cfg and returns the provider. Errors name the setting
// (acme-dns-server, acme-dns-zone, acme-dns-tsig-key, …).
func NewRFC2136(cfg RFC2136Config) (*RFC2136, error) {
	host, port, err := net.SplitHostPort(cfg.Server)
	if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
		return nil, fmt.Errorf("certs: acme-dns-server %q: want host:port, e.g. ns1.example-clinic.se:53", cfg.Server)
	}
	zone := dns.CanonicalName(strings.TrimSpace(cfg.Zone))
	if cfg.Zone == "" || zone == "." {
		return nil, errors.New("certs: acme-dns-zone: required, e.g. example-clinic.se.")
	}
	if _, ok := dns.IsDomainName(zone); !ok {
		return nil, fmt.Errorf("certs: acme-dns-zone %q: not a domain name", cfg.Zone)
	}
	key := dns.CanonicalName(strings.TrimSpace(cfg.TSIGKey))
	if cfg.TSIGKey == "" || key == "." {
		return nil, errors.New("certs: acme-dns-tsig-key: required (the key's name as the DNS server knows it)")
	}
	if _, ok := dns.IsDomainName(key); !ok {
		return nil, fmt.Errorf("certs: acme-dns-tsig-key %q: not a valid key name", cfg.TSIGKey)
	}
	raw, err := base64.StdEncoding.DecodeString(cfg.TSIGSecret)
	if err != nil || len(raw) == 0 {
		// The secret itself stays out of the message: errors get logged.
		return nil, errors.New("certs: acme-dns-tsig-secret: not a base64 secret")
	}
	algName := strings.ToLower(strings.TrimSuffix(cfg.TSIGAlgorithm, "."))
	if algName == "" {
		algName = DefaultTSIGAlgorithm
	}
	alg, ok := tsigAlgorithms[algName]
	if !ok {
		return nil, fmt.Errorf("certs: acme-dns-tsig-algorithm %q: want hmac-sha256, hmac-sha512, hmac-sha384, hmac-sha224 or hmac-sha1", cfg.TSIGAlgorithm)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = defaultRFC2136Timeout
	}
	return &RFC2136{server: cfg.Server, zone: zone, keyName: key, secret: cfg.TSIGSecret, alg: alg, timeout: timeout}, nil
}

// Zone is the zone the provider updates, in canonical form.
func (p *RFC2136) Zone() string { return p.zone }

// Covers reports whether name (a host name, with or without the final
// dot) lies in the provider's zone, i.e. whether its DNS-01 challenge can
// be answered.
func (p *RFC2136) Covers(name string) bool {
	return dns.IsSubDomain(p.zone, dns.CanonicalName(name))
}

// AppendRecords adds TXT records. zone is the zone the caller found for
// the names (CertMagic looks it up by SOA); the names are resolved
// against it and must lie in the configured zone, to which the update is
// sent.
func (p *RFC2136) AppendRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	rrs, out, err := p.toTXT(zone, recs, false)
	if err != nil {
		return nil, err
	}
	m := new(dns.Msg)
	m.SetUpdate(p.zone)
	m.Insert(rrs)
	if err := p.send(ctx, m, "adding"); err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteRecords removes TXT records: the one with the given text, or
// every TXT record of the name when the text is empty. A record without a
// type counts as TXT: other types are never touched.
func (p *RFC2136) DeleteRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	rrs, out, err := p.toTXT(zone, recs, true)
	if err != nil {
		return nil, err
	}
	m := new(dns.Msg)
	m.SetUpdate(p.zone)
	for _, rr := range rrs {
		if len(rr.(*dns.TXT).Txt) == 0 {
			m.RemoveRRset([]dns.RR{rr})
		} else {
			m.Remove([]dns.RR{rr})
		}
	}
	if err := p.send(ctx, m, "deleting"); err != nil {
		return nil, err
	}
	return out, nil
}

// toTXT turns libdns records into the TXT RRs of an update, and into the
// libdns.TXT values returned to the caller.
func (p *RFC2136) toTXT(zone string, recs []libdns.Record, deleting bool) ([]dns.RR, []libdns.Record, error) {
	if len(recs) == 0 {
		return nil, nil, errors.New("certs: acme-dns: no records given")
	}
	if zone == "" {
		zone = p.zone
	}
	zone = dns.Fqdn(zone)
	var rrs []dns.RR
	var out []libdns.Record
	for _, rec := range recs {
		r := rec.RR()
		if r.Type != "TXT" && !(deleting && r.Type == "") {
			return nil, nil, fmt.Errorf("certs: acme-dns: only TXT records are supported, not %q", r.Type)
		}
		if r.Name == "" {
			return nil, nil, errors.New("certs: acme-dns: a record has no name")
		}
		name := dns.CanonicalName(libdns.AbsoluteName(r.Name, zone))
		if _, ok := dns.IsDomainName(name); !ok {
			return nil, nil, fmt.Errorf("certs: acme-dns: %q is not a domain name", name)
		}
		if !dns.IsSubDomain(p.zone, name) {
			return nil, nil, fmt.Errorf("certs: acme-dns: %s is outside the zone %s (acme-dns-zone)", name, p.zone)
		}
		if !deleting && r.Data == "" {
			return nil, nil, fmt.Errorf("certs: acme-dns: the TXT record for %s is empty", name)
		}
		ttl := r.TTL / time.Second
		if ttl < 0 || ttl > 1<<31-1 {
			ttl = 0
		}
		rrs = append(rrs, &dns.TXT{
			Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: uint32(ttl)},
			Txt: txtStrings(r.Data),
		})
		out = append(out, libdns.TXT{Name: libdns.RelativeName(name, zone), TTL: ttl * time.Second, Text: r.Data})
	}
	return rrs, out, nil
}

// txtStrings splits text into the <character-string>s of a TXT record
// (at most 255 bytes each), escaped the way miekg/dns packs them.
func txtStrings(text string) []string {
	var out []string
	for len(text) > 0 {
		n := min(len(text), 255)
		out = append(out, strings.ReplaceAll(text[:n], `\`, `\\`))
		text = text[n:]
	}
	return out
}

// send signs m, sends it over TCP and turns the answer into an error a
// technician can act on.
func (p *RFC2136) send(ctx context.Context, m *dns.Msg, what string) error {
	m.SetTsig(p.keyName, p.alg, 300, time.Now().Unix())
	caller := ctx
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	c := &dns.Client{Net: "tcp", Timeout: p.timeout, TsigSecret: map[string]string{p.keyName: p.secret}}
	name := m.Ns[0].Header().Name
	r, _, err := c.ExchangeContext(ctx, m, p.server)
	if r == nil || (err != nil && r.Rcode == dns.RcodeSuccess) {
		if err == nil {
			err = errors.New("empty answer")
		}
		var ne net.Error
		switch {
		case callerDone(caller):
			cause := context.Cause(caller)
			if cause == nil { // the deadline passed, its timer has not fired yet
				cause = context.DeadlineExceeded
			}
			return fmt.Errorf("certs: acme-dns: %s TXT %s: no answer from %s before giving up: %w", what, name, p.server, cause)
		case errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
			return fmt.Errorf("certs: acme-dns: %s TXT %s: no answer from %s within %s", what, name, p.server, p.timeout)
		case errors.Is(err, dns.ErrSig) || errors.Is(err, dns.ErrTime):
			return fmt.Errorf("certs: acme-dns: %s TXT %s: the answer from %s is not signed with key %s: %v", what, name, p.server, p.keyName, err)
		}
		return fmt.Errorf("certs: acme-dns: %s TXT %s: update to %s failed: %w", what, name, p.server, err)
	}
	if r.Rcode == dns.RcodeSuccess {
		return nil
	}
	return fmt.Errorf("certs: acme-dns: %s TXT %s: %s answered %s%s", what, name, p.server, rcodeText(r), p.hint(r))
}

// callerDone reports whether the caller's context ended (or reached its
// deadline, whose timer may not have fired yet).
func callerDone(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

func rcodeText(r *dns.Msg) string {
	s := dns.RcodeToString[r.Rcode]
	if s == "" {
		s = "rcode " + strconv.Itoa(r.Rcode)
	}
	if t := r.IsTsig(); t != nil && t.Error != dns.RcodeSuccess {
		s += " (TSIG " + dns.RcodeToString[int(t.Error)] + ")"
	}
	return s
}

// hint says in words what an error answer usually means.
func (p *RFC2136) hint(r *dns.Msg) string {
	tsigErr := uint16(0)
	if t := r.IsTsig(); t != nil {
		tsigErr = t.Error
	}
	switch {
	case tsigErr == dns.RcodeBadTime:
		return ": the box's clock and the DNS server's differ by more than five minutes"
	case tsigErr == dns.RcodeBadKey:
		return fmt.Sprintf(": the server does not know the key %s with algorithm %s (acme-dns-tsig-key, acme-dns-tsig-algorithm)", p.keyName, strings.TrimSuffix(p.alg, "."))
	case tsigErr == dns.RcodeBadSig || r.Rcode == dns.RcodeNotAuth:
		return fmt.Sprintf(": the server refused key %s; check the secret and the algorithm (acme-dns-tsig-secret-file, acme-dns-tsig-algorithm)", p.keyName)
	case r.Rcode == dns.RcodeRefused:
		return fmt.Sprintf(": the server does not let key %s change this name; check its update-policy or allow-update", p.keyName)
	case r.Rcode == dns.RcodeNotZone:
		return fmt.Sprintf(": the name is not in zone %s (acme-dns-zone)", p.zone)
	case r.Rcode == dns.RcodeNotImplemented:
		return ": the server does not accept dynamic updates for this zone"
	case r.Rcode == dns.RcodeServerFailure:
		return ": the server could not apply the update (is it the zone's primary?)"
	}
	return ""
}
