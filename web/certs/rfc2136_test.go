package certs

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libdns/libdns"
	"github.com/miekg/dns"
)

// zoneServer is an authoritative DNS server for one zone, run in the test
// with miekg/dns on 127.0.0.1 (UDP and TCP, one port). Like a BIND primary
// with
//
//	update-policy { grant <key> name _acme-challenge.<name>. TXT; };
//
// it applies RFC 2136 updates only when they are signed with its TSIG key
// (unsigned: REFUSED; bad signature, unknown key or algorithm: NOTAUTH
// with the TSIG error, unsigned, as RFC 8945 says), only for TXT records
// of _acme-challenge names, and signs its answers to signed updates. It
// answers SOA and NS at the apex (CertMagic's zone lookup), A and TXT.
type zoneServer struct {
	addr              string
	zone, key, secret string // canonical zone and key names
	alg               string

	mu         sync.Mutex
	a          map[string]string       // name → IPv4
	txt        map[string][]*dns.TXT   // name → records
	log        []string                // "add NAME TEXT", "del NAME TEXT", "delset NAME"
	refused    []int                   // rcodes of refused updates
	txtQueries map[string]map[bool]int // name → over TCP? → count
}

const (
	testZone = "clinic.test."
	testKey  = "clinicbox-key."
)

func newSecret() string {
	return base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 16) + time.Now().String()))
}

func startZoneServer(t *testing.T, logs *testLog, secret string) *zoneServer {
	t.Helper()
	z := &zoneServer{
		zone: testZone, key: testKey, secret: secret, alg: dns.HmacSHA256,
		a:          map[string]string{acmeName + ".": "127.0.0.1"},
		txt:        map[string][]*dns.TXT{},
		txtQueries: map[string]map[bool]int{},
	}
	// One port for both: UDP first, then TCP on the same number.
	var pc net.PacketConn
	var ln net.Listener
	for range 20 {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
		pc = nil
	}
	if pc == nil {
		t.Fatal("no free UDP+TCP port")
	}
	z.addr = pc.LocalAddr().String()
	tsig := map[string]string{testKey: secret}
	// miekg/dns answers UPDATE with NOTIMP unless told to accept it.
	accept := func(h dns.Header) dns.MsgAcceptAction {
		if h.Bits&(1<<15) != 0 { // a response
			return dns.MsgIgnore
		}
		if op := int(h.Bits>>11) & 0xF; op != dns.OpcodeQuery && op != dns.OpcodeUpdate {
			return dns.MsgRejectNotImplemented
		}
		return dns.MsgAccept
	}
	for _, srv := range []*dns.Server{
		{PacketConn: pc, Handler: z, TsigSecret: tsig, MsgAcceptFunc: accept},
		{Listener: ln, Handler: z, TsigSecret: tsig, MsgAcceptFunc: accept},
	} {
		go func() {
			if err := srv.ActivateAndServe(); err != nil && logs != nil {
				logs.std("zone ").Printf("serve: %v", err)
			}
		}()
		t.Cleanup(func() { srv.Shutdown() })
	}
	return z
}

func (z *zoneServer) soa() *dns.SOA {
	return &dns.SOA{Hdr: dns.RR_Header{Name: z.zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 60},
		Ns: "ns1." + z.zone, Mbox: "hostmaster." + z.zone, Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: 0}
}

func (z *zoneServer) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	if r.Opcode == dns.OpcodeUpdate {
		z.update(w, r)
		return
	}
	m := new(dns.Msg)
	m.SetReply(r)
	if len(r.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		w.WriteMsg(m)
		return
	}
	q := r.Question[0]
	name := dns.CanonicalName(q.Name)
	if !dns.IsSubDomain(z.zone, name) {
		m.Rcode = dns.RcodeRefused // not a resolver
		w.WriteMsg(m)
		return
	}
	m.Authoritative = true
	z.mu.Lock()
	defer z.mu.Unlock()
	switch {
	case q.Qtype == dns.TypeSOA && name == z.zone:
		m.Answer = append(m.Answer, z.soa())
	case q.Qtype == dns.TypeNS && name == z.zone:
		m.Answer = append(m.Answer, &dns.NS{Hdr: dns.RR_Header{Name: z.zone, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: 60}, Ns: "ns1." + z.zone})
	case q.Qtype == dns.TypeA && z.a[name] != "":
		m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP(z.a[name])})
	case q.Qtype == dns.TypeTXT:
		_, tcp := w.RemoteAddr().(*net.TCPAddr)
		if z.txtQueries[name] == nil {
			z.txtQueries[name] = map[bool]int{}
		}
		z.txtQueries[name][tcp]++
		for _, rr := range z.txt[name] {
			m.Answer = append(m.Answer, dns.Copy(rr))
		}
	}
	if len(m.Answer) == 0 {
		m.Ns = append(m.Ns, z.soa())
		if name != z.zone && z.a[name] == "" && len(z.txt[name]) == 0 {
			m.Rcode = dns.RcodeNameError
		}
	}
	w.WriteMsg(m)
}

func (z *zoneServer) update(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	t := r.IsTsig()
	refuse := func(rcode int, tsigErr uint16) {
		z.mu.Lock()
		z.refused = append(z.refused, rcode)
		z.mu.Unlock()
		m.Rcode = rcode
		if t != nil {
			m.SetTsig(t.Hdr.Name, t.Algorithm, 300, time.Now().Unix())
			m.Extra[len(m.Extra)-1].(*dns.TSIG).Error = tsigErr
		}
		w.WriteMsg(m)
	}
	switch {
	case t == nil:
		refuse(dns.RcodeRefused, 0)
		return
	case dns.CanonicalName(t.Hdr.Name) != z.key || dns.CanonicalName(t.Algorithm) != z.alg:
		refuse(dns.RcodeNotAuth, dns.RcodeBadKey) // unsigned: miekg/dns does not sign BADKEY
		return
	case w.TsigStatus() != nil:
		refuse(dns.RcodeNotAuth, dns.RcodeBadSig)
		return
	}
	if len(r.Question) != 1 || dns.CanonicalName(r.Question[0].Name) != z.zone || r.Question[0].Qtype != dns.TypeSOA {
		refuse(dns.RcodeNotZone, 0)
		return
	}
	// Check every change first: an update applies whole or not at all.
	for _, rr := range r.Ns {
		h := rr.Header()
		name := dns.CanonicalName(h.Name)
		if !dns.IsSubDomain(z.zone, name) {
			refuse(dns.RcodeNotZone, 0)
			return
		}
		if h.Rrtype != dns.TypeTXT || !strings.HasPrefix(name, "_acme-challenge.") {
			refuse(dns.RcodeRefused, 0) // the update policy grants nothing else
			return
		}
	}
	z.mu.Lock()
	for _, rr := range r.Ns {
		h := rr.Header()
		name := dns.CanonicalName(h.Name)
		switch h.Class {
		case dns.ClassINET:
			txt := rr.(*dns.TXT)
			text := strings.Join(txt.Txt, "")
			if !slices.ContainsFunc(z.txt[name], func(o *dns.TXT) bool { return strings.Join(o.Txt, "") == text }) {
				c := dns.Copy(txt).(*dns.TXT)
				c.Hdr.Name = name
				z.txt[name] = append(z.txt[name], c)
			}
			z.log = append(z.log, "add "+name+" "+text)
		case dns.ClassNONE:
			text := strings.Join(rr.(*dns.TXT).Txt, "")
			z.txt[name] = slices.DeleteFunc(z.txt[name], func(o *dns.TXT) bool { return strings.Join(o.Txt, "") == text })
			z.log = append(z.log, "del "+name+" "+text)
		case dns.ClassANY:
			delete(z.txt, name)
			z.log = append(z.log, "delset "+name)
		}
		if len(z.txt[name]) == 0 {
			delete(z.txt, name)
		}
	}
	z.mu.Unlock()
	m.SetTsig(z.key, z.alg, 300, time.Now().Unix())
	w.WriteMsg(m) // signed by the server with the key
}

// texts returns the TXT values at name, as a resolver would assemble them.
func (z *zoneServer) texts(name string) []string {
	z.mu.Lock()
	defer z.mu.Unlock()
	var out []string
	for _, rr := range z.txt[name] {
		out = append(out, unescapeTXT(strings.Join(rr.Txt, "")))
	}
	return out
}

// unescapeTXT undoes the \X escapes miekg/dns puts in unpacked TXT
// strings (enough for the test's text: backslashes and quotes).
func unescapeTXT(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func (z *zoneServer) logLines() []string {
	z.mu.Lock()
	defer z.mu.Unlock()
	return slices.Clone(z.log)
}

func (z *zoneServer) refusals() []int {
	z.mu.Lock()
	defer z.mu.Unlock()
	return slices.Clone(z.refused)
}

func newProvider(t *testing.T, cfg RFC2136Config) *RFC2136 {
	t.Helper()
	p, err := NewRFC2136(cfg)
	if err != nil {
		t.Fatalf("NewRFC2136: %v", err)
	}
	return p
}

const challengeName = "_acme-challenge.box.clinic.test."

func TestRFC2136AppendDelete(t *testing.T) {
	secret := newSecret()
	z := startZoneServer(t, newTestLog(t), secret)
	p := newProvider(t, RFC2136Config{Server: z.addr, Zone: "Clinic.Test", TSIGKey: "clinicbox-key", TSIGSecret: secret})
	ctx := context.Background()

	// A 300-byte value with a backslash and a quote: two character-strings
	// on the wire, one text again for whoever reads it.
	long := strings.Repeat("x", 250) + `\"` + strings.Repeat("y", 48)
	got, err := p.AppendRecords(ctx, "clinic.test.", []libdns.Record{
		libdns.TXT{Name: "_acme-challenge.box", Text: "token-1", TTL: 30 * time.Second},
		libdns.RR{Name: "_acme-challenge.box", Type: "TXT", Data: long},
	})
	if err != nil {
		t.Fatalf("AppendRecords: %v", err)
	}
	want := []libdns.Record{
		libdns.TXT{Name: "_acme-challenge.box", Text: "token-1", TTL: 30 * time.Second},
		libdns.TXT{Name: "_acme-challenge.box", Text: long},
	}
	if len(got) != 2 || got[0].RR() != want[0].RR() || got[1].RR() != want[1].RR() {
		t.Errorf("AppendRecords returned %#v", got)
	}
	if _, ok := got[0].(libdns.TXT); !ok {
		t.Errorf("AppendRecords returned %T, want libdns.TXT", got[0])
	}
	if texts := z.texts(challengeName); !slices.Equal(texts, []string{"token-1", long}) {
		t.Fatalf("zone has %q", texts)
	}
	z.mu.Lock()
	if ttl := z.txt[challengeName][0].Hdr.Ttl; ttl != 30 {
		t.Errorf("TTL %d", ttl)
	}
	if n := len(z.txt[challengeName][1].Txt); n != 2 {
		t.Errorf("long value in %d strings, want 2", n)
	}
	z.mu.Unlock()

	// Appending again changes nothing (an RRset holds no duplicates).
	if _, err := p.AppendRecords(ctx, "clinic.test.", []libdns.Record{libdns.TXT{Name: "_acme-challenge.box", Text: "token-1"}}); err != nil {
		t.Fatal(err)
	}
	if texts := z.texts(challengeName); len(texts) != 2 {
		t.Fatalf("zone has %q", texts)
	}

	// The zone argument may be another spelling, or (as CertMagic may
	// find) a parent of the configured zone: the name counts.
	if _, err := p.DeleteRecords(ctx, "test.", []libdns.Record{libdns.TXT{Name: "_acme-challenge.box.clinic", Text: "token-1"}}); err != nil {
		t.Fatalf("DeleteRecords: %v", err)
	}
	if texts := z.texts(challengeName); !slices.Equal(texts, []string{long}) {
		t.Fatalf("after deleting token-1 the zone has %q", texts)
	}
	// Without a value: the name's whole TXT set.
	if _, err := p.DeleteRecords(ctx, "clinic.test.", []libdns.Record{libdns.RR{Name: "_acme-challenge.box", Type: "TXT"}}); err != nil {
		t.Fatalf("DeleteRecords: %v", err)
	}
	if texts := z.texts(challengeName); len(texts) != 0 {
		t.Fatalf("after deleting the set the zone has %q", texts)
	}
	if r := z.refusals(); len(r) != 0 {
		t.Errorf("refused updates: %v", r)
	}
	if l := z.logLines(); len(l) != 5 || l[3] != "del "+challengeName+" token-1" || l[4] != "delset "+challengeName {
		t.Errorf("update log %q", l)
	}
}

func TestRFC2136Refused(t *testing.T) {
	secret := newSecret()
	z := startZoneServer(t, newTestLog(t), secret)
	rec := []libdns.Record{libdns.TXT{Name: "_acme-challenge.box", Text: "token"}}
	for _, tc := range []struct {
		name  string
		cfg   RFC2136Config
		recs  []libdns.Record
		want  []string
		rcode int
	}{
		{"wrong secret", RFC2136Config{TSIGKey: "clinicbox-key", TSIGSecret: newSecret()}, rec,
			[]string{"NOTAUTH (TSIG BADSIG)", "acme-dns-tsig-secret-file"}, dns.RcodeNotAuth},
		{"unknown key", RFC2136Config{TSIGKey: "other-key", TSIGSecret: secret}, rec,
			[]string{"NOTAUTH (TSIG BADKEY)", "does not know the key other-key."}, dns.RcodeNotAuth},
		{"wrong algorithm", RFC2136Config{TSIGKey: "clinicbox-key", TSIGSecret: secret, TSIGAlgorithm: "hmac-sha512"}, rec,
			[]string{"NOTAUTH (TSIG BADKEY)", "algorithm hmac-sha512"}, dns.RcodeNotAuth},
		{"name the policy does not grant", RFC2136Config{TSIGKey: "clinicbox-key", TSIGSecret: secret},
			[]libdns.Record{libdns.TXT{Name: "www", Text: "token"}},
			[]string{"answered REFUSED", "update-policy"}, dns.RcodeRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(z.refusals())
			tc.cfg.Server, tc.cfg.Zone = z.addr, testZone
			p := newProvider(t, tc.cfg)
			_, err := p.AppendRecords(context.Background(), testZone, tc.recs)
			if err == nil {
				t.Fatal("AppendRecords succeeded")
			}
			msg := err.Error()
			t.Log(msg)
			if !strings.HasPrefix(msg, "certs: acme-dns: adding TXT ") {
				t.Errorf("error %q", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
			if strings.Contains(msg, tc.cfg.TSIGSecret) {
				t.Error("the secret is in the error")
			}
			if r := z.refusals(); len(r) != before+1 || r[before] != tc.rcode {
				t.Errorf("server refusals %v", r)
			}
			if texts := z.texts(challengeName); len(texts) != 0 {
				t.Errorf("zone changed: %q", texts)
			}
		})
	}

	// The server really checks: an unsigned update is refused too.
	m := new(dns.Msg)
	m.SetUpdate(testZone)
	m.Insert([]dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: challengeName, Rrtype: dns.TypeTXT, Class: dns.ClassINET}, Txt: []string{"x"}}})
	r, _, err := (&dns.Client{Net: "tcp"}).Exchange(m, z.addr)
	if err != nil || r.Rcode != dns.RcodeRefused || len(z.texts(challengeName)) != 0 {
		t.Errorf("unsigned update: %v %v", r, err)
	}
}

func TestRFC2136ServerDown(t *testing.T) {
	rec := []libdns.Record{libdns.TXT{Name: "_acme-challenge.box", Text: "token"}}
	cfg := RFC2136Config{Zone: testZone, TSIGKey: "clinicbox-key", TSIGSecret: newSecret(), Timeout: 300 * time.Millisecond}

	t.Run("nothing listening", func(t *testing.T) {
		cfg := cfg
		cfg.Server = "127.0.0.1:" + strconv.Itoa(busyPortReleased(t))
		start := time.Now()
		_, err := newProvider(t, cfg).AppendRecords(context.Background(), testZone, rec)
		t.Log(err)
		if err == nil || !strings.HasPrefix(err.Error(), "certs: acme-dns: adding TXT "+challengeName+": update to "+cfg.Server+" failed: ") ||
			!strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("error %v", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %s", d)
		}
	})
	t.Run("no answer", func(t *testing.T) {
		// A server that takes the connection and never answers.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		var conns []net.Conn
		var mu sync.Mutex
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		}()
		t.Cleanup(func() {
			mu.Lock()
			defer mu.Unlock()
			for _, c := range conns {
				c.Close()
			}
		})
		cfg := cfg
		cfg.Server = ln.Addr().String()
		p := newProvider(t, cfg)
		start := time.Now()
		_, err = p.DeleteRecords(context.Background(), testZone, rec)
		if err == nil || err.Error() != "certs: acme-dns: deleting TXT "+challengeName+": no answer from "+cfg.Server+" within 300ms" {
			t.Fatalf("error %v", err)
		}
		if d := time.Since(start); d < 250*time.Millisecond || d > 2*time.Second {
			t.Errorf("took %s", d)
		}
		// The caller's deadline wins when it is shorter.
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start = time.Now()
		if _, err := p.AppendRecords(ctx, testZone, rec); err == nil || !strings.Contains(err.Error(), "no answer from "+cfg.Server+" before giving up: context deadline exceeded") {
			t.Fatalf("error %v", err)
		}
		if d := time.Since(start); d > 250*time.Millisecond {
			t.Errorf("took %s with a 50ms deadline", d)
		}
	})
}

func TestNewRFC2136Errors(t *testing.T) {
	ok := RFC2136Config{Server: "ns1.example-clinic.se:53", Zone: "example-clinic.se.", TSIGKey: "clinicbox-key", TSIGSecret: newSecret()}
	for _, tc := range []struct {
		edit func(*RFC2136Config)
		want string
	}{
		{func(c *RFC2136Config) { c.Server = "ns1.example-clinic.se" }, "certs: acme-dns-server "},
		{func(c *RFC2136Config) { c.Server = ":53" }, "certs: acme-dns-server "},
		{func(c *RFC2136Config) { c.Server = "ns1:0" }, "certs: acme-dns-server "},
		{func(c *RFC2136Config) { c.Zone = "" }, "certs: acme-dns-zone: required"},
		{func(c *RFC2136Config) { c.Zone = "bad..zone" }, "certs: acme-dns-zone "},
		{func(c *RFC2136Config) { c.TSIGKey = "" }, "certs: acme-dns-tsig-key: required"},
		{func(c *RFC2136Config) { c.TSIGSecret = "not base64!" }, "certs: acme-dns-tsig-secret: not a base64 secret"},
		{func(c *RFC2136Config) { c.TSIGSecret = "" }, "certs: acme-dns-tsig-secret: "},
		{func(c *RFC2136Config) { c.TSIGAlgorithm = "hmac-md5" }, "certs: acme-dns-tsig-algorithm \"hmac-md5\""},
	} {
		cfg := ok
		tc.edit(&cfg)
		if _, err := NewRFC2136(cfg); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q…", cfg, err, tc.want)
		}
	}
	p, err := NewRFC2136(ok)
	if err != nil {
		t.Fatal(err)
	}
	if p.alg != dns.HmacSHA256 || p.keyName != "clinicbox-key." || p.timeout != defaultRFC2136Timeout {
		t.Errorf("defaults: %+v", p)
	}
	if !p.Covers("box.example-clinic.se") || !p.Covers("EXAMPLE-CLINIC.SE.") || p.Covers("box.example-clinic.se.evil.org") || p.Covers("notexample-clinic.se") {
		t.Error("Covers")
	}

	// Records outside the zone, and of other types, never leave the box.
	ctx := context.Background()
	if _, err := p.AppendRecords(ctx, "example.org.", []libdns.Record{libdns.TXT{Name: "_acme-challenge", Text: "t"}}); err == nil ||
		err.Error() != "certs: acme-dns: _acme-challenge.example.org. is outside the zone example-clinic.se. (acme-dns-zone)" {
		t.Errorf("outside zone: %v", err)
	}
	if _, err := p.AppendRecords(ctx, "example-clinic.se.", []libdns.Record{libdns.CNAME{Name: "_acme-challenge", Target: "x."}}); err == nil ||
		!strings.Contains(err.Error(), "only TXT records") {
		t.Errorf("CNAME: %v", err)
	}

	// certs.New refuses names the zone does not hold.
	_, err = New(ctx, Config{Mode: ModeACME, DataDir: t.TempDir(), Names: []string{"box.example-clinic.se", "box.other.se"}, DNSProvider: p})
	if err == nil || !strings.Contains(err.Error(), `certs: names: "box.other.se" is outside acme-dns-zone example-clinic.se.`) {
		t.Errorf("New: %v", err)
	}
}

// TestACMEDNS01 obtains a certificate end to end over DNS-01: CertMagic
// finds the zone and watches the record appear through the test's DNS
// server, the provider adds the TXT record there with a TSIG-signed
// dynamic update, pebble's VA reads it from the same server (over TCP)
// and issues, and a TLS client that trusts only pebble's root accepts the
// box. The box has no listener at all while the certificate is obtained,
// and pebble would find nothing on the HTTP-01 and TLS-ALPN-01 ports: only
// DNS-01 can have succeeded.
func TestACMEDNS01(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an ACME server")
	}
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	logs := newTestLog(t)
	secret := newSecret()
	z := startZoneServer(t, logs, secret)
	dead := busyPortReleased(t)
	p := startPebble(t, logs, z.addr, dead, dead)

	provider := newProvider(t, RFC2136Config{Server: z.addr, Zone: "clinic.test.", TSIGKey: "clinicbox-key", TSIGSecret: secret})
	m := newManager(t, Config{
		Mode:         ModeACME,
		DataDir:      t.TempDir(),
		Names:        []string{acmeName},
		ACMECA:       p.directory,
		ACMECARoot:   p.serverRootFile,
		DNSProvider:  provider,
		DNSResolvers: []string{z.addr},
		Logger:       logs.slog(),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := m.Manage(ctx); err != nil {
		t.Fatalf("Manage: %v", err)
	}
	if err := m.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}

	// The record came and went through signed updates, and pebble (the
	// only one asking over TCP) read it.
	waitFor(t, "the challenge record to be removed", func() bool {
		l := z.logLines()
		return len(l) == 2 && strings.HasPrefix(l[1], "del "+challengeName+" ")
	})
	l := z.logLines()
	if !strings.HasPrefix(l[0], "add "+challengeName+" ") || strings.TrimPrefix(l[0], "add ") != strings.TrimPrefix(l[1], "del ") {
		t.Errorf("update log %q", l)
	}
	if len(z.texts(challengeName)) != 0 {
		t.Error("challenge record left in the zone")
	}
	z.mu.Lock()
	viaTCP, viaUDP := z.txtQueries[challengeName][true], z.txtQueries[challengeName][false]
	z.mu.Unlock()
	if viaTCP == 0 || viaUDP == 0 {
		t.Errorf("TXT queries: %d over TCP (pebble), %d over UDP (propagation check)", viaTCP, viaUDP)
	}
	if r := z.refusals(); len(r) != 0 {
		t.Errorf("refused updates: %v", r)
	}

	addr := serveTLS(t, m.TLSConfig())
	st, err := handshake(addr, &tls.Config{ServerName: acmeName, RootCAs: p.issuingRoots})
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	leaf := st.PeerCertificates[0]
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != acmeName {
		t.Errorf("SANs = %v", leaf.DNSNames)
	}
	chain := st.VerifiedChains[0]
	if !chain[len(chain)-1].Equal(p.ca.GetRootCert(0).Cert) {
		t.Error("chain does not end at pebble's root")
	}
	if got := metrics(t, m)["clinicbox_tls_certificate_renewals_total{result=success}"]; got != 1 {
		t.Errorf("success counter %v", got)
	}
	if strings.Contains(logs.String(), secret) {
		t.Error("the TSIG secret reached the log")
	}
}

// A key the DNS server refuses reaches Manage's caller and Ready in words,
// and nothing is asked of the CA's validation.
func TestACMEDNS01WrongKey(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an ACME server")
	}
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	logs := newTestLog(t)
	z := startZoneServer(t, logs, newSecret())
	dead := busyPortReleased(t)
	p := startPebble(t, logs, z.addr, dead, dead)
	m := newManager(t, Config{
		Mode: ModeACME, DataDir: t.TempDir(), Names: []string{acmeName},
		ACMECA: p.directory, ACMECARoot: p.serverRootFile,
		DNSProvider:  newProvider(t, RFC2136Config{Server: z.addr, Zone: testZone, TSIGKey: "clinicbox-key", TSIGSecret: newSecret()}),
		DNSResolvers: []string{z.addr},
		Logger:       logs.slog(),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := m.Manage(ctx)
	if err == nil || !strings.HasPrefix(err.Error(), "certs: obtaining certificate") || !strings.Contains(err.Error(), "NOTAUTH (TSIG BADSIG)") {
		t.Fatalf("Manage = %v", err)
	}
	if err := m.Ready(ctx); err == nil || !strings.Contains(err.Error(), "acme-dns-tsig-secret-file") {
		t.Errorf("Ready = %v", err)
	}
	if r := z.refusals(); len(r) == 0 || r[0] != dns.RcodeNotAuth {
		t.Errorf("refusals %v", r)
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	if n := z.txtQueries[challengeName][true]; n != 0 {
		t.Errorf("pebble looked up the record %d times", n)
	}
}
