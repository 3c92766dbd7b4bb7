package web

import (
	"errors"
	"net/http"
	"time"

	"clinicbox/appliance/identity"
	"clinicbox/appliance/identity/eid"
)

// eID login (BankID / Freja eID through an OpenID Connect broker, package
// eid). The person proves who they are at the broker; the box finds the
// account linked to that personnummer, or links it when the person came
// with an invitation.
//
// An eID login is a complete session for every role, staff included:
// BankID and Freja eID are themselves two factors (the phone or card, and
// its PIN or biometrics), at assurance level substantial or higher, more
// than password + TOTP. So no TOTP is asked after it.
//
// Status codes of the problem pages:
//
//	400  no login in progress, wrong state, answer used twice, too late
//	401  the person cancelled at the broker, or the broker said no
//	403  no (active) account at this clinic for this person
//	409  the invitation's eID is already linked to another account
//	422  the broker's answer lacks or has an invalid personnummer / name
//	502  the broker's answer could not be verified (token, signature…)
//	503  the broker cannot be reached

// eidCookie carries the sealed login flow (state, nonce, PKCE verifier)
// from /login/eid to the callback. SameSite=Lax: the callback is a
// top-level GET navigation from the broker, which Lax lets through.
const eidCookie = "__Host-clinicbox-eid"

func (s *Server) eidRoutes() {
	s.route("GET /login/eid", Public, s.eidStart)
	s.route("GET /login/eid/callback", Public, s.eidCallback)
}

// eidLogin is what the login page needs to show the eID button.
type eidLogin struct {
	EID     bool // eID login is configured
	EIDDown bool // the broker did not answer the last time it was asked
}

// loginExtra is the login template's Extra.
func (s *Server) loginExtra() *eidLogin {
	if s.opts.EID == nil {
		return &eidLogin{}
	}
	return &eidLogin{EID: true, EIDDown: !s.opts.EID.Available()}
}

// eidProblem is the data of the eid-problem page.
type eidProblem struct {
	Message string // i18n key
	Retry   string // "try again" link, or ""
}

func (s *Server) renderEIDProblem(w http.ResponseWriter, r *http.Request, status int, titleKey, msgKey, retry string) {
	s.render(w, r, status, "eid-problem", titleKey, &eidProblem{Message: msgKey, Retry: retry})
}

func (s *Server) eidStart(w http.ResponseWriter, r *http.Request) {
	if s.opts.EID == nil {
		s.renderError(w, r, http.StatusNotFound)
		return
	}
	invite := r.URL.Query().Get("invite")
	if invite != "" {
		// Tell about a dead link now, not after the person has been
		// through BankID.
		if _, err := s.opts.Identity.PeekToken(identity.TokenInvite, invite); err != nil {
			s.tokenProblem(w, r, err)
			return
		}
	}
	authURL, flow, err := s.opts.EID.Begin(r.Context(), eid.Start{
		RedirectURI: "https://" + r.Host + "/login/eid/callback",
		Invite:      invite,
		Next:        safeNext(r.URL.Query().Get("next")),
		Lang:        langOf(w, r),
	})
	if err != nil {
		s.log.Warn("eid login could not start", "err", err)
		s.renderEIDProblem(w, r, http.StatusServiceUnavailable, "eid.problem.title", "eid.down", "")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: eidCookie, Value: flow, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, MaxAge: int(eid.FlowTTL / time.Second)})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, authURL, http.StatusSeeOther)
}

func (s *Server) eidCallback(w http.ResponseWriter, r *http.Request) {
	if s.opts.EID == nil {
		s.renderError(w, r, http.StatusNotFound)
		return
	}
	var flow string
	if c, err := r.Cookie(eidCookie); err == nil {
		flow = c.Value
	}
	// The flow is single use, whatever happens next.
	http.SetCookie(w, &http.Cookie{Name: eidCookie, Value: "", Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, MaxAge: -1})

	res, err := s.opts.EID.Complete(r.Context(), flow, r.URL.Query())
	if err != nil {
		s.eidFailed(w, r, res, err)
		return
	}
	if res.Invite != "" {
		s.eidAcceptInvite(w, r, res)
		return
	}
	u, err := s.opts.Identity.UserByPersonnummer(res.Personnummer)
	switch {
	case errors.Is(err, identity.ErrNotFound):
		s.log.Info("eid login without an account")
		s.renderEIDProblem(w, r, http.StatusForbidden, "eid.noaccount.title", "eid.noaccount", "")
		return
	case err != nil:
		s.serverError(w, r, err)
		return
	case u.Status != identity.StatusActive:
		s.log.Info("eid login of an inactive account", "user", u.ID, "status", string(u.Status))
		s.renderEIDProblem(w, r, http.StatusForbidden, "eid.noaccount.title", "eid.inactive", "")
		return
	}
	if u.Profile.NameFromEID && u.Profile.Name != res.Name {
		// The population register's name changed (marriage…): follow it.
		if err := s.opts.Identity.SetPersonnummer(u.ID, res.Personnummer, res.Name); err != nil {
			s.log.Warn("eid name not updated", "user", u.ID, "err", err)
		}
	}
	s.eidSession(w, r, u, orStart(res.Next))
}

// eidAcceptInvite links the invited account to the person who just proved
// who they are, spends the invitation and goes on to the terms.
func (s *Server) eidAcceptInvite(w http.ResponseWriter, r *http.Request, res eid.Result) {
	u, err := s.opts.Identity.AcceptInviteWithEID(res.Invite, res.Personnummer, res.Name)
	switch {
	case errors.Is(err, identity.ErrPnrTaken):
		s.log.Info("eid invitation refused: personnummer linked to another account")
		s.renderEIDProblem(w, r, http.StatusConflict, "eid.problem.title", "eid.taken", "")
		return
	case errors.Is(err, identity.ErrPnrMismatch):
		s.log.Info("eid invitation refused: another person than the one invited")
		s.renderEIDProblem(w, r, http.StatusForbidden, "eid.problem.title", "eid.mismatch", "")
		return
	case errors.Is(err, identity.ErrTokenInvalid), errors.Is(err, identity.ErrTokenExpired), errors.Is(err, identity.ErrTokenUsed):
		s.tokenProblem(w, r, err)
		return
	case err != nil:
		s.serverError(w, r, err)
		return
	}
	s.log.Info("invitation accepted with eid", "user", u.ID, "role", string(u.Role))
	s.eidSession(w, r, u, "/terms")
}

func (s *Server) eidSession(w http.ResponseWriter, r *http.Request, u identity.User, next string) {
	if old := sessionToken(r); old != "" {
		s.opts.Identity.EndSession(old) // whoever was logged in in this browser before
	}
	tok, _, err := s.opts.Identity.StartSession(u, true)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	setSessionCookie(w, tok)
	s.log.Info("eid login", "user", u.ID, "role", string(u.Role))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// eidFailed explains a failed eID login. The log line has the reason and
// never the personnummer (the errors carry none).
func (s *Server) eidFailed(w http.ResponseWriter, r *http.Request, res eid.Result, err error) {
	retry := "/login/eid"
	if res.Invite != "" {
		retry = "/invite/" + res.Invite
	}
	var pe *eid.ProviderError
	switch {
	case errors.As(err, &pe):
		s.log.Info("eid login ended at the broker", "code", pe.Code)
		msg := "eid.provider"
		if pe.Cancelled() {
			msg = "eid.cancelled"
		}
		s.renderEIDProblem(w, r, http.StatusUnauthorized, "eid.problem.title", msg, retry)
	case errors.Is(err, eid.ErrNoFlow), errors.Is(err, eid.ErrExpired), errors.Is(err, eid.ErrStateMismatch), errors.Is(err, eid.ErrReplayed):
		s.log.Info("eid callback refused", "reason", flowReason(err))
		s.renderEIDProblem(w, r, http.StatusBadRequest, "eid.problem.title", "eid.flow", "/login/eid")
	case errors.Is(err, eid.ErrUnavailable):
		s.log.Warn("eid broker unreachable", "err", err)
		s.renderEIDProblem(w, r, http.StatusServiceUnavailable, "eid.problem.title", "eid.down", "")
	case errors.Is(err, eid.ErrClaimsMissing):
		s.log.Error("eid answer lacks the personnummer or the name; check --eid-pnr-claim, --eid-name-claim and --eid-scopes")
		s.renderEIDProblem(w, r, http.StatusUnprocessableEntity, "eid.problem.title", "eid.claims", "")
	case errors.Is(err, eid.ErrPersonnummer):
		s.log.Warn("eid answer has an invalid personnummer")
		s.renderEIDProblem(w, r, http.StatusUnprocessableEntity, "eid.problem.title", "eid.pnr", "")
	case errors.Is(err, eid.ErrVerify):
		s.log.Warn("eid answer refused", "err", err)
		s.renderEIDProblem(w, r, http.StatusBadGateway, "eid.problem.title", "eid.verify", retry)
	default:
		s.serverError(w, r, err)
	}
}

func flowReason(err error) string {
	switch {
	case errors.Is(err, eid.ErrNoFlow):
		return "no flow cookie"
	case errors.Is(err, eid.ErrExpired):
		return "expired"
	case errors.Is(err, eid.ErrStateMismatch):
		return "state mismatch"
	default:
		return "replayed"
	}
}
