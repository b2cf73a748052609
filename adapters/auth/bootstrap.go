package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"contactpoint/domain/access"
	"contactpoint/domain/registry"
)

// Enrolment is what Enrol needs to put a ready-to-use practitioner on the
// register: vetted and trained today, valid for the given periods.
type Enrolment struct {
	Username, Name, Organisation, JobRole string
	Roles                                 []string
	VettedFor, TrainedFor                 time.Duration // default one year
}

// Enrol registers a practitioner (or, if the username exists, renews their
// vetting, training and credentials) and returns their new credentials.
// Bootstrapping, the demo and tests use it; administrators use the API.
func (r *Registry) Enrol(ctx context.Context, e Enrolment, by string) (registry.Practitioner, Credentials, error) {
	now := r.Now().UTC()
	if e.VettedFor == 0 {
		e.VettedFor = 365 * 24 * time.Hour
	}
	if e.TrainedFor == 0 {
		e.TrainedFor = 365 * 24 * time.Hour
	}
	on := now.Add(-time.Minute)
	c := Change{Name: &e.Name, Organisation: &e.Organisation, JobRole: &e.JobRole, Roles: &e.Roles,
		Vetting: NewVetting("enhanced-dbs", on, on.Add(e.VettedFor)), Training: NewTraining(on, on.Add(e.TrainedFor))}
	p, err := r.ByUsername(ctx, e.Username)
	if errors.Is(err, ErrNotFound) {
		return r.Create(ctx, e.Username, by, c)
	}
	if err != nil {
		return p, Credentials{}, err
	}
	active := string(registry.StatusActive)
	if p.Status != registry.StatusActive && p.Status != registry.StatusLeft {
		c.Status = &active
	}
	if p, err = r.Apply(ctx, p.ID, by, c); err != nil {
		return p, Credentials{}, err
	}
	cred, err := r.IssueCredentials(ctx, p.ID, by)
	return p, cred, err
}

// bootstrapLock serialises first-start enrolment between hub instances
// sharing one database (a PostgreSQL advisory lock key).
const bootstrapLock = 0x636f6e7461637470 // "contactp"

// ErrBootstrapFileExists: the register is empty but a credentials file from
// an earlier start is still there. The hub neither overwrites it nor enrols
// an administrator whose credentials it could not hand over.
var ErrBootstrapFileExists = errors.New("the register is empty but the bootstrap administrator's credentials file from an earlier start exists: move it away and restart to enrol a new administrator, or use `contactpoint users add`")

// BootstrapAdmin enrols username as an administrator when the register is
// empty — nobody at all on it — and writes the credentials once to path,
// created with mode 0600 and never overwritten. It reports whether it
// enrolled. Once anyone is on the register it does nothing, so a restart
// never resets an administrator's password or adds another; instances
// starting together take turns under an advisory lock.
func (r *Registry) BootstrapAdmin(ctx context.Context, username, path string) (bool, error) {
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("bootstrap administrator: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "select pg_advisory_lock($1)", int64(bootstrapLock)); err != nil {
		return false, fmt.Errorf("bootstrap administrator: lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "select pg_advisory_unlock($1)", int64(bootstrapLock)) //nolint:errcheck // the lock also ends with the session
	var anyone bool
	if err := conn.QueryRow(ctx, "select exists (select 1 from practitioners)").Scan(&anyone); err != nil {
		return false, fmt.Errorf("bootstrap administrator: read register: %w", err)
	}
	if anyone {
		return false, nil
	}
	// The file is made before the account, so that a data directory the
	// hub cannot write stops the enrolment rather than leave an
	// administrator nobody has the credentials of.
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return false, fmt.Errorf("bootstrap administrator: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return false, ErrBootstrapFileExists
	}
	if err != nil {
		return false, fmt.Errorf("bootstrap administrator: create credentials file: %w", err)
	}
	_, cred, err := r.Enrol(ctx, Enrolment{Username: username, Name: "Hub administrator", Organisation: "ContactPoint",
		JobRole: "Administrator", Roles: []string{access.RoleAdmin}}, "system")
	if err != nil {
		f.Close()
		os.Remove(path)
		return false, fmt.Errorf("bootstrap administrator: %w", err)
	}
	b, _ := json.MarshalIndent(cred, "", "  ")
	if _, err := f.Write(append(b, '\n')); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return true, fmt.Errorf("bootstrap administrator %s enrolled but its credentials not written (issue new ones with `contactpoint users reset %s`): %w", username, username, err)
	}
	return true, nil
}

// BootstrapDemo enrols a demonstration practitioner who may search, view
// shielded records and audit, and returns what they sign in with.
func BootstrapDemo(ctx context.Context, reg *Registry, username string) (user, password, totpSecret string, err error) {
	_, cred, err := reg.Enrol(ctx, Enrolment{Username: username, Name: "Demo Practitioner", Organisation: "Demo Council",
		JobRole: "Social worker", Roles: []string{access.RolePractitioner, access.RoleAuditor}}, "system")
	if err != nil {
		return "", "", "", err
	}
	return cred.Username, cred.Password, cred.TOTPSecret, nil
}
