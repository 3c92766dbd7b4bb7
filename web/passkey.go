package web

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"clinicbox/appliance/identity"
	"clinicbox/appliance/identity/passkey"
)

// Passkeys (WebAuthn) are a second factor beside TOTP for the roles that
// need one. The browser side is web/ui/static/passkey.js; the ceremonies
// are in appliance/identity/passkey.
//
//	POST /api/v1/passkeys/register/begin   {label}       → creation options
//	POST /api/v1/passkeys/register/finish  {credential}  → {redirect, recovery_codes?}
//	POST /api/v1/passkeys/login/begin      {}            → request options
//	POST /api/v1/passkeys/login/finish     {credential, next} → {redirect}
//	GET  /account/passkeys                 the list: labels, dates, remove, add
//	POST /account/passkeys/remove          id=<credential id, base64url>
//
// Registering is open to complete sessions of staff roles and to
// half-logged-in ones of users with no second factor yet (enrolling a
// passkey instead of TOTP); logging in, to half-logged-in sessions after
// the password. Each challenge is bound to the session that asked for it
// and spent by its first answer.

var passkeyRoles = []identity.Role{identity.RoleAdmin, identity.RoleStaff, identity.RoleTechnician}

// passkeyAccess is SecondFactorPending narrowed to the staff roles:
// clients and relatives have no second factor.
var passkeyAccess = Access{name: "passkey", partial: true, roles: passkeyRoles}

type passkeyHandlers struct {
	s          *Server
	ceremonies *passkey.Ceremonies
}

func (s *Server) passkeyRoutes() {
	p := &passkeyHandlers{s: s, ceremonies: passkey.NewCeremonies(s.opts.Identity.Passkeys(), nil)}
	s.route("POST /api/v1/passkeys/register/begin", passkeyAccess, p.registerBegin)
	s.route("POST /api/v1/passkeys/register/finish", passkeyAccess, p.registerFinish)
	s.route("POST /api/v1/passkeys/login/begin", passkeyAccess, p.loginBegin)
	s.route("POST /api/v1/passkeys/login/finish", passkeyAccess, p.loginFinish)
	s.route("GET /account/passkeys", Roles(passkeyRoles...), p.page)
	s.route("POST /account/passkeys/remove", Roles(passkeyRoles...), p.remove)
}

// relyingParty is the RP of a request: the host name the user reached,
// if it is a DNS name the box serves. Passkeys are bound to a name; at an
// IP address browsers refuse them, so none is offered there.
func (s *Server) relyingParty(r *http.Request) (passkey.RP, bool) {
	host := strings.ToLower(r.Host)
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	if !isDNSName(name) {
		return passkey.RP{}, false
	}
	if len(s.opts.Hostnames) > 0 && !hostListed(s.opts.Hostnames, name) {
		return passkey.RP{}, false
	}
	return passkey.RP{ID: name, Origin: "https://" + host, Name: "clinicbox"}, true
}

// isDNSName accepts host names ("localhost", "clinic.example.se") and
// refuses addresses and anything else.
func isDNSName(name string) bool {
	if name == "" || len(name) > 253 || net.ParseIP(strings.Trim(name, "[]")) != nil {
		return false
	}
	allDigits := true
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			switch {
			case c >= 'a' && c <= 'z', c == '-':
				allDigits = false
			case c >= '0' && c <= '9':
			default:
				return false
			}
		}
	}
	return !allDigits
}

func hostListed(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// boxName is a DNS name of the box to suggest when it was reached by an
// address.
func (s *Server) boxName() string {
	for _, n := range s.opts.Hostnames {
		if isDNSName(strings.ToLower(n)) && n != "localhost" {
			return n
		}
	}
	return ""
}

// passkeyOffer is what the passkey parts of the code, enrolment and
// passkeys pages show. The button stays hidden until passkey.js finds
// that the browser can use passkeys.
type passkeyOffer struct {
	Show    bool   // the section appears at all
	UseName bool   // reached by an address: say to use the box's name
	Name    string // a name to suggest, or ""
	Next    string // where a login goes afterwards
}

func (s *Server) passkeyOffer(r *http.Request, show bool, next string) *passkeyOffer {
	_, ok := s.relyingParty(r)
	name := s.boxName()
	if _, port, err := net.SplitHostPort(r.Host); err == nil && name != "" && port != "443" {
		name = net.JoinHostPort(name, port)
	}
	return &passkeyOffer{Show: show, UseName: !ok, Name: name, Next: next}
}

// ceremonyKey binds a challenge to the session: a hash of its token, so
// another session (or someone with only the CSRF token) cannot answer it.
func ceremonyKey(r *http.Request) string {
	h := sha256.Sum256([]byte("passkey-ceremony:" + sessionToken(r)))
	return hex.EncodeToString(h[:])
}

func (s *Server) passkeyUser(u identity.User) (passkey.User, error) {
	creds, err := s.opts.Identity.Passkeys().List(u.ID)
	if err != nil {
		return passkey.User{}, err
	}
	name := u.Profile.Email // how the authenticator lists the account
	if name == "" {
		name = u.Profile.Name
	}
	return passkey.User{ID: u.ID, Name: name, DisplayName: u.Profile.Name, Credentials: creds}, nil
}

// passkeyRequest is the JSON the page posts.
type passkeyRequest struct {
	Label      string          `json:"label"`
	Next       string          `json:"next"`
	Credential json.RawMessage `json:"credential"`
}

func readPasskeyRequest(w http.ResponseWriter, r *http.Request) (passkeyRequest, bool) {
	var req passkeyRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	if err := dec.Decode(&req); err != nil {
		writePasskeyError(w, http.StatusBadRequest, "invalid", "The request is not valid JSON.")
		return req, false
	}
	return req, true
}

// writePasskeyError answers with a sentence and a code the page turns
// into its own language (data-msg-<code>).
func writePasskeyError(w http.ResponseWriter, status int, code, msg string) {
	writePasskeyJSON(w, status, struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}{msg, code})
}

func writePasskeyJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error","code":"failed"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// fail maps a ceremony's error to its answer, in one place.
func (p *passkeyHandlers) fail(w http.ResponseWriter, r *http.Request, err error) {
	type answer struct {
		status int
		code   string
	}
	for _, m := range []struct {
		err error
		answer
	}{
		{passkey.ErrNoCeremony, answer{http.StatusBadRequest, "expired"}},
		{passkey.ErrInvalid, answer{http.StatusBadRequest, "invalid"}},
		{passkey.ErrUnknownCredential, answer{http.StatusBadRequest, "unknown"}},
		{passkey.ErrNoPasskey, answer{http.StatusBadRequest, "no-passkey"}},
		{passkey.ErrLabel, answer{http.StatusBadRequest, "label"}},
		{passkey.ErrCloned, answer{http.StatusForbidden, "cloned"}},
		{passkey.ErrExists, answer{http.StatusConflict, "exists"}},
		{passkey.ErrBusy, answer{http.StatusServiceUnavailable, "busy"}},
	} {
		if errors.Is(err, m.err) {
			a := authOf(r)
			p.s.log.Info("passkey refused", "route", routeOf(r), "user", a.user.ID, "code", m.code, "err", err)
			// The sentence of the error kind; the library's detail of an
			// invalid answer goes to the log only.
			writePasskeyError(w, m.status, m.code, strings.TrimPrefix(m.err.Error(), "passkey: "))
			return
		}
	}
	p.s.log.Error("passkey request failed", "route", routeOf(r), "err", err)
	writePasskeyError(w, http.StatusInternalServerError, "failed", "The box could not finish the request.")
}

// precheck is common to the four ceremony endpoints: a name the passkey
// can be bound to, and for registration in a half-logged-in session, no
// second factor yet (one who has one must pass it first).
func (p *passkeyHandlers) precheck(w http.ResponseWriter, r *http.Request, registering bool) (passkey.RP, bool) {
	a := authOf(r)
	if registering && !a.sess.Complete && a.user.HasSecondFactor() {
		writePasskeyError(w, http.StatusForbidden, "log-in-first", "Confirm your login with your second factor first.")
		return passkey.RP{}, false
	}
	rp, ok := p.s.relyingParty(r)
	if !ok {
		writePasskeyError(w, http.StatusBadRequest, "use-name", "Passkeys work only at the box's name, not at its address.")
		return rp, false
	}
	return rp, true
}

func (p *passkeyHandlers) registerBegin(w http.ResponseWriter, r *http.Request) {
	rp, ok := p.precheck(w, r, true)
	if !ok {
		return
	}
	req, ok := readPasskeyRequest(w, r)
	if !ok {
		return
	}
	a := authOf(r)
	label, err := passkey.CleanLabel(req.Label, p.s.catalogs.For(langOf(w, r)).T("passkey.label.default"))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	pu, err := p.s.passkeyUser(a.user)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	opts, err := p.ceremonies.BeginRegistration(ceremonyKey(r), rp, pu, label)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	writePasskeyJSON(w, http.StatusOK, opts)
}

func (p *passkeyHandlers) registerFinish(w http.ResponseWriter, r *http.Request) {
	rp, ok := p.precheck(w, r, true)
	if !ok {
		return
	}
	req, ok := readPasskeyRequest(w, r)
	if !ok {
		return
	}
	a := authOf(r)
	pu, err := p.s.passkeyUser(a.user)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	if _, err := p.ceremonies.FinishRegistration(ceremonyKey(r), rp, pu, req.Credential); err != nil {
		p.fail(w, r, err)
		return
	}
	p.s.log.Info("passkey registered", "user", a.user.ID, "passkeys", len(pu.Credentials)+1)
	if err := p.s.opts.Identity.PasskeyAdded(a.user.ID); err != nil {
		p.fail(w, r, err)
		return
	}
	if a.sess.Complete {
		writePasskeyJSON(w, http.StatusOK, map[string]any{"redirect": "/account/passkeys?added=1"})
		return
	}
	// Enrolment: the passkey is the user's first second factor. As with
	// TOTP, recovery codes are shown once, and the session is complete
	// under a new token.
	codes, err := p.s.opts.Identity.NewRecoveryCodes(a.user.ID)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	if !p.completeSession(w, r, a.user) {
		return
	}
	writePasskeyJSON(w, http.StatusOK, map[string]any{"redirect": "/start", "recovery_codes": codes})
}

// completeSession swaps the half-logged-in session for a complete one
// under a new token.
func (p *passkeyHandlers) completeSession(w http.ResponseWriter, r *http.Request, u identity.User) bool {
	u, err := p.s.opts.Identity.User(u.ID)
	if err == nil {
		var tok string
		if tok, _, err = p.s.opts.Identity.CompleteSession(sessionToken(r), u); err == nil {
			setSessionCookie(w, tok)
			return true
		}
	}
	if errors.Is(err, identity.ErrNoSession) || errors.Is(err, identity.ErrSessionExpired) {
		writePasskeyError(w, http.StatusUnauthorized, "expired", "Log in again.")
		return false
	}
	p.fail(w, r, err)
	return false
}

func (p *passkeyHandlers) throttleKey(u identity.User) string { return fmt.Sprint("2fa:", u.ID) }

func (p *passkeyHandlers) loginBegin(w http.ResponseWriter, r *http.Request) {
	rp, ok := p.precheck(w, r, false)
	if !ok {
		return
	}
	a := authOf(r)
	if wait := p.s.throttle.Check(p.throttleKey(a.user)); wait > 0 {
		writePasskeyError(w, http.StatusTooManyRequests, "throttled", "Too many attempts; wait a while.")
		return
	}
	pu, err := p.s.passkeyUser(a.user)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	opts, err := p.ceremonies.BeginLogin(ceremonyKey(r), rp, pu)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	writePasskeyJSON(w, http.StatusOK, opts)
}

func (p *passkeyHandlers) loginFinish(w http.ResponseWriter, r *http.Request) {
	rp, ok := p.precheck(w, r, false)
	if !ok {
		return
	}
	a := authOf(r)
	key := p.throttleKey(a.user)
	if wait := p.s.throttle.Check(key); wait > 0 {
		writePasskeyError(w, http.StatusTooManyRequests, "throttled", "Too many attempts; wait a while.")
		return
	}
	req, ok := readPasskeyRequest(w, r)
	if !ok {
		return
	}
	pu, err := p.s.passkeyUser(a.user)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	if _, err := p.ceremonies.FinishLogin(ceremonyKey(r), rp, pu, req.Credential); err != nil {
		p.s.throttle.Fail(key)
		p.fail(w, r, err)
		return
	}
	p.s.throttle.Succeed(key)
	if !p.completeSession(w, r, a.user) {
		return
	}
	p.s.log.Info("second factor passed", "user", a.user.ID, "factor", "passkey")
	writePasskeyJSON(w, http.StatusOK, map[string]any{"redirect": orStart(safeNext(req.Next))})
}

// passkeyRow is one passkey in the list.
type passkeyRow struct {
	ID       string // base64url credential id, for the remove form
	Label    string
	Created  string
	LastUsed string
	Cloned   bool
}

type passkeysPage struct {
	Rows    []passkeyRow
	HasTOTP bool
	Offer   *passkeyOffer
}

func (p *passkeyHandlers) page(w http.ResponseWriter, r *http.Request) {
	p.render(w, r, http.StatusOK, "", "")
}

// render shows the passkeys page with an error or a notice (i18n keys).
func (p *passkeyHandlers) render(w http.ResponseWriter, r *http.Request, status int, errKey, notice string) {
	a := authOf(r)
	creds, err := p.s.opts.Identity.Passkeys().List(a.user.ID)
	if err != nil {
		p.s.serverError(w, r, err)
		return
	}
	data := passkeysPage{HasTOTP: a.user.HasTOTP, Offer: p.s.passkeyOffer(r, true, "")}
	for _, c := range creds {
		row := passkeyRow{ID: base64.RawURLEncoding.EncodeToString(c.ID()), Label: c.Label,
			Created: c.CreatedAt.Local().Format("2006-01-02"), Cloned: !c.ClonedAt.IsZero()}
		if !c.LastUsedAt.IsZero() {
			row.LastUsed = c.LastUsedAt.Local().Format("2006-01-02")
		}
		data.Rows = append(data.Rows, row)
	}
	if notice == "" && r.URL.Query().Get("added") == "1" {
		notice = "passkey.added"
	}
	if notice == "" && r.URL.Query().Get("removed") == "1" {
		notice = "passkey.removed"
	}
	f := p.s.form(r, data)
	f.Error, f.Values["notice"] = errKey, notice
	p.s.render(w, r, status, "passkeys", "passkey.title", f)
}

// remove takes a passkey away; the last second factor of the account
// stays (identity.RemovePasskey): add another passkey or TOTP first.
func (p *passkeyHandlers) remove(w http.ResponseWriter, r *http.Request) {
	a := authOf(r)
	id, err := base64.RawURLEncoding.DecodeString(r.PostFormValue("id"))
	if err != nil || len(id) == 0 {
		p.render(w, r, http.StatusNotFound, "passkey.remove.notfound", "")
		return
	}
	switch err := p.s.opts.Identity.RemovePasskey(a.user.ID, id); {
	case err == nil:
		p.s.log.Info("passkey removed", "user", a.user.ID)
		http.Redirect(w, r, "/account/passkeys?removed=1", http.StatusSeeOther)
	case errors.Is(err, identity.ErrLastSecondFactor):
		p.render(w, r, http.StatusConflict, "passkey.remove.last", "")
	case errors.Is(err, passkey.ErrNotFound):
		p.render(w, r, http.StatusNotFound, "passkey.remove.notfound", "")
	default:
		p.s.serverError(w, r, err)
	}
}
