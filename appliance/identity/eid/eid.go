// Package eid logs people in with Swedish eID (BankID, Freja eID) through
// an OpenID Connect broker (Idura, Signicat, a Sweden Connect provider…).
// It is the relying party: the authorization code flow with PKCE (S256),
// state and nonce, and the ID token verified against the broker's keys
// (issuer, audience, expiry, nonce, signature, access-token hash). What
// comes out is a validated personnummer and a name; who that is at this
// clinic is package identity's business.
//
//	browser ─ GET /login/eid ─────────────► Begin: state, nonce, PKCE verifier,
//	        ◄ 303 to the broker ───────────        sealed in a short-lived cookie
//	browser ─ BankID / Freja at the broker
//	        ─ GET /login/eid/callback?code&state ► Complete:
//	                                                 cookie opened, state compared, marked used
//	                                                 code + verifier → token endpoint
//	                                                 ID token verified (JWKS), nonce compared
//	                                                 personnummer claim (ID token, else userinfo) → Parse
//
// The broker's discovery document is fetched on first use and again after
// a failure (at most every RetryAfter), so a broker that is down when the
// box starts does not stop the box: eID is shown as unavailable until it
// answers.
//
// Nothing here logs a personnummer or a name; errors carry none either.
package eid

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/oauth2"

	"clinicbox/appliance/identity/personnummer"
)

// FlowTTL is how long a person has at the broker before the login must
// start again.
const FlowTTL = 10 * time.Minute

// RetryAfter is how long a failed discovery is remembered before the
// broker is asked again.
const RetryAfter = 30 * time.Second

// Errors of Complete and Begin, for the web layer to map to pages.
var (
	// ErrUnavailable: the broker cannot be reached (discovery or the token
	// endpoint failed at the network level).
	ErrUnavailable = errors.New("eid: the eID broker cannot be reached")
	// ErrNoFlow: no login in progress in this browser (no cookie, or one
	// that was not made by this box).
	ErrNoFlow = errors.New("eid: no eID login in progress")
	// ErrExpired: the login took longer than FlowTTL.
	ErrExpired = errors.New("eid: the eID login took too long")
	// ErrStateMismatch: the answer does not belong to this browser's login.
	ErrStateMismatch = errors.New("eid: the answer does not belong to this login")
	// ErrReplayed: this login's answer was used already.
	ErrReplayed = errors.New("eid: this eID answer was used already")
	// ErrVerify: the code exchange or the ID token failed (wrong issuer,
	// audience, signature, nonce, expiry…).
	ErrVerify = errors.New("eid: the eID answer could not be verified")
	// ErrClaimsMissing: the verified answer lacks the personnummer or the
	// name (the broker's settings or the claim names are wrong).
	ErrClaimsMissing = errors.New("eid: the eID answer lacks the personnummer or the name")
	// ErrPersonnummer: the personnummer claim is not a valid personnummer
	// or samordningsnummer. It wraps the personnummer package's error.
	ErrPersonnummer = errors.New("eid: the personnummer from eID is not valid")
)

// ProviderError is an error the broker sent back instead of a code
// (error=access_denied when the person cancelled, …).
type ProviderError struct {
	Code string // the OAuth error code, reduced to [a-z_] for logs
}

func (e *ProviderError) Error() string { return "eid: the broker answered " + e.Code }

// Cancelled reports whether the person (or the broker on their behalf)
// declined: a matter for a "try again" page, not an alarm.
func (e *ProviderError) Cancelled() bool {
	return e.Code == "access_denied" || e.Code == "login_required"
}

// Config configures a Client.
type Config struct {
	Issuer       string // https URL, exactly as in the broker's discovery document
	ClientID     string
	ClientSecret string
	Scopes       []string // must include "openid"
	PnrClaim     string   // the claim that holds the personnummer
	NameClaim    string   // the claim that holds the full name
	// Roots are the certificates trusted for the broker; nil trusts the
	// system's.
	Roots *x509.CertPool
	// FlowKey (32 bytes) seals the flow cookie; derive it from the box's
	// master key so it survives restarts.
	FlowKey []byte
	Logger  *slog.Logger
	Now     func() time.Time
}

// Client is the box's relying party at one broker. It is safe for
// concurrent use.
type Client struct {
	cfg  Config
	http *http.Client
	seal *sealer
	log  *slog.Logger

	mu      sync.Mutex
	rp      rp.RelyingParty
	lastErr error
	lastTry time.Time

	usedMu sync.Mutex
	used   map[[32]byte]time.Time // SHA-256(state) → when it may be forgotten
}

// New checks the configuration; it does not contact the broker.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.Issuer)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("eid: issuer %q is not an https URL", cfg.Issuer)
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("eid: client id and secret are required")
	}
	if cfg.PnrClaim == "" || cfg.NameClaim == "" {
		return nil, errors.New("eid: the personnummer and name claims must be named")
	}
	hasOpenID := false
	for _, s := range cfg.Scopes {
		hasOpenID = hasOpenID || s == oidc.ScopeOpenID
	}
	if !hasOpenID {
		cfg.Scopes = append([]string{oidc.ScopeOpenID}, cfg.Scopes...)
	}
	sl, err := newSealer(cfg.FlowKey)
	if err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: cfg.Roots, MinVersion: tls.VersionTLS12}
	return &Client{
		cfg:  cfg,
		http: &http.Client{Transport: tr, Timeout: 15 * time.Second},
		seal: sl,
		log:  cfg.Logger.With("subsystem", "eid"),
		used: map[[32]byte]time.Time{},
	}, nil
}

// Discover fetches the broker's discovery document now (at start, to
// warm up and to log a problem early). Logins do it by themselves.
func (c *Client) Discover(ctx context.Context) error {
	_, err := c.provider(ctx, true)
	return err
}

// Available reports whether the broker answered the last time it was
// asked (or has not been asked yet).
func (c *Client) Available() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rp != nil || c.lastErr == nil
}

// provider returns the relying party, running discovery when there is
// none yet; after a failure it waits RetryAfter before trying again
// (unless force).
func (c *Client) provider(ctx context.Context, force bool) (rp.RelyingParty, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rp != nil {
		return c.rp, nil
	}
	now := c.cfg.Now()
	if !force && c.lastErr != nil && now.Sub(c.lastTry) < RetryAfter {
		return nil, ErrUnavailable
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	p, err := rp.NewRelyingPartyOIDC(ctx, c.cfg.Issuer, c.cfg.ClientID, c.cfg.ClientSecret, "", c.cfg.Scopes,
		rp.WithHTTPClient(c.http),
		rp.WithSigningAlgsFromDiscovery(),
		rp.WithVerifierOpts(rp.WithNonce(nonceFrom), rp.WithIssuedAtOffset(30*time.Second)),
	)
	c.lastTry = now
	if err != nil {
		if c.lastErr == nil {
			c.log.Warn("eID broker unreachable; eID login is unavailable until it answers", "issuer", c.cfg.Issuer, "err", err)
		}
		c.lastErr = err
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if c.lastErr != nil {
		c.log.Info("eID broker reachable again", "issuer", c.cfg.Issuer)
	}
	c.rp, c.lastErr = p, nil
	return p, nil
}

type nonceKey struct{}

// nonceFrom gives the ID token verifier the nonce of the login being
// completed; the relying party is shared by all logins.
func nonceFrom(ctx context.Context) string {
	n, _ := ctx.Value(nonceKey{}).(string)
	return n
}

// Start is what a login carries through the broker and back.
type Start struct {
	// RedirectURI is this box's callback as the browser reaches it, e.g.
	// https://box.example-clinic.se/login/eid/callback; the broker must
	// have it registered.
	RedirectURI string
	Invite      string // an invitation link's token, to link on return
	Next        string // where to go after logging in (a path on this box)
	Lang        string // "sv" or "en": the broker's pages in the same language
}

// flow is the sealed content of the flow cookie.
type flow struct {
	State       string    `json:"s"`
	Nonce       string    `json:"n"`
	Verifier    string    `json:"v"`
	RedirectURI string    `json:"r"`
	Invite      string    `json:"i,omitempty"`
	Next        string    `json:"x,omitempty"`
	Expires     time.Time `json:"e"`
}

// Begin starts a login: it returns the broker's authorization URL to send
// the browser to, and the sealed flow to keep in a cookie until the
// browser comes back.
func (c *Client) Begin(ctx context.Context, st Start) (authURL, sealedFlow string, err error) {
	p, err := c.provider(ctx, false)
	if err != nil {
		return "", "", err
	}
	f := flow{State: random(), Nonce: random(), Verifier: oauth2.GenerateVerifier(), RedirectURI: st.RedirectURI,
		Invite: st.Invite, Next: st.Next, Expires: c.cfg.Now().Add(FlowTTL).UTC()}
	sealedFlow, err = c.seal.seal(f)
	if err != nil {
		return "", "", err
	}
	opts := []rp.AuthURLOpt{
		rp.WithCodeChallenge(oidc.NewSHACodeChallenge(f.Verifier)),
		param("nonce", f.Nonce),
		param("redirect_uri", f.RedirectURI),
	}
	if st.Lang != "" {
		opts = append(opts, param("ui_locales", st.Lang))
	}
	return rp.AuthURL(f.State, p, opts...), sealedFlow, nil
}

func param(k, v string) func() []oauth2.AuthCodeOption {
	return func() []oauth2.AuthCodeOption { return []oauth2.AuthCodeOption{oauth2.SetAuthURLParam(k, v)} }
}

// Result is a completed eID login.
type Result struct {
	Personnummer personnummer.Number
	Name         string
	// Invite and Next are what Begin was given; they are set whenever the
	// flow cookie could be opened, also when Complete fails, so a "try
	// again" can keep them.
	Invite string
	Next   string
}

// Complete finishes a login from the callback's query and the flow
// cookie. The flow is spent whatever the outcome: an answer is used once.
func (c *Client) Complete(ctx context.Context, sealedFlow string, query url.Values) (Result, error) {
	f, err := c.seal.open(sealedFlow)
	if err != nil {
		return Result{}, ErrNoFlow
	}
	res := Result{Invite: f.Invite, Next: f.Next}
	if c.cfg.Now().After(f.Expires) {
		return res, ErrExpired
	}
	if subtle.ConstantTimeCompare([]byte(query.Get("state")), []byte(f.State)) != 1 {
		return res, ErrStateMismatch
	}
	if !c.spend(f.State, f.Expires) {
		return res, ErrReplayed
	}
	if code := query.Get("error"); code != "" {
		return res, &ProviderError{Code: cleanCode(code)}
	}
	code := query.Get("code")
	if code == "" {
		return res, fmt.Errorf("%w: no code in the answer", ErrVerify)
	}
	p, err := c.provider(ctx, false)
	if err != nil {
		return res, err
	}
	ctx = context.WithValue(ctx, nonceKey{}, f.Nonce)
	tokens, err := rp.CodeExchange[*oidc.IDTokenClaims](ctx, code, p,
		rp.WithCodeVerifier(f.Verifier),
		rp.CodeExchangeOpt(param("redirect_uri", f.RedirectURI)))
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return res, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		return res, fmt.Errorf("%w: %v", ErrVerify, err)
	}
	claims := tokens.IDTokenClaims
	pnr, name := claimString(claims.Claims, c.cfg.PnrClaim), c.name(claims.Claims)
	if (pnr == "" || name == "") && p.UserinfoEndpoint() != "" {
		// Some brokers (Signicat by default) put the personnummer only in
		// the userinfo answer; its subject must be the ID token's.
		info, err := rp.Userinfo[*oidc.UserInfo](ctx, tokens.AccessToken, tokens.Type(), claims.GetSubject(), p)
		if err != nil {
			return res, fmt.Errorf("%w: userinfo: %v", ErrVerify, err)
		}
		if pnr == "" {
			pnr = claimString(info.Claims, c.cfg.PnrClaim)
		}
		if name == "" {
			name = c.name(info.Claims)
		}
	}
	if pnr == "" || name == "" {
		return res, ErrClaimsMissing
	}
	n, err := personnummer.Parse(pnr, c.cfg.Now())
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrPersonnummer, err)
	}
	res.Personnummer, res.Name = n, name
	return res, nil
}

// name is the name claim, or given_name and family_name.
func (c *Client) name(claims map[string]any) string {
	if n := claimString(claims, c.cfg.NameClaim); n != "" {
		return n
	}
	return strings.TrimSpace(claimString(claims, "given_name") + " " + claimString(claims, "family_name"))
}

func claimString(claims map[string]any, key string) string {
	s, _ := claims[key].(string)
	return strings.TrimSpace(s)
}

// spend marks a flow's state as used; false if it was already.
func (c *Client) spend(state string, expires time.Time) bool {
	key := sha256.Sum256([]byte(state))
	now := c.cfg.Now()
	c.usedMu.Lock()
	defer c.usedMu.Unlock()
	for k, until := range c.used {
		if now.After(until) {
			delete(c.used, k)
		}
	}
	if _, ok := c.used[key]; ok {
		return false
	}
	c.used[key] = expires
	return true
}

// cleanCode keeps an OAuth error code fit for a log line: it comes from
// the query string, which anyone can write.
func cleanCode(s string) string {
	if len(s) > 40 {
		return "other"
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r == '_') {
			return "other"
		}
	}
	return s
}

func random() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// sealer encrypts the flow cookie (XChaCha20-Poly1305), so a browser can
// neither read the PKCE verifier and nonce nor forge a flow.
type sealer struct{ key []byte }

var flowAAD = []byte("clinicbox/eid/flow/v1")

func newSealer(key []byte) (*sealer, error) {
	if len(key) != chacha20poly1305.KeySize {
		return nil, fmt.Errorf("eid: the flow key must be %d bytes", chacha20poly1305.KeySize)
	}
	return &sealer{key: key}, nil
}

func (s *sealer) seal(f flow) (string, error) {
	plain, err := json.Marshal(f)
	if err != nil {
		return "", err
	}
	aead, _ := chacha20poly1305.NewX(s.key)
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(aead.Seal(nonce, nonce, plain, flowAAD)), nil
}

func (s *sealer) open(v string) (flow, error) {
	var f flow
	b, err := base64.RawURLEncoding.DecodeString(v)
	aead, _ := chacha20poly1305.NewX(s.key)
	if err != nil || len(b) < aead.NonceSize()+aead.Overhead() {
		return f, ErrNoFlow
	}
	plain, err := aead.Open(nil, b[:aead.NonceSize()], b[aead.NonceSize():], flowAAD)
	if err != nil {
		return f, ErrNoFlow
	}
	if err := json.Unmarshal(plain, &f); err != nil || f.State == "" {
		return f, ErrNoFlow
	}
	return f, nil
}
