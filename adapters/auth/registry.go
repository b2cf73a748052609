package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"contactpoint/adapters/natsjs"
	"contactpoint/domain/access"
	"contactpoint/domain/record"
	"contactpoint/domain/registry"
)

// Registry keeps the practitioner register and agency keys: each change is
// appended to REGISTRY (with optimistic concurrency per entry) and then
// applied to PostgreSQL, so the register reads its own writes and can be
// rebuilt from the log. Sign-in secrets live only in PostgreSQL.
type Registry struct {
	js   jetstream.JetStream
	pool *pgxpool.Pool
	Now  func() time.Time
	keys keyCache // verified agency keys (keycache.go)
}

// NewRegistry returns the register on js and pool.
func NewRegistry(js jetstream.JetStream, pool *pgxpool.Pool) *Registry {
	return &Registry{js: js, pool: pool, Now: time.Now}
}

// ErrNotFound: no practitioner or key of that id.
var ErrNotFound = errors.New("not found")

func practitionerSubject(id string) string { return "registry.practitioners." + id }
func keySubject(id string) string          { return "registry.keys." + id }

// Get returns a practitioner's entry.
func (r *Registry) Get(ctx context.Context, id string) (registry.Practitioner, error) {
	p, _, err := r.get(ctx, "id", id)
	return p, err
}

// ByUsername returns the entry of username.
func (r *Registry) ByUsername(ctx context.Context, username string) (registry.Practitioner, error) {
	p, _, err := r.get(ctx, "username", username)
	return p, err
}

func (r *Registry) get(ctx context.Context, col, v string) (registry.Practitioner, uint64, error) {
	var p registry.Practitioner
	if col == "id" && uuid.Validate(v) != nil {
		return p, 0, ErrNotFound
	}
	var raw []byte
	var seq int64
	err := r.pool.QueryRow(ctx, "select state, last_seq from practitioners where "+col+" = $1", v).Scan(&raw, &seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, 0, ErrNotFound
	}
	if err != nil {
		return p, 0, fmt.Errorf("read register: %w", err)
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return p, 0, fmt.Errorf("decode register entry: %w", err)
	}
	return p, uint64(seq), nil
}

// List returns every entry, by username.
func (r *Registry) List(ctx context.Context) ([]registry.Practitioner, error) {
	rows, err := r.pool.Query(ctx, "select state from practitioners order by username")
	if err != nil {
		return nil, fmt.Errorf("list register: %w", err)
	}
	out := []registry.Practitioner{}
	for rows.Next() {
		var raw []byte
		var p registry.Practitioner
		if err := rows.Scan(&raw); err != nil {
			return nil, fmt.Errorf("list register: %w", err)
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, fmt.Errorf("decode register entry: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// ValidationError is a change the register refuses; its message is safe to
// show to the administrator.
type ValidationError struct{ Err error }

func (e ValidationError) Error() string { return e.Err.Error() }
func (e ValidationError) Unwrap() error { return e.Err }

// Change validates e against the entry and appends it. A concurrent change
// to the same entry makes the append fail; Change then re-reads and
// re-decides.
func (r *Registry) Change(ctx context.Context, e registry.Event) (registry.Practitioner, error) {
	if e.At.IsZero() {
		e.At = r.Now().UTC()
	}
	if e.Type == registry.EvRegistered && e.Practitioner == "" {
		e.Practitioner = uuid.NewString()
	}
	for attempt := 0; ; attempt++ {
		cur, seq, err := r.get(ctx, "id", e.Practitioner)
		var prev *registry.Practitioner
		switch {
		case err == nil:
			prev = &cur
		case errors.Is(err, ErrNotFound):
		default:
			return cur, err
		}
		if err := registry.Check(prev, e, r.Now()); err != nil {
			return cur, ValidationError{err}
		}
		if e.Type == registry.EvRegistered {
			if _, err := r.ByUsername(ctx, e.Username); err == nil {
				return cur, ValidationError{errors.New("username already taken")}
			}
		}
		b, _ := json.Marshal(e)
		ack, err := r.js.Publish(ctx, practitionerSubject(e.Practitioner), b,
			jetstream.WithExpectLastSequencePerSubject(seq), jetstream.WithExpectStream(natsjs.StreamRegistry))
		if err != nil {
			var apiErr *jetstream.APIError
			if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence && attempt < 3 {
				// The projection is behind the log (a crash between append
				// and apply, or another instance): catch up and decide again.
				if err := r.CatchUp(ctx); err != nil {
					return cur, err
				}
				continue
			}
			return cur, fmt.Errorf("append to register: %w", err)
		}
		if err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error { return r.applyPractitioner(ctx, tx, ack.Sequence, e) }); err != nil {
			return cur, err
		}
		return r.Get(ctx, e.Practitioner)
	}
}

type execQuerier interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
	QueryRow(context.Context, string, ...any) pgx.Row
}

// applyPractitioner folds one REGISTRY event into the practitioners table,
// skipping it when the row already includes it.
func (r *Registry) applyPractitioner(ctx context.Context, q execQuerier, seq uint64, e registry.Event) error {
	var p registry.Practitioner
	var raw []byte
	var last int64
	err := q.QueryRow(ctx, "select state, last_seq from practitioners where id = $1 for update", e.Practitioner).Scan(&raw, &last)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return fmt.Errorf("apply register event: %w", err)
	default:
		if uint64(last) >= seq {
			return nil
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			return fmt.Errorf("decode register entry: %w", err)
		}
	}
	p.Apply(e)
	state, _ := json.Marshal(p)
	_, err = q.Exec(ctx, `insert into practitioners (id, username, status, state, last_seq) values ($1,$2,$3,$4,$5)
		on conflict (id) do update set username = excluded.username, status = excluded.status, state = excluded.state,
		  last_seq = excluded.last_seq, updated_at = now()
		where practitioners.last_seq < excluded.last_seq`, p.ID, p.Username, string(p.Status), state, int64(seq))
	if err != nil {
		return fmt.Errorf("apply register event: %w", err)
	}
	return nil
}

func (r *Registry) applyKey(ctx context.Context, q execQuerier, seq uint64, e registry.KeyEvent) error {
	var err error
	switch e.Type {
	case registry.EvKeyIssued:
		_, err = q.Exec(ctx, `insert into agency_keys (id, agency, system, secret_sha, created_at, last_seq) values ($1,$2,$3,$4,$5,$6)
			on conflict (id) do nothing`, e.KeyID, e.Agency, e.System, e.SecretSHA, e.At, int64(seq))
	case registry.EvKeyRevoked:
		_, err = q.Exec(ctx, `update agency_keys set revoked_at = $2, last_seq = $3 where id = $1 and last_seq < $3`, e.KeyID, e.At, int64(seq))
	}
	if err != nil {
		return fmt.Errorf("apply key event: %w", err)
	}
	return nil
}

// CatchUp applies every REGISTRY message not yet in PostgreSQL. Each row
// records the last sequence applied to it, so replaying is harmless.
func (r *Registry) CatchUp(ctx context.Context) error {
	st, err := r.js.Stream(ctx, natsjs.StreamRegistry)
	if err != nil {
		return fmt.Errorf("register catch-up: %w", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return fmt.Errorf("register catch-up: %w", err)
	}
	if info.State.Msgs == 0 {
		return nil
	}
	end := info.State.LastSeq
	cons, err := r.js.OrderedConsumer(ctx, natsjs.StreamRegistry, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return fmt.Errorf("register catch-up: %w", err)
	}
	for {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			return fmt.Errorf("register catch-up: %w", err)
		}
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("register catch-up: %w", err)
		}
		seq := md.Sequence.Stream
		if strings.HasPrefix(m.Subject(), "registry.keys.") {
			var e registry.KeyEvent
			if err := json.Unmarshal(m.Data(), &e); err != nil {
				return fmt.Errorf("register catch-up: decode %d: %w", seq, err)
			}
			err = r.applyKey(ctx, r.pool, seq, e)
		} else {
			var e registry.Event
			if err := json.Unmarshal(m.Data(), &e); err != nil {
				return fmt.Errorf("register catch-up: decode %d: %w", seq, err)
			}
			err = pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error { return r.applyPractitioner(ctx, tx, seq, e) })
		}
		if err != nil {
			return err
		}
		if seq >= end {
			return nil
		}
	}
}

// Credentials are a practitioner's new sign-in secrets, shown once.
type Credentials struct {
	Username   string `json:"username"`
	Password   string `json:"password"`
	TOTPSecret string `json:"totp_secret"`
	TOTPURL    string `json:"totp_url"`
}

// IssueCredentials gives a practitioner a new random password and TOTP
// secret, replacing any before and clearing a lockout. The secrets are
// returned once and stored only as a hash (password) and in PostgreSQL
// (TOTP key); the register records only that it happened.
func (r *Registry) IssueCredentials(ctx context.Context, id, by string) (Credentials, error) {
	p, err := r.Get(ctx, id)
	if err != nil {
		return Credentials{}, err
	}
	if p.Status == registry.StatusLeft {
		return Credentials{}, ValidationError{registry.ErrHasLeft}
	}
	pw := RandomPassword()
	c, err := r.SetCredentials(ctx, p, pw, by)
	return c, err
}

// SetCredentials sets a chosen password and a new TOTP secret.
func (r *Registry) SetCredentials(ctx context.Context, p registry.Practitioner, password, by string) (Credentials, error) {
	if len(password) < 12 || len(password) > 256 {
		return Credentials{}, ValidationError{errors.New("password must be 12–256 characters")}
	}
	hash, err := HashPassword(password)
	if err != nil {
		return Credentials{}, err
	}
	secret, url, err := NewTOTP(p.Username)
	if err != nil {
		return Credentials{}, err
	}
	if _, err := r.pool.Exec(ctx, `insert into credentials (practitioner_id, password_hash, totp_secret) values ($1,$2,$3)
		on conflict (practitioner_id) do update set password_hash = excluded.password_hash, totp_secret = excluded.totp_secret,
		  totp_last_step = 0, failures = 0, locked_until = null, updated_at = now()`, p.ID, hash, secret); err != nil {
		return Credentials{}, fmt.Errorf("store credentials: %w", err)
	}
	if _, err := r.Change(ctx, registry.Event{Type: registry.EvCredentialsSet, Practitioner: p.ID, By: by}); err != nil {
		return Credentials{}, err
	}
	return Credentials{Username: p.Username, Password: password, TOTPSecret: secret, TOTPURL: url}, nil
}

// AgencyKey is an issued key as administrators list it (never the secret).
type AgencyKey struct {
	ID        string     `json:"id"`
	Agency    string     `json:"agency"`
	System    string     `json:"system"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

const keyPrefix = "cpk_"

// IssueKey creates an API key for one agency system and returns it once:
// "cpk_<id>_<secret>".
func (r *Registry) IssueKey(ctx context.Context, agency, system, by string) (string, AgencyKey, error) {
	if !record.IsAgency(agency) {
		return "", AgencyKey{}, ValidationError{fmt.Errorf("agency must be one of %v", record.Agencies)}
	}
	if !registry.ValidUsername(system) || strings.Contains(system, ".") {
		return "", AgencyKey{}, ValidationError{errors.New("system must be 3–64 characters of a–z, 0–9, '-', '_'")}
	}
	id := strings.ReplaceAll(uuid.NewString(), "-", "")[:16]
	secret := randomToken(32)
	sum := sha256.Sum256([]byte(secret))
	e := registry.KeyEvent{Type: registry.EvKeyIssued, At: r.Now().UTC(), By: by, KeyID: id, Agency: agency, System: system, SecretSHA: sum[:]}
	ack, err := r.appendKey(ctx, e, 0)
	if err != nil {
		return "", AgencyKey{}, err
	}
	if err := r.applyKey(ctx, r.pool, ack, e); err != nil {
		return "", AgencyKey{}, err
	}
	return keyPrefix + id + "_" + secret, AgencyKey{ID: id, Agency: agency, System: system, CreatedAt: e.At}, nil
}

func (r *Registry) appendKey(ctx context.Context, e registry.KeyEvent, expect uint64) (uint64, error) {
	b, _ := json.Marshal(e)
	ack, err := r.js.Publish(ctx, keySubject(e.KeyID), b, jetstream.WithExpectLastSequencePerSubject(expect),
		jetstream.WithExpectStream(natsjs.StreamRegistry))
	if err != nil {
		return 0, fmt.Errorf("append to register: %w", err)
	}
	return ack.Sequence, nil
}

// RevokeKey ends a key at once.
func (r *Registry) RevokeKey(ctx context.Context, id, by string) error {
	var seq int64
	var revoked *time.Time
	err := r.pool.QueryRow(ctx, "select last_seq, revoked_at from agency_keys where id = $1", id).Scan(&seq, &revoked)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("revoke key: %w", err)
	}
	if revoked != nil {
		return nil
	}
	e := registry.KeyEvent{Type: registry.EvKeyRevoked, At: r.Now().UTC(), By: by, KeyID: id}
	ack, err := r.appendKey(ctx, e, uint64(seq))
	if err != nil {
		return err
	}
	r.keys.revoke(id) // this instance at once; the others through WatchKeys
	return r.applyKey(ctx, r.pool, ack, e)
}

// Keys lists the issued keys.
func (r *Registry) Keys(ctx context.Context) ([]AgencyKey, error) {
	rows, err := r.pool.Query(ctx, "select id, agency, system, created_at, revoked_at from agency_keys order by agency, system, created_at")
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (AgencyKey, error) {
		var k AgencyKey
		err := row.Scan(&k.ID, &k.Agency, &k.System, &k.CreatedAt, &k.RevokedAt)
		return k, err
	})
}

// ErrBadKey: the presented key is unknown, revoked or wrong.
var ErrBadKey = errors.New("API key not valid")

// CheckKey returns the agency system a presented key was issued to.
func (r *Registry) CheckKey(ctx context.Context, presented string) (access.AgencySystem, error) {
	rest, ok := strings.CutPrefix(presented, keyPrefix)
	id, secret, ok2 := strings.Cut(rest, "_")
	if !ok || !ok2 || len(id) != 16 || len(secret) == 0 || len(secret) > 100 {
		return access.AgencySystem{}, ErrBadKey
	}
	if _, err := hex.DecodeString(id); err != nil {
		return access.AgencySystem{}, ErrBadKey
	}
	now := r.Now()
	if s, ok := r.keys.check(id, secret, now, false); ok {
		return s, nil
	}
	var s access.AgencySystem
	var want []byte
	var revoked *time.Time
	err := r.pool.QueryRow(ctx, "select id, agency, system, secret_sha, revoked_at from agency_keys where id = $1", id).
		Scan(&s.KeyID, &s.Agency, &s.System, &want, &revoked)
	if errors.Is(err, pgx.ErrNoRows) {
		return access.AgencySystem{}, ErrBadKey
	}
	if err != nil {
		// PostgreSQL does not answer: a key verified within KeyStale, and
		// not revoked on REGISTRY since, still speaks for its system.
		if s, ok := r.keys.check(id, secret, now, true); ok {
			return s, nil
		}
		return access.AgencySystem{}, fmt.Errorf("check key: %w", err)
	}
	got := sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(got[:], want) != 1 || revoked != nil {
		if revoked != nil {
			r.keys.revoke(id)
		}
		return access.AgencySystem{}, ErrBadKey
	}
	r.keys.put(id, cachedKey{as: s, sha: got, verified: now})
	return s, nil
}
