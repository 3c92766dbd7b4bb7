// Package oidctest runs a real OpenID Connect provider inside a test: the
// OP of github.com/zitadel/oidc (pkg/op) over its example storage, served
// over TLS, standing in for an eID broker (Idura, Signicat…). People log in
// on a small form (or cancel, which answers error=access_denied); the ID
// token and the userinfo answer carry a personnummer claim.
//
// Tests only: nothing outside _test files imports it.
package oidctest

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

// Person is someone who can log in at the provider.
type Person struct {
	Username, Password    string
	GivenName, FamilyName string
	// Personnummer is sent as is in the personnummer claim; "" leaves the
	// claim out.
	Personnummer string
}

// Options configure a Provider.
type Options struct {
	ClientID     string // default "clinicbox"
	ClientSecret string // default: random
	// PnrClaim is the claim that carries Person.Personnummer; default the
	// Swedish OIDC profile's.
	PnrClaim string
	// ClaimsInIDToken puts name and personnummer into the ID token (like
	// Idura); otherwise only the userinfo endpoint has them (like
	// Signicat's default).
	ClaimsInIDToken bool
	People          []Person
}

// Provider is a running OpenID provider.
type Provider struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	// CAFile is a PEM file with the provider's TLS certificate, for
	// --eid-ca-root; Roots holds the same.
	CAFile string
	Roots  *x509.CertPool

	opts    Options
	srv     *httptest.Server
	op      *op.Provider
	storage *store

	mu        sync.Mutex
	clients   map[string]*client
	rewriteID func(string) string
	logins    int
	down      bool
}

// Start runs a provider until the test ends.
func Start(t testing.TB, o Options) *Provider {
	t.Helper()
	if o.ClientID == "" {
		o.ClientID = "clinicbox"
	}
	if o.ClientSecret == "" {
		o.ClientSecret = rand.Text()
	}
	if o.PnrClaim == "" {
		o.PnrClaim = "https://id.oidc.se/claim/personalIdentityNumber"
	}
	p := &Provider{ClientID: o.ClientID, ClientSecret: o.ClientSecret, opts: o, clients: map[string]*client{}}
	p.clients[o.ClientID] = &client{id: o.ClientID, secret: o.ClientSecret, assert: o.ClaimsInIDToken, p: p}

	var handler http.Handler
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	p.srv.StartTLS()
	t.Cleanup(p.srv.Close)
	p.Issuer = p.srv.URL

	users := userStore{byID: map[string]*storage.User{}, pnr: map[string]string{}, clientID: o.ClientID}
	for i, person := range o.People {
		u := &storage.User{ID: fmt.Sprintf("person-%d", i+1), Username: person.Username, Password: person.Password,
			FirstName: person.GivenName, LastName: person.FamilyName, PreferredLanguage: language.Swedish}
		users.byID[u.ID] = u
		users.pnr[u.ID] = person.Personnummer
	}
	p.storage = &store{Storage: storage.NewStorageWithClients(users, map[string]*storage.Client{}), users: users, p: p}
	var key [32]byte
	rand.Read(key[:])
	provider, err := op.NewProvider(&op.Config{
		CryptoKey:          key,
		CodeMethodS256:     true,
		SupportedUILocales: []language.Tag{language.Swedish, language.English},
	}, p.storage, op.StaticIssuer(p.Issuer))
	if err != nil {
		t.Fatalf("oidctest: %v", err)
	}
	p.op = provider
	mux := http.NewServeMux()
	mux.Handle("/login", op.NewIssuerInterceptor(provider.IssuerFromRequest).HandlerFunc(p.login))
	mux.Handle("/", provider)
	handler = p.rewriteTokens(mux)

	p.Roots = x509.NewCertPool()
	p.Roots.AddCert(p.srv.Certificate())
	p.CAFile = filepath.Join(t.TempDir(), "broker-ca.pem")
	if err := os.WriteFile(p.CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// AllowRedirect registers a redirect URI for the box's client (the box's
// port is known only once it runs).
func (p *Provider) AllowRedirect(uri string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clients[p.ClientID].redirects = append(p.clients[p.ClientID].redirects, uri)
}

// AddClient registers another client of this provider (e.g. to get a
// genuine ID token for someone else's audience).
func (p *Provider) AddClient(id, secret, redirectURI string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clients[id] = &client{id: id, secret: secret, redirects: []string{redirectURI}, assert: true, p: p}
}

// RewriteNextIDToken makes the next token response carry f(its ID token)
// instead: a broker (or an attacker between) that sends a token made for
// someone else, or a tampered one.
func (p *Provider) RewriteNextIDToken(f func(string) string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rewriteID = f
}

// SetDown makes every request fail with 503 (down) or answer again.
func (p *Provider) SetDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
}

// Logins counts the logins that passed the provider's form.
func (p *Provider) Logins() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logins
}

// Client returns an HTTP client that trusts the provider (and every other
// httptest TLS server, which share one certificate), keeps cookies when
// jar is set, and does not follow redirects.
func (p *Provider) Client(jar http.CookieJar) *http.Client {
	c := p.srv.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.Timeout = 10 * time.Second
	return c
}

// SignIn follows authURL (the broker URL a relying party redirected to)
// through the login form as username/password, and returns where the
// provider sends the browser back: the relying party's redirect URI with
// code and state. c must not follow redirects.
func (p *Provider) SignIn(c *http.Client, authURL, username, password string) (string, error) {
	return p.walk(c, authURL, url.Values{"username": {username}, "password": {password}})
}

// Cancel follows authURL and presses "Cancel" on the login form; the
// returned URL carries error=access_denied.
func (p *Provider) Cancel(c *http.Client, authURL string) (string, error) {
	return p.walk(c, authURL, url.Values{"action": {"cancel"}})
}

func (p *Provider) walk(c *http.Client, authURL string, form url.Values) (string, error) {
	loc, err := redirect(c.Get(authURL))
	if err != nil {
		return "", fmt.Errorf("authorize: %w", err)
	}
	u, err := url.Parse(loc)
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(u.Path, "/login") {
		return loc, nil // an error straight from /authorize
	}
	form.Set("id", u.Query().Get("authRequestID"))
	loc, err = redirect(c.PostForm(p.Issuer+"/login", form))
	if err != nil {
		return "", fmt.Errorf("login form: %w", err)
	}
	if strings.HasPrefix(loc, "/") {
		loc = p.Issuer + loc
	}
	if !strings.HasPrefix(loc, p.Issuer) {
		return loc, nil // cancelled: straight back to the relying party
	}
	return redirect(c.Get(loc))
}

func redirect(resp *http.Response, err error) (string, error) {
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 3 {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	return resp.Header.Get("Location"), nil
}

// IDToken runs a whole code flow for clientID (registered with AddClient,
// or the box's) as username and returns the genuine ID token the
// provider issues.
func (p *Provider) IDToken(clientID, secret, redirectURI, username, password string) (string, error) {
	c := p.Client(nil)
	q := url.Values{"client_id": {clientID}, "redirect_uri": {redirectURI}, "response_type": {"code"},
		"scope": {"openid profile"}, "state": {rand.Text()}, "nonce": {rand.Text()}}
	back, err := p.SignIn(c, p.Issuer+"/authorize?"+q.Encode(), username, password)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(back)
	if err != nil || u.Query().Get("code") == "" {
		return "", fmt.Errorf("no code in %q", back)
	}
	req, _ := http.NewRequest("POST", p.Issuer+"/oauth/token", strings.NewReader(url.Values{
		"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")}, "redirect_uri": {redirectURI}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var tr struct {
		IDToken string `json:"id_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || tr.IDToken == "" {
		return "", fmt.Errorf("token response %d: %v", resp.StatusCode, err)
	}
	return tr.IDToken, nil
}

// rewriteTokens applies RewriteNextIDToken to a token response.
func (p *Provider) rewriteTokens(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		f := p.rewriteID
		if r.URL.Path != "/oauth/token" {
			f = nil
		}
		if f != nil {
			p.rewriteID = nil
		}
		p.mu.Unlock()
		if f == nil {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err == nil {
			if tok, ok := body["id_token"].(string); ok {
				body["id_token"] = f(tok)
			}
		}
		for k, v := range rec.Header() {
			if k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(rec.Code)
		json.NewEncoder(w).Encode(body)
	})
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="sv"><head><meta charset="utf-8"><title>Test eID</title></head>
<body><main><h1>Test eID broker</h1>
{{if .Error}}<p role="alert">{{.Error}}</p>{{end}}
<form method="post" action="/login">
<input type="hidden" name="id" value="{{.ID}}">
<label for="username">Username</label> <input id="username" name="username">
<label for="password">Password</label> <input id="password" name="password" type="password">
<button id="login" type="submit" name="action" value="login">Log in</button>
<button id="cancel" type="submit" name="action" value="cancel">Cancel</button>
</form></main></body></html>`))

// login is the provider's login UI: a form, or a cancel.
func (p *Provider) login(w http.ResponseWriter, r *http.Request) {
	id := r.FormValue("authRequestID")
	if r.Method == http.MethodGet {
		loginPage.Execute(w, struct{ ID, Error string }{id, ""})
		return
	}
	id = r.PostFormValue("id")
	if r.PostFormValue("action") == "cancel" {
		req, err := p.storage.AuthRequestByID(r.Context(), id)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		op.AuthRequestError(w, r, req, oidc.ErrAccessDenied().WithDescription("the person cancelled"), p.op)
		return
	}
	if err := p.storage.CheckUsernamePassword(r.PostFormValue("username"), r.PostFormValue("password"), id); err != nil {
		w.WriteHeader(http.StatusUnauthorized)
		loginPage.Execute(w, struct{ ID, Error string }{id, "Wrong username or password."})
		return
	}
	p.mu.Lock()
	p.logins++
	p.mu.Unlock()
	http.Redirect(w, r, op.AuthCallbackURL(p.op)(r.Context(), id), http.StatusFound)
}

// store is the example storage with this provider's clients and the
// personnummer claim added.
type store struct {
	*storage.Storage
	users userStore
	p     *Provider
}

func (s *store) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	if c, ok := s.p.clients[id]; ok {
		return c, nil
	}
	return nil, errors.New("client not found")
}

func (s *store) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	if c, ok := s.p.clients[id]; ok && c.secret == secret {
		return nil
	}
	return errors.New("invalid client")
}

// SetUserinfoFromRequest fills the ID token.
func (s *store) SetUserinfoFromRequest(ctx context.Context, ui *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	if err := s.Storage.SetUserinfoFromRequest(ctx, ui, req, scopes); err != nil {
		return err
	}
	if s.p.clientAsserts(req.GetClientID()) {
		s.addPnr(ui, req.GetSubject())
	}
	return nil
}

// SetUserinfoFromToken fills the userinfo answer.
func (s *store) SetUserinfoFromToken(ctx context.Context, ui *oidc.UserInfo, tokenID, subject, origin string) error {
	if err := s.Storage.SetUserinfoFromToken(ctx, ui, tokenID, subject, origin); err != nil {
		return err
	}
	if ui.Subject == "" {
		ui.Subject = subject
	}
	s.addPnr(ui, ui.Subject)
	return nil
}

func (s *store) addPnr(ui *oidc.UserInfo, subject string) {
	if pnr := s.users.pnr[subject]; pnr != "" {
		ui.AppendClaims(s.p.opts.PnrClaim, pnr)
	}
}

func (p *Provider) clientAsserts(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.clients[id]
	return ok && c.assert
}

type userStore struct {
	byID     map[string]*storage.User
	pnr      map[string]string
	clientID string
}

func (u userStore) GetUserByID(id string) *storage.User { return u.byID[id] }

func (u userStore) GetUserByUsername(name string) *storage.User {
	for _, user := range u.byID {
		if user.Username == name {
			return user
		}
	}
	return nil
}

func (u userStore) ExampleClientID() string { return u.clientID }

// client is a confidential web client (client_secret_basic, code flow).
type client struct {
	id, secret string
	redirects  []string
	assert     bool // name and personnummer in the ID token
	p          *Provider
}

var _ op.Client = (*client)(nil)

func (c *client) GetID() string { return c.id }
func (c *client) RedirectURIs() []string {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	return slices.Clone(c.redirects)
}
func (c *client) PostLogoutRedirectURIs() []string    { return nil }
func (c *client) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c *client) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodBasic }
func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *client) GrantTypes() []oidc.GrantType        { return []oidc.GrantType{oidc.GrantTypeCode} }
func (c *client) LoginURL(id string) string           { return "/login?authRequestID=" + url.QueryEscape(id) }
func (c *client) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (c *client) IDTokenLifetime() time.Duration      { return 5 * time.Minute }
func (c *client) DevMode() bool                       { return false }
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) IsScopeAllowed(string) bool           { return true }
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return c.assert }
func (c *client) ClockSkew() time.Duration             { return 0 }
