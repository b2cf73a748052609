package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"contactpoint/domain/access"
	"contactpoint/domain/audit"
	"contactpoint/domain/registry"
)

// Register adds sign-in and the administrators' register routes to mux.
// Each has its line in access.Routes.
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/auth/login", s.login)
	mux.HandleFunc("POST /v1/auth/logout", s.logout)
	mux.HandleFunc("POST /v1/auth/token", s.token)
	mux.HandleFunc("GET /v1/auth/me", s.me)
	mux.HandleFunc("GET /v1/practitioners", s.listPractitioners)
	mux.HandleFunc("POST /v1/practitioners", s.createPractitioner)
	mux.HandleFunc("GET /v1/practitioners/{id}", s.getPractitioner)
	mux.HandleFunc("PATCH /v1/practitioners/{id}", s.patchPractitioner)
	mux.HandleFunc("POST /v1/practitioners/{id}/credentials", s.resetCredentials)
	mux.HandleFunc("GET /v1/agency-keys", s.listKeys)
	mux.HandleFunc("POST /v1/agency-keys", s.createKey)
	mux.HandleFunc("DELETE /v1/agency-keys/{id}", s.revokeKey)
	s.registerOIDC(mux)
}

const maxJSON = 64 << 10

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "invalid-body", "the body must be a JSON object with the documented fields")
		return false
	}
	return true
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Code     string `json:"code"` // the authenticator app's six digits
}

type loginResponse struct {
	Token            string    `json:"token"`
	TokenType        string    `json:"token_type"`
	ExpiresAt        time.Time `json:"expires_at"`
	SessionExpiresAt time.Time `json:"session_expires_at"`
	Practitioner     meBody    `json:"practitioner"`
}

type meBody struct {
	ID           string             `json:"id"`
	Name         string             `json:"name"`
	Organisation string             `json:"organisation"`
	Roles        []string           `json:"roles"`
	Vetting      *registry.Vetting  `json:"vetting,omitempty"`
	Training     *registry.Training `json:"training,omitempty"`
}

func me(p registry.Practitioner) meBody {
	return meBody{ID: p.ID, Name: p.Name, Organisation: p.Organisation, Roles: p.Roles, Vetting: p.Vetting, Training: p.Training}
}

func (s *Service) login(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if !decode(w, r, &req) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	sess, err := s.Login(ctx, req.Username, req.Password, req.Code)
	var inel IneligibleError
	switch {
	case err == nil:
	case errors.Is(err, ErrBadCredentials), errors.Is(err, ErrLocked), errors.As(err, &inel):
		// One status and one body for every refusal: telling a locked or
		// suspended account from an unknown name would tell a guesser
		// which names exist and which passwords are right. The audit trail
		// keeps the reason for administrators.
		writeError(w, http.StatusUnauthorized, "bad-credentials", s.refusedMessage())
		return
	default:
		s.Log.Error("sign-in failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "sign-in is unavailable; try again")
		return
	}
	s.writeSession(w, r, sess)
}

// refusedMessage is the one answer to a refused sign-in. It names every
// cause a practitioner could act on without saying which one it was.
func (s *Service) refusedMessage() string {
	return fmt.Sprintf("sign-in refused: the username, password or code is not valid, or the account cannot sign in now "+
		"(%d failed attempts lock it for %d minutes); if this persists, contact your administrator",
		s.cfg.Lockout.MaxFailures, int(s.cfg.Lockout.Duration.Round(time.Minute).Minutes()))
}

func (s *Service) logout(w http.ResponseWriter, r *http.Request) {
	c, _ := ClaimsFrom(r.Context())
	if err := s.Logout(r.Context(), c.Session); err != nil {
		s.Log.Error("sign-out failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "sign-out is unavailable; try again")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
}

// token gives a web session (or a bearer about to expire) a fresh bearer
// token for the API, no longer-lived than the session.
func (s *Service) token(w http.ResponseWriter, r *http.Request) {
	c, _ := ClaimsFrom(r.Context())
	tok, exp := s.Bearer(c)
	writeJSON(w, http.StatusOK, map[string]any{"token": tok, "token_type": "Bearer", "expires_at": exp})
}

func (s *Service) me(w http.ResponseWriter, r *http.Request) {
	v, _ := access.ViewerFrom(r.Context())
	p, err := s.Reg.Get(r.Context(), v.ID)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the register is unavailable; try again")
		return
	}
	writeJSON(w, http.StatusOK, me(p))
}

// date accepts 2025-01-31 or an RFC 3339 time.
type date struct{ time.Time }

func (d *date) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	for _, layout := range []string{time.DateOnly, time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			d.Time = t
			return nil
		}
	}
	return errors.New("dates are YYYY-MM-DD")
}

type vettingBody struct {
	CheckType string `json:"check_type"`
	Date      date   `json:"date"`
	Expires   date   `json:"expires"`
}

type trainingBody struct {
	Completed date `json:"completed"`
	Expires   date `json:"expires"`
}

// Change is an administrator's change to an entry: the fields present are
// changed, each as its own event.
type Change struct {
	Name         *string       `json:"name,omitempty"`
	Organisation *string       `json:"organisation,omitempty"`
	JobRole      *string       `json:"job_role,omitempty"`
	Email        *string       `json:"email,omitempty"`
	Roles        *[]string     `json:"roles,omitempty"`
	Vetting      *vettingBody  `json:"vetting,omitempty"`
	Training     *trainingBody `json:"training,omitempty"`
	Status       *string       `json:"status,omitempty"`
	Reason       string        `json:"reason,omitempty"`
}

// NewVetting and NewTraining build change parts for callers outside HTTP.
func NewVetting(check string, on, expires time.Time) *vettingBody {
	return &vettingBody{check, date{on}, date{expires}}
}

// NewTraining: see NewVetting.
func NewTraining(on, expires time.Time) *trainingBody { return &trainingBody{date{on}, date{expires}} }

type createBody struct {
	Username string `json:"username"`
	Change
}

// Apply makes the changes in c to practitioner id, in a fixed order.
func (r *Registry) Apply(ctx context.Context, id, by string, c Change) (registry.Practitioner, error) {
	p, err := r.Get(ctx, id)
	if err != nil {
		return p, err
	}
	var evs []registry.Event
	if c.Name != nil || c.Organisation != nil || c.JobRole != nil || c.Email != nil {
		e := registry.Event{Type: registry.EvDetailsChanged, Name: p.Name, Organisation: p.Organisation, JobRole: p.JobRole, Email: p.Email}
		set(&e.Name, c.Name)
		set(&e.Organisation, c.Organisation)
		set(&e.JobRole, c.JobRole)
		set(&e.Email, c.Email)
		evs = append(evs, e)
	}
	if c.Roles != nil {
		evs = append(evs, registry.Event{Type: registry.EvRolesChanged, Roles: *c.Roles})
	}
	if v := c.Vetting; v != nil {
		evs = append(evs, registry.Event{Type: registry.EvVetted, Vetting: &registry.Vetting{CheckType: v.CheckType, Date: v.Date.Time, Expires: v.Expires.Time}})
	}
	if t := c.Training; t != nil {
		evs = append(evs, registry.Event{Type: registry.EvTrained, Training: &registry.Training{Completed: t.Completed.Time, Expires: t.Expires.Time}})
	}
	if c.Status != nil {
		evs = append(evs, registry.Event{Type: registry.EvStatusChanged, Status: registry.Status(*c.Status)})
	}
	for _, e := range evs {
		e.Practitioner, e.By, e.Reason = id, by, c.Reason
		if p, err = r.Change(ctx, e); err != nil {
			return p, err
		}
	}
	return p, nil
}

func set(dst *string, src *string) {
	if src != nil {
		*dst = *src
	}
}

// Create registers a practitioner, applies the rest of c, and issues their
// first credentials.
func (r *Registry) Create(ctx context.Context, username, by string, c Change) (registry.Practitioner, Credentials, error) {
	e := registry.Event{Type: registry.EvRegistered, By: by, Username: username, Reason: c.Reason}
	set(&e.Name, c.Name)
	set(&e.Organisation, c.Organisation)
	set(&e.JobRole, c.JobRole)
	set(&e.Email, c.Email)
	if c.Roles != nil {
		e.Roles = *c.Roles
	}
	p, err := r.Change(ctx, e)
	if err != nil {
		return p, Credentials{}, err
	}
	c.Name, c.Organisation, c.JobRole, c.Email, c.Roles = nil, nil, nil, nil, nil
	if p, err = r.Apply(ctx, p.ID, by, c); err != nil {
		return p, Credentials{}, err
	}
	cred, err := r.IssueCredentials(ctx, p.ID, by)
	return p, cred, err
}

// registryError answers a failed register operation.
func (s *Service) registryError(w http.ResponseWriter, err error) {
	var ve ValidationError
	switch {
	case errors.As(err, &ve):
		writeError(w, http.StatusUnprocessableEntity, "invalid", ve.Error())
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, "not-found", "no such entry")
	default:
		s.Log.Error("register operation failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the register is unavailable; try again")
	}
}

// audited records an administrator's action before the answer is written.
func (s *Service) audited(w http.ResponseWriter, r *http.Request, subject string) bool {
	v, _ := access.ViewerFrom(r.Context())
	if err := s.Audit.Record(r.Context(), audit.Entry{Action: audit.ActRegistry, Actor: v.ID, Roles: v.Roles, Route: r.Pattern, Subject: subject}); err != nil {
		s.Log.Error("audit not written", "route", r.Pattern, "err", err)
		writeError(w, http.StatusServiceUnavailable, "audit-unavailable", "the audit trail is unavailable; nothing is shown until it is back")
		return false
	}
	return true
}

func actor(r *http.Request) string {
	v, _ := access.ViewerFrom(r.Context())
	return v.ID
}

func (s *Service) listPractitioners(w http.ResponseWriter, r *http.Request) {
	ps, err := s.Reg.List(r.Context())
	if err != nil {
		s.registryError(w, err)
		return
	}
	if s.audited(w, r, "") {
		writeJSON(w, http.StatusOK, map[string]any{"practitioners": ps})
	}
}

func (s *Service) getPractitioner(w http.ResponseWriter, r *http.Request) {
	p, err := s.Reg.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		s.registryError(w, err)
		return
	}
	if s.audited(w, r, p.ID) {
		writeJSON(w, http.StatusOK, p)
	}
}

func (s *Service) createPractitioner(w http.ResponseWriter, r *http.Request) {
	var b createBody
	if !decode(w, r, &b) {
		return
	}
	p, cred, err := s.Reg.Create(r.Context(), b.Username, actor(r), b.Change)
	if err != nil {
		s.registryError(w, err)
		return
	}
	if s.audited(w, r, p.ID) {
		writeJSON(w, http.StatusCreated, map[string]any{"practitioner": p, "credentials": cred})
	}
}

func (s *Service) patchPractitioner(w http.ResponseWriter, r *http.Request) {
	var c Change
	if !decode(w, r, &c) {
		return
	}
	// Nobody changes their own roles: an administrator who could grant
	// themselves the shield or child-protection role could read any
	// shielded record. Another administrator must make the change.
	if c.Roles != nil && r.PathValue("id") == actor(r) {
		writeError(w, http.StatusForbidden, "own-roles", "you cannot change your own roles; ask another administrator")
		return
	}
	p, err := s.Reg.Apply(r.Context(), r.PathValue("id"), actor(r), c)
	if err != nil {
		s.registryError(w, err)
		return
	}
	if s.audited(w, r, p.ID) {
		writeJSON(w, http.StatusOK, p)
	}
}

func (s *Service) resetCredentials(w http.ResponseWriter, r *http.Request) {
	cred, err := s.Reg.IssueCredentials(r.Context(), r.PathValue("id"), actor(r))
	if err != nil {
		s.registryError(w, err)
		return
	}
	if s.audited(w, r, r.PathValue("id")) {
		writeJSON(w, http.StatusOK, cred)
	}
}

func (s *Service) listKeys(w http.ResponseWriter, r *http.Request) {
	ks, err := s.Reg.Keys(r.Context())
	if err != nil {
		s.registryError(w, err)
		return
	}
	if s.audited(w, r, "") {
		writeJSON(w, http.StatusOK, map[string]any{"keys": ks})
	}
}

func (s *Service) createKey(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Agency string `json:"agency"`
		System string `json:"system"`
	}
	if !decode(w, r, &b) {
		return
	}
	key, k, err := s.Reg.IssueKey(r.Context(), b.Agency, b.System, actor(r))
	if err != nil {
		s.registryError(w, err)
		return
	}
	if s.audited(w, r, k.ID) {
		writeJSON(w, http.StatusCreated, map[string]any{"key": key, "id": k.ID, "agency": k.Agency, "system": k.System})
	}
}

func (s *Service) revokeKey(w http.ResponseWriter, r *http.Request) {
	if err := s.Reg.RevokeKey(r.Context(), r.PathValue("id"), actor(r)); err != nil {
		s.registryError(w, err)
		return
	}
	if s.audited(w, r, r.PathValue("id")) {
		w.WriteHeader(http.StatusNoContent)
	}
}
