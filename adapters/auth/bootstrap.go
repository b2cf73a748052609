package auth

import (
	"context"
	"errors"
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

// BootstrapAdmin makes sure username exists as an administrator. It returns
// credentials only when it created the account, so that restarting the hub
// does not reset an administrator's password.
func (r *Registry) BootstrapAdmin(ctx context.Context, username string) (Credentials, bool, error) {
	if _, err := r.ByUsername(ctx, username); err == nil {
		return Credentials{}, false, nil
	} else if !errors.Is(err, ErrNotFound) {
		return Credentials{}, false, err
	}
	_, cred, err := r.Enrol(ctx, Enrolment{Username: username, Name: "Hub administrator", Organisation: "ContactPoint",
		JobRole: "Administrator", Roles: []string{access.RoleAdmin}}, "system")
	return cred, err == nil, err
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
