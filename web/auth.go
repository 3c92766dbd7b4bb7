package web

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"clinicbox/appliance/identity"
	"clinicbox/appliance/identity/password"
	"clinicbox/appliance/identity/throttle"
	"clinicbox/appliance/identity/totp"
)

// authRoutes are login, second factor, set-up links and logout.
func (s *Server) authRoutes() {
	s.route("GET /login", Public, s.loginPage)
	s.route("POST /login", Public, s.loginSubmit)
	s.route("GET /login/code", SecondFactorPending, s.codePage)
	s.route("POST /login/code", SecondFactorPending, s.codeSubmit)
	s.route("GET /setup/{token}", Public, s.setupPage)
	s.route("POST /setup/{token}", Public, s.setupSubmit)
	s.route("GET /account/second-factor", SecondFactorPending, s.enrolPage)
	s.route("POST /account/second-factor", SecondFactorPending, s.enrolSubmit)
	s.route("POST /logout", SecondFactorPending, s.logout)
	s.route("POST /account/logout-everywhere", AnyUser, s.logoutEverywhere)
	s.route("GET /start", AnyUser, s.startPage)
}

// formData is what the auth templates get.
type formData struct {
	CSRF   string
	Values map[string]string
	Error  string // an i18n key, or "" (shown at the top, with role=alert)
	Field  string // the field the error is about, for aria-invalid and focus
	Wait   string // "try again in …" for throttled logins
	Extra  any
}

func (s *Server) form(r *http.Request, extra any) formData {
	f := formData{Values: map[string]string{}, Extra: extra}
	if a := authOf(r); a != nil {
		f.CSRF = a.sess.CSRFToken()
	}
	return f
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if sess, _ := s.sessionOf(w, r); sess != nil && sess.Complete {
		http.Redirect(w, r, "/start", http.StatusSeeOther)
		return
	}
	f := s.form(r, s.loginExtra())
	f.Values["next"] = safeNext(r.URL.Query().Get("next"))
	s.render(w, r, http.StatusOK, "login", "login.title", f)
}

// loginSubmit checks e-mail and password. Every failure (unknown address,
// wrong password, deactivated account) gives the same message after the
// same work, so the form does not tell which addresses have accounts.
func (s *Server) loginSubmit(w http.ResponseWriter, r *http.Request) {
	email := strings.TrimSpace(r.PostFormValue("email"))
	pw := r.PostFormValue("password")
	f := s.form(r, s.loginExtra())
	f.Values["email"] = email
	f.Values["next"] = safeNext(r.PostFormValue("next"))

	keys := s.throttleKeys(r, email)
	if wait := s.throttle.Check(keys...); wait > 0 {
		f.Error, f.Wait = "login.throttled", humanWait(wait, langOf(w, r))
		s.render(w, r, http.StatusTooManyRequests, "login", "login.title", f)
		return
	}
	u, err := s.opts.Identity.CheckPassword(email, pw)
	if err != nil {
		s.throttle.Fail(keys...)
		f.Error, f.Field = "login.bad", "email"
		s.render(w, r, http.StatusUnauthorized, "login", "login.title", f)
		return
	}
	s.throttle.Succeed(keys[0])
	complete := !u.Role.NeedsSecondFactor()
	tok, _, err := s.opts.Identity.StartSession(u, complete)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	setSessionCookie(w, tok)
	switch {
	case complete:
		http.Redirect(w, r, orStart(f.Values["next"]), http.StatusSeeOther)
	case u.HasSecondFactor():
		http.Redirect(w, r, "/login/code?next="+urlQueryEscape(f.Values["next"]), http.StatusSeeOther)
	default:
		http.Redirect(w, r, "/account/second-factor", http.StatusSeeOther)
	}
}

// throttleKeys are the account (hashed: the limiter never holds an
// address) and the client's network.
func (s *Server) throttleKeys(r *http.Request, email string) []string {
	keys := []string{"acct:" + hashForThrottle(identity.NormalizeEmail(email))}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if ip, err := netip.ParseAddr(host); err == nil {
			keys = append(keys, throttle.AddressKey(ip))
		}
	}
	return keys
}

func (s *Server) codePage(w http.ResponseWriter, r *http.Request) {
	f := s.form(r, s.passkeyOffer(r, authOf(r).user.HasPasskey, safeNext(r.URL.Query().Get("next"))))
	f.Values["next"] = safeNext(r.URL.Query().Get("next"))
	s.render(w, r, http.StatusOK, "code", "code.title", f)
}

func (s *Server) codeSubmit(w http.ResponseWriter, r *http.Request) {
	a := authOf(r)
	f := s.form(r, s.passkeyOffer(r, a.user.HasPasskey, safeNext(r.PostFormValue("next"))))
	f.Values["next"] = safeNext(r.PostFormValue("next"))
	keys := []string{"2fa:" + fmt.Sprint(a.user.ID)}
	if wait := s.throttle.Check(keys...); wait > 0 {
		f.Error, f.Wait = "login.throttled", humanWait(wait, langOf(w, r))
		s.render(w, r, http.StatusTooManyRequests, "code", "code.title", f)
		return
	}
	if err := s.opts.Identity.CheckSecondFactor(a.user.ID, r.PostFormValue("code")); err != nil {
		s.throttle.Fail(keys...)
		f.Error, f.Field = "code.bad", "code"
		s.render(w, r, http.StatusUnauthorized, "code", "code.title", f)
		return
	}
	s.throttle.Succeed(keys[0])
	tok, _, err := s.opts.Identity.CompleteSession(sessionToken(r), a.user)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	setSessionCookie(w, tok)
	http.Redirect(w, r, orStart(f.Values["next"]), http.StatusSeeOther)
}

// setupPage shows the form of a set-up link: choose a password.
func (s *Server) setupPage(w http.ResponseWriter, r *http.Request) {
	u, ok := s.linkUser(w, r, identity.TokenSetup, r.PathValue("token"))
	if !ok {
		return
	}
	f := s.form(r, nil)
	f.Values["email"] = u.Profile.Email
	f.Values["name"] = u.Profile.Name
	s.render(w, r, http.StatusOK, "setup", "setup.title", f)
}

func (s *Server) setupSubmit(w http.ResponseWriter, r *http.Request) {
	tok := r.PathValue("token")
	u, ok := s.linkUser(w, r, identity.TokenSetup, tok)
	if !ok {
		return
	}
	pw, again := r.PostFormValue("password"), r.PostFormValue("password2")
	f := s.form(r, nil)
	f.Values["email"], f.Values["name"] = u.Profile.Email, u.Profile.Name
	if pw != again {
		f.Error, f.Field = "setup.mismatch", "password2"
		s.render(w, r, http.StatusUnprocessableEntity, "setup", "setup.title", f)
		return
	}
	if err := s.opts.Identity.SetPassword(u.ID, pw); err != nil {
		f.Error, f.Field = errorKey(err), "password"
		s.render(w, r, http.StatusUnprocessableEntity, "setup", "setup.title", f)
		return
	}
	// Spend the link only once the password is set, so a rejected password
	// does not burn it.
	if _, err := s.opts.Identity.UseToken(identity.TokenSetup, tok); err != nil {
		s.tokenProblem(w, r, err)
		return
	}
	u, _ = s.opts.Identity.User(u.ID)
	complete := !u.Role.NeedsSecondFactor()
	stok, _, err := s.opts.Identity.StartSession(u, complete)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	setSessionCookie(w, stok)
	if complete {
		http.Redirect(w, r, "/start", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/account/second-factor", http.StatusSeeOther)
}

// enrolment is the second-factor page's data: a QR code and the secret
// for typing by hand. The secret travels in the form sealed with the
// user's key, bound to this session, so nothing is stored until the user
// proves the app works.
type enrolment struct {
	QR     string // data: URL of a PNG
	Secret string // base32, grouped for reading
	Sealed string
	Codes  []string
	// Passkey offers a passkey instead of the app (web/passkey.go).
	Passkey *passkeyOffer
}

func (s *Server) enrolPage(w http.ResponseWriter, r *http.Request) {
	a := authOf(r)
	if a.user.HasSecondFactor() && !a.sess.Complete {
		http.Redirect(w, r, "/login/code", http.StatusSeeOther)
		return
	}
	e, err := s.newEnrolment(a)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	e.Passkey = s.passkeyOffer(r, a.user.Role.NeedsSecondFactor(), "")
	s.render(w, r, http.StatusOK, "enrol", "enrol.title", s.form(r, e))
}

func (s *Server) newEnrolment(a *auth) (*enrolment, error) {
	en, err := identity.NewTOTPEnrolment("clinicbox", a.user.Profile.Email)
	if err != nil {
		return nil, err
	}
	png, err := qrcode.Encode(en.URI, qrcode.Medium, 256)
	if err != nil {
		return nil, err
	}
	sealed, err := s.opts.Keys.Seal(identity.Subject(a.user.ID), en.Secret, []byte("totp-enrol:"+a.sess.CSRFToken()))
	if err != nil {
		return nil, err
	}
	return &enrolment{
		QR:     "data:image/png;base64," + base64.StdEncoding.EncodeToString(png),
		Secret: groupBy4(en.Base32),
		Sealed: base64.RawURLEncoding.EncodeToString(sealed),
	}, nil
}

func (s *Server) enrolSubmit(w http.ResponseWriter, r *http.Request) {
	a := authOf(r)
	if a.user.HasSecondFactor() && !a.sess.Complete {
		http.Redirect(w, r, "/login/code", http.StatusSeeOther)
		return
	}
	sealed, err := base64.RawURLEncoding.DecodeString(r.PostFormValue("enrolment"))
	var secret []byte
	if err == nil {
		secret, err = s.opts.Keys.Open(identity.Subject(a.user.ID), sealed, []byte("totp-enrol:"+a.sess.CSRFToken()))
	}
	if err != nil {
		s.renderMessage(w, r, http.StatusBadRequest, "enrol.title", "enrol.expired")
		return
	}
	codes, err := s.opts.Identity.ConfirmTOTP(a.user.ID, secret, r.PostFormValue("code"))
	if err != nil {
		e, eerr := s.newEnrolment(a)
		if eerr != nil {
			s.serverError(w, r, eerr)
			return
		}
		// Keep the secret the user has already scanned.
		e.Sealed, e.Secret = r.PostFormValue("enrolment"), groupBy4(totpBase32(secret))
		e.Passkey = s.passkeyOffer(r, a.user.Role.NeedsSecondFactor(), "")
		f := s.form(r, e)
		f.Error, f.Field = errorKey(err), "code"
		s.render(w, r, http.StatusUnprocessableEntity, "enrol", "enrol.title", f)
		return
	}
	u, err := s.opts.Identity.User(a.user.ID)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	tok, sess, err := s.opts.Identity.CompleteSession(sessionToken(r), u)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	setSessionCookie(w, tok)
	f := formData{CSRF: sess.CSRFToken(), Extra: &enrolment{Codes: codes}}
	s.render(w, r, http.StatusOK, "recovery", "recovery.title", f)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	s.opts.Identity.EndSession(sessionToken(r))
	clearSessionCookie(w)
	s.renderMessage(w, r, http.StatusOK, "logout.title", "logout.done")
}

func (s *Server) logoutEverywhere(w http.ResponseWriter, r *http.Request) {
	if err := s.opts.Identity.EndAllSessions(authOf(r).user.ID); err != nil {
		s.serverError(w, r, err)
		return
	}
	clearSessionCookie(w)
	s.renderMessage(w, r, http.StatusOK, "logout.title", "logout.everywhere")
}

func (s *Server) startPage(w http.ResponseWriter, r *http.Request) {
	a := authOf(r)
	left := -1
	if a.user.HasSecondFactor() {
		left, _ = s.opts.Identity.RecoveryCodesLeft(a.user.ID)
	}
	s.render(w, r, http.StatusOK, "start", "start.title", s.form(r, struct {
		Name          string
		Role          string
		IsAdmin       bool
		RecoveryLeft  int
		LowOnRecovery bool
	}{a.user.Profile.Name, string(a.user.Role), a.user.Role == identity.RoleAdmin, left, left >= 0 && left < 3}))
}

// linkUser is the person a set-up or invitation link is for, without
// spending the link; a link that can't be used gets its explanation page.
func (s *Server) linkUser(w http.ResponseWriter, r *http.Request, kind identity.TokenKind, tok string) (identity.User, bool) {
	t, err := s.opts.Identity.PeekToken(kind, tok)
	if err != nil {
		s.tokenProblem(w, r, err)
		return identity.User{}, false
	}
	u, err := s.opts.Identity.User(t.UserID)
	if err != nil {
		s.tokenProblem(w, r, identity.ErrTokenInvalid)
		return identity.User{}, false
	}
	return u, true
}

// tokenProblem explains a set-up or invitation link that cannot be used.
func (s *Server) tokenProblem(w http.ResponseWriter, r *http.Request, err error) {
	key, status := "token.invalid", http.StatusNotFound
	switch {
	case errors.Is(err, identity.ErrTokenExpired):
		key, status = "token.expired", http.StatusGone
	case errors.Is(err, identity.ErrTokenUsed):
		key, status = "token.used", http.StatusGone
	case !errors.Is(err, identity.ErrTokenInvalid):
		s.serverError(w, r, err)
		return
	}
	s.renderMessage(w, r, status, "token.title", key)
}

// errorKey maps a domain error to the i18n key of its message.
func errorKey(err error) string {
	for _, m := range []struct {
		err error
		key string
	}{
		{password.ErrTooShort, "password.short"},
		{password.ErrTooLong, "password.long"},
		{password.ErrCommon, "password.common"},
		{password.ErrPredictable, "password.predictable"},
		{password.ErrPersonal, "password.personal"},
		{identity.ErrCodeMismatch, "code.bad"},
		{identity.ErrNameMissing, "form.name"},
		{identity.ErrEmailInvalid, "form.email"},
		{identity.ErrEmailTaken, "form.email.taken"},
	} {
		if errors.Is(err, m.err) {
			return m.key
		}
	}
	return "form.invalid"
}

func (s *Server) serverError(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("request failed", "route", routeOf(r), "err", err)
	if s.opts.Errors != nil {
		var user uint64
		if a := authOf(r); a != nil {
			user = a.user.ID
		}
		s.opts.Errors("http.500."+errorCodeRoute(routeOf(r)), user)
	}
	s.renderError(w, r, http.StatusInternalServerError)
}

// errorCodeRoute makes a route pattern fit an error-log code: lower
// case, only the characters codes allow.
func errorCodeRoute(route string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', strings.ContainsRune("._/{}:-", r):
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return -1
	}, route)
}

// safeNext keeps a post-login redirect on this box: a path, never a URL
// to elsewhere ("//evil.example" is a URL too).
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || len(next) > 512 {
		return ""
	}
	return next
}

func orStart(next string) string {
	if next == "" {
		return "/start"
	}
	return next
}

func humanWait(d time.Duration, lang string) string {
	minutes := int(d.Round(time.Minute) / time.Minute)
	if lang == "en" {
		if minutes <= 1 {
			return "a minute"
		}
		return fmt.Sprintf("%d minutes", minutes)
	}
	if minutes <= 1 {
		return "en minut"
	}
	return fmt.Sprintf("%d minuter", minutes)
}

func groupBy4(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// hashForThrottle keeps e-mail addresses out of the limiter's memory.
func hashForThrottle(s string) string {
	h := sha256.Sum256([]byte("throttle:" + s))
	return hex.EncodeToString(h[:16])
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

func totpBase32(secret []byte) string { return totp.Base32(secret) }
