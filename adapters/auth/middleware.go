package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"contactpoint/adapters/httpjson"
	"contactpoint/domain/access"
	"contactpoint/domain/audit"
	"contactpoint/domain/registry"
)

// CookieName is the web session cookie.
const CookieName = "cp_session"

var (
	errNoCredentials = errors.New("no credentials presented")
	errSessionEnded  = errors.New("session ended")
	errUnavailable   = errors.New("register unavailable")
)

type claimsKey struct{}

// ClaimsFrom returns the token claims of the request's sign-in, if any.
func ClaimsFrom(ctx context.Context) (Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(Claims)
	return c, ok
}

// Middleware authenticates every request routed by mux and asks the access
// policy whether the caller may use the route before the handler runs. The
// route is found the way mux will find it, so the policy and the router can
// never disagree about which route a request is for.
func (s *Service) Middleware(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pattern := mux.Handler(r)
		rule, known := access.Routes[pattern]
		if pattern == "" {
			// No route (404, 405): the mux answers, revealing nothing. Any
			// other pattern without a rule, a redirect included, is refused.
			mux.ServeHTTP(w, r)
			return
		}
		ctx := r.Context()
		var c access.Caller
		var idErr error
		var entry audit.Entry
		switch {
		case !known:
		case rule.Audience == access.Agency:
			var sys access.AgencySystem
			if sys, idErr = s.agency(r); idErr == nil {
				c.System = &sys
				entry.System = sys.Agency + "/" + sys.System
				ctx = access.WithAgencySystem(ctx, sys)
			}
		case rule.Audience == access.Staff:
			var v access.Viewer
			var cl Claims
			v, cl, idErr = s.viewer(r)
			if v.ID != "" {
				entry.Actor, entry.Roles = v.ID, v.Roles
			}
			if idErr == nil {
				c.Viewer = &v
				ctx = access.WithViewer(context.WithValue(ctx, claimsKey{}, cl), v)
			}
		}
		_, err := access.Authorize(pattern, c)
		if err == nil {
			next := r.WithContext(ctx)
			mux.ServeHTTP(w, next)
			return
		}
		status, code, msg := http.StatusForbidden, "forbidden", "you may not use this route"
		var inel IneligibleError
		switch {
		case errors.As(idErr, &inel):
			code, msg = "not-eligible", "your access to the hub is not current ("+inel.Reason.Error()+"); contact your administrator"
			entry.Reason = reasonCode(inel.Reason)
		case idErr != nil && errors.Is(err, access.ErrUnauthenticated):
			status, code, msg = http.StatusUnauthorized, "unauthenticated", "sign in, or present a valid token or API key"
			entry.Reason = reasonCode(idErr)
			w.Header().Set("WWW-Authenticate", `Bearer realm="contactpoint"`)
		case errors.Is(err, access.ErrUnknownRoute):
			entry.Reason = "no-rule"
		default:
			entry.Reason = "role"
		}
		if errors.Is(idErr, errUnavailable) {
			// The register could not be read: not the caller's fault.
			s.Log.Error("authentication failed", "route", pattern, "err", idErr)
			writeError(w, http.StatusServiceUnavailable, "unavailable", "authentication is unavailable; try again")
			return
		}
		entry.Action, entry.Outcome, entry.Route, entry.Status = audit.ActRefused, audit.Refused, pattern, status
		if aerr := s.Audit.Record(ctx, entry); aerr != nil {
			s.Log.Error("audit of refused request not written", "route", pattern, "err", aerr)
		}
		writeError(w, status, code, msg)
	})
}

// viewer authenticates a practitioner from a bearer token or the session
// cookie, and checks the register now: an expiry or suspension since the
// token was issued refuses it.
func (s *Service) viewer(r *http.Request) (access.Viewer, Claims, error) {
	tok, kind := bearerToken(r), KindBearer
	if tok == "" {
		if ck, err := r.Cookie(CookieName); err == nil {
			tok, kind = ck.Value, KindSession
		}
	}
	if tok == "" {
		return access.Viewer{}, Claims{}, errNoCredentials
	}
	now := s.Now()
	c, err := s.tokens.Verify(tok, kind, now)
	if err != nil {
		return access.Viewer{}, Claims{}, err
	}
	var raw []byte
	var ended *time.Time
	var expires time.Time
	err = s.Reg.pool.QueryRow(r.Context(), `select p.state, s.ended_at, s.expires_at from auth_sessions s
		join practitioners p on p.id = s.practitioner_id where s.id = $1 and p.id = $2`, c.Session, c.Subject).Scan(&raw, &ended, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return access.Viewer{}, Claims{}, errSessionEnded
	}
	if err != nil {
		return access.Viewer{}, Claims{}, fmt.Errorf("%w: %v", errUnavailable, err)
	}
	if ended != nil || !now.Before(expires) {
		return access.Viewer{}, Claims{}, errSessionEnded
	}
	var p registry.Practitioner
	if err := json.Unmarshal(raw, &p); err != nil {
		return access.Viewer{}, Claims{}, fmt.Errorf("%w: %v", errUnavailable, err)
	}
	if err := registry.Eligible(p, now); err != nil {
		return access.Viewer{ID: p.ID, Roles: p.Roles}, c, IneligibleError{err}
	}
	return p.Viewer(), c, nil
}

// agency authenticates an agency system by its API key, presented as a
// bearer token or in X-API-Key.
func (s *Service) agency(r *http.Request) (access.AgencySystem, error) {
	key := r.Header.Get("X-API-Key")
	if key == "" {
		key = bearerToken(r)
	}
	if key == "" {
		return access.AgencySystem{}, errNoCredentials
	}
	sys, err := s.Reg.CheckKey(r.Context(), key)
	if err != nil && !errors.Is(err, ErrBadKey) {
		return sys, fmt.Errorf("%w: %v", errUnavailable, err)
	}
	return sys, err
}

func bearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	httpjson.Error(w, status, code, msg)
}

func writeJSON(w http.ResponseWriter, status int, v any) { httpjson.Write(w, status, v) }
