package notify

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// gateway sends SMS through an HTTP gateway: a URL template, optionally a
// POST body template, and an auth header.
type gateway struct {
	cfg         SMSConfig
	host        string // for messages: never the URL, which holds the number and text
	json        bool   // the body is JSON
	countryCode string
	client      *http.Client
}

func newGateway(cfg SMSConfig) (*gateway, error) {
	if cfg.Method == "" {
		cfg.Method = http.MethodGet
	}
	if cfg.Method != http.MethodGet && cfg.Method != http.MethodPost {
		return nil, fmt.Errorf("notify: SMS method %q is not GET or POST", cfg.Method)
	}
	if cfg.Body != "" && cfg.Method != http.MethodPost {
		return nil, errors.New("notify: an SMS body needs the method POST")
	}
	u, err := url.Parse(fill(cfg.URL, "+46700000000", "x"))
	if err != nil || u.Host == "" || u.User != nil || !(u.Scheme == "https" || u.Scheme == "http" && isLoopback(u.Hostname())) {
		return nil, errors.New("notify: the SMS gateway URL is not an https:// URL (http only to this machine) without a password in it")
	}
	if !strings.Contains(cfg.URL+cfg.Body, "{to}") {
		return nil, errors.New("notify: the SMS gateway templates lack the placeholder {to}")
	}
	if cfg.AuthHeader != "" && (http.CanonicalHeaderKey(cfg.AuthHeader) == "" || strings.ContainsAny(cfg.AuthHeader+cfg.AuthValue, "\r\n")) {
		return nil, errors.New("notify: the SMS gateway's auth header is not one header line")
	}
	cfg.Timeout = orDefault(cfg.Timeout, 10*time.Second)
	if cfg.CountryCode == "" {
		cfg.CountryCode = "46"
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12}
	g := &gateway{cfg: cfg, host: u.Host, countryCode: cfg.CountryCode,
		json: strings.HasPrefix(strings.TrimSpace(cfg.Body), "{") || strings.HasPrefix(strings.TrimSpace(cfg.Body), "["),
		client: &http.Client{Transport: tr, Timeout: cfg.Timeout,
			// A redirect could carry the auth header (any name but
			// Authorization) to another host: never follow one.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	return g, nil
}

// fill replaces the placeholders of a URL template: escaped for a path
// before the '?', for a query after it.
func fill(tmpl, to, text string) string {
	path, query, hasQuery := strings.Cut(tmpl, "?")
	r := strings.NewReplacer("{to}", url.PathEscape(to), "{text}", url.PathEscape(text))
	out := r.Replace(path)
	if hasQuery {
		q := strings.NewReplacer("{to}", url.QueryEscape(to), "{text}", url.QueryEscape(text))
		out += "?" + q.Replace(query)
	}
	return out
}

// fillBody replaces the placeholders of a body template: as JSON string
// contents in a JSON body, form-escaped otherwise.
func (g *gateway) fillBody(to, text string) string {
	esc := url.QueryEscape
	if g.json {
		esc = func(s string) string {
			b, _ := json.Marshal(s)
			return string(b[1 : len(b)-1])
		}
	}
	return strings.NewReplacer("{to}", esc(to), "{text}", esc(text)).Replace(g.cfg.Body)
}

// send posts one SMS. Errors name the gateway's host and the HTTP status,
// never the URL, the number or the text.
func (g *gateway) send(ctx context.Context, to, text string) error {
	var body io.Reader
	if g.cfg.Body != "" {
		body = strings.NewReader(g.fillBody(to, text))
	}
	req, err := http.NewRequestWithContext(ctx, g.cfg.Method, fill(g.cfg.URL, to, text), body)
	if err != nil {
		return permanent(fmt.Errorf("notify: the request to the SMS gateway %s cannot be built from the URL template", g.host))
	}
	if body != nil {
		if g.json {
			req.Header.Set("Content-Type", "application/json")
		} else {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	}
	if g.cfg.AuthHeader != "" {
		req.Header.Set(g.cfg.AuthHeader, g.cfg.AuthValue)
	}
	req.Header.Set("User-Agent", "clinicbox")
	resp, err := g.client.Do(req)
	if err != nil {
		// *url.Error repeats the whole URL: keep only its cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if ue != nil && ue.Timeout() {
			return fmt.Errorf("notify: the SMS gateway %s did not answer within %v", g.host, g.cfg.Timeout)
		}
		if isCertError(err) {
			return permanent(fmt.Errorf("notify: the SMS gateway %s has a certificate this box does not trust: %w", g.host, err))
		}
		return fmt.Errorf("notify: cannot reach the SMS gateway %s: %w", g.host, err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		return nil
	}
	e := fmt.Errorf("notify: the SMS gateway %s answered %d %s", g.host, resp.StatusCode, http.StatusText(resp.StatusCode))
	switch {
	case resp.StatusCode/100 == 3:
		return permanent(fmt.Errorf("%w; redirects are not followed, check the gateway URL", e))
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return permanent(fmt.Errorf("%w; check the auth header file", e))
	case resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests:
		return permanent(e)
	}
	return e
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// normalizePhone turns a number as a person writes it ("070-123 45 67",
// "+46 (0)70 123 45 67", "0046701234567") into international form
// (+46701234567). Numbers without a country code get countryCode.
func normalizePhone(s, countryCode string) (string, error) {
	s = strings.ReplaceAll(strings.TrimSpace(s), "(0)", "")
	var b strings.Builder
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0:
			b.WriteRune(r)
		case strings.ContainsRune(" -./()\u00a0", r):
		default:
			return "", permanent(errors.New("notify: the user's phone number cannot be used for SMS"))
		}
	}
	n := b.String()
	switch {
	case strings.HasPrefix(n, "+"):
	case strings.HasPrefix(n, "00"):
		n = "+" + n[2:]
	case strings.HasPrefix(n, "0"):
		n = "+" + countryCode + n[1:]
	}
	if !e164.MatchString(n) {
		return "", permanent(errors.New("notify: the user's phone number cannot be used for SMS"))
	}
	return n, nil
}
