package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"contactpoint/domain/audit"
	"contactpoint/domain/registry"
)

// Config tunes authentication.
type Config struct {
	TokenKey   []byte        // HMAC key for tokens, 32 bytes or more; shared by all instances
	TokenTTL   time.Duration // bearer tokens for the API; default 15 minutes
	SessionTTL time.Duration // web sessions; default 8 hours
	Lockout    registry.Lockout
	// SecureCookie marks cookies Secure on every answer, for a hub behind a
	// proxy that terminates TLS; without it they are Secure when the
	// request came over TLS.
	SecureCookie bool
}

// Service signs practitioners in and authenticates requests.
type Service struct {
	Reg    *Registry
	Audit  audit.Recorder
	Log    *slog.Logger
	Now    func() time.Time
	cfg    Config
	tokens *Tokens
	oidc   *oidcClient // nil unless EnableOIDC
}

// New returns the authentication service.
func New(reg *Registry, rec audit.Recorder, log *slog.Logger, cfg Config) (*Service, error) {
	t, err := NewTokens(cfg.TokenKey)
	if err != nil {
		return nil, err
	}
	if cfg.TokenTTL == 0 {
		cfg.TokenTTL = 15 * time.Minute
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = 8 * time.Hour
	}
	if cfg.Lockout.MaxFailures == 0 {
		cfg.Lockout = registry.DefaultLockout
	}
	return &Service{Reg: reg, Audit: rec, Log: log, Now: time.Now, cfg: cfg, tokens: t}, nil
}

// Sign-in refusals. Login returns them apart for the audit trail and its
// callers; over HTTP every one gets the same answer (see login), so that a
// guesser cannot tell a wrong password from a wrong code, an unknown name, a
// locked account or a suspended one.
var (
	ErrBadCredentials = errors.New("username, password or code not valid")
	ErrLocked         = errors.New("too many failed attempts; try again later")
)

// IneligibleError: the credentials are right but the practitioner may not
// use the hub now.
type IneligibleError struct{ Reason error }

func (e IneligibleError) Error() string { return "not eligible: " + e.Reason.Error() }
func (e IneligibleError) Unwrap() error { return e.Reason }

// Session is a successful sign-in.
type Session struct {
	Practitioner   registry.Practitioner
	ID             string
	Bearer         string
	BearerExpires  time.Time
	Cookie         string
	SessionExpires time.Time
}

// Login checks a password and a one-time code and opens a session. Every
// attempt, successful or not, is audited; a success is not answered unless
// its audit entry is written.
func (s *Service) Login(ctx context.Context, username, password, code string) (Session, error) {
	now := s.Now()
	fail := func(actor, reason string, err error) (Session, error) {
		e := audit.Entry{Action: audit.ActLoginFailed, Outcome: audit.Refused, Actor: actor, Route: "POST /v1/auth/login", Reason: reason}
		if aerr := s.Audit.Record(ctx, e); aerr != nil {
			s.Log.Error("audit of failed sign-in not written", "err", aerr)
		}
		return Session{}, err
	}
	if !registry.ValidUsername(username) || len(password) > 256 || len(code) > 10 {
		s.decoyAttempt(ctx, password)
		return fail("", "malformed", ErrBadCredentials)
	}
	p, err := s.Reg.ByUsername(ctx, username)
	if errors.Is(err, ErrNotFound) {
		s.decoyAttempt(ctx, password)
		return fail("", "unknown-user", ErrBadCredentials)
	}
	if err != nil {
		return Session{}, err
	}
	var reason string
	var refused error // kept outside the transaction, which must commit the failure count
	err = pgx.BeginFunc(ctx, s.Reg.pool, func(tx pgx.Tx) error {
		var hash, secret string
		var step int64
		var a registry.Attempts
		var locked *time.Time
		err := tx.QueryRow(ctx, `select password_hash, totp_secret, totp_last_step, failures, locked_until
			from credentials where practitioner_id = $1 for update`, p.ID).Scan(&hash, &secret, &step, &a.Failures, &locked)
		if errors.Is(err, pgx.ErrNoRows) {
			_, _ = CheckPassword(dummyHash, password)
			reason, refused = "no-credentials", ErrBadCredentials
			return nil
		}
		if err != nil {
			return fmt.Errorf("read credentials: %w", err)
		}
		if locked != nil {
			a.LockedUntil = *locked
		}
		if s.cfg.Lockout.Locked(a, now) {
			// The hash is checked all the same, and its answer ignored: a
			// locked account must take as long to refuse as any other.
			_, _ = CheckPassword(hash, password)
			reason, refused = "locked", ErrLocked
			return nil
		}
		okPw, err := CheckPassword(hash, password)
		if err != nil {
			return err
		}
		got := checkTOTP(secret, code, now)
		switch {
		case !okPw:
			reason = "bad-password"
		case got == 0:
			reason = "bad-code"
		case got <= step:
			reason = "code-reused"
		}
		if reason != "" {
			a = s.cfg.Lockout.Failed(a, now)
			var until *time.Time
			if !a.LockedUntil.IsZero() {
				until = &a.LockedUntil
			}
			if _, err := tx.Exec(ctx, "update credentials set failures = $2, locked_until = $3 where practitioner_id = $1",
				p.ID, a.Failures, until); err != nil {
				return fmt.Errorf("record failed sign-in: %w", err)
			}
			refused = ErrBadCredentials
			return nil
		}
		_, err = tx.Exec(ctx, "update credentials set failures = 0, locked_until = null, totp_last_step = $2 where practitioner_id = $1", p.ID, got)
		return err
	})
	if err != nil {
		return Session{}, fmt.Errorf("sign in: %w", err)
	}
	if refused != nil {
		return fail(p.ID, reason, refused)
	}
	if err := registry.Eligible(p, now); err != nil {
		return fail(p.ID, reasonCode(err), IneligibleError{err})
	}
	return s.openSession(ctx, p, now, "POST /v1/auth/login")
}

// decoyAttempt does the work of a sign-in for a username that is not on the
// register — a transaction that reads and locks a credentials row, and the
// password hash — so that the answer takes as long as a wrong password's and
// timing does not tell a guesser which usernames exist.
func (s *Service) decoyAttempt(ctx context.Context, password string) {
	_ = pgx.BeginFunc(ctx, s.Reg.pool, func(tx pgx.Tx) error {
		var n int
		// The nil UUID is never a practitioner's id: no row is read.
		_ = tx.QueryRow(ctx, `select failures from credentials where practitioner_id = '00000000-0000-0000-0000-000000000000' for update`).Scan(&n)
		_, _ = CheckPassword(dummyHash, password)
		return nil
	})
}

// openSession starts a session for a practitioner whose identity and
// eligibility have been checked, by whichever way they signed in. It is not
// answered unless its audit entry is written.
func (s *Service) openSession(ctx context.Context, p registry.Practitioner, now time.Time, route string) (Session, error) {
	sess := Session{Practitioner: p, ID: randomToken(24), SessionExpires: now.Add(s.cfg.SessionTTL), BearerExpires: now.Add(s.cfg.TokenTTL)}
	if _, err := s.Reg.pool.Exec(ctx, "insert into auth_sessions (id, practitioner_id, expires_at) values ($1,$2,$3)",
		sess.ID, p.ID, sess.SessionExpires); err != nil {
		return Session{}, fmt.Errorf("open session: %w", err)
	}
	sess.Cookie = s.tokens.Sign(Claims{Subject: p.ID, Session: sess.ID, Kind: KindSession, Issued: now.Unix(), Expires: sess.SessionExpires.Unix()})
	sess.Bearer = s.tokens.Sign(Claims{Subject: p.ID, Session: sess.ID, Kind: KindBearer, Issued: now.Unix(), Expires: sess.BearerExpires.Unix()})
	if err := s.Audit.Record(ctx, audit.Entry{Action: audit.ActLogin, Actor: p.ID, Roles: p.Roles, Route: route}); err != nil {
		return Session{}, err
	}
	return sess, nil
}

// Bearer issues a new bearer token for an open session.
func (s *Service) Bearer(c Claims) (string, time.Time) {
	now := s.Now()
	exp := now.Add(s.cfg.TokenTTL)
	if se := time.Unix(c.Expires, 0); c.Kind == KindSession && se.Before(exp) {
		exp = se
	}
	return s.tokens.Sign(Claims{Subject: c.Subject, Session: c.Session, Kind: KindBearer, Issued: now.Unix(), Expires: exp.Unix()}), exp
}

// Logout ends a session: its cookie and every bearer token from it stop
// working at once.
func (s *Service) Logout(ctx context.Context, sessionID string) error {
	_, err := s.Reg.pool.Exec(ctx, "update auth_sessions set ended_at = now() where id = $1 and ended_at is null", sessionID)
	if err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

// reasonCode turns an eligibility or token error into the fixed vocabulary
// of audit reasons.
func reasonCode(err error) string {
	switch {
	case errors.Is(err, registry.ErrSuspended):
		return "suspended"
	case errors.Is(err, registry.ErrLeft):
		return "left"
	case errors.Is(err, registry.ErrNotVetted):
		return "not-vetted"
	case errors.Is(err, registry.ErrVettingExpired):
		return "vetting-expired"
	case errors.Is(err, registry.ErrNotTrained):
		return "not-trained"
	case errors.Is(err, registry.ErrTrainingExpired):
		return "training-expired"
	case errors.Is(err, registry.ErrNoRole):
		return "no-role"
	case errors.Is(err, ErrTokenExpired):
		return "token-expired"
	case errors.Is(err, ErrTokenSignature), errors.Is(err, ErrTokenMalformed):
		return "token-invalid"
	case errors.Is(err, errSessionEnded):
		return "session-ended"
	case errors.Is(err, errNoCredentials):
		return "no-credentials"
	case errors.Is(err, ErrBadKey):
		return "key-invalid"
	}
	return "refused"
}
