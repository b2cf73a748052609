// Package registry is the register of the hub's users: who they are, where
// they work, which hub roles they hold and whether they are currently fit to
// read anything (vetted, trained, active). Every change is an event, so the
// register's history is as durable as the children's.
package registry

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"contactpoint/domain/access"
)

// Status of a practitioner's place on the register.
type Status string

// Statuses. Only active practitioners read anything.
const (
	StatusActive    Status = "active"
	StatusSuspended Status = "suspended"
	StatusLeft      Status = "left"
)

// Roles a practitioner may hold on the hub.
var Roles = access.Roles

// Vetting is the latest security check on record.
type Vetting struct {
	CheckType string    `json:"check_type"` // e.g. enhanced-dbs
	Date      time.Time `json:"date"`
	Expires   time.Time `json:"expires"`
}

// Training is the latest completion of the hub's mandatory training.
type Training struct {
	Completed time.Time `json:"completed"`
	Expires   time.Time `json:"expires"`
}

// Practitioner is one entry on the register, as its events leave it.
type Practitioner struct {
	ID           string    `json:"id"`
	Username     string    `json:"username"`
	Name         string    `json:"name"`
	Organisation string    `json:"organisation"`
	JobRole      string    `json:"job_role"`
	Email        string    `json:"email,omitempty"`
	Roles        []string  `json:"roles"`
	Vetting      *Vetting  `json:"vetting,omitempty"`
	Training     *Training `json:"training,omitempty"`
	Status       Status    `json:"status"`
	Version      uint64    `json:"version"` // events applied
}

// Viewer is the practitioner as the access policy sees them.
func (p Practitioner) Viewer() access.Viewer {
	return access.Viewer{ID: p.ID, Name: p.Name, Organisation: p.Organisation, Roles: slices.Clone(p.Roles)}
}

// Event types on the register.
const (
	EvRegistered     = "practitioner.registered"
	EvDetailsChanged = "practitioner.details-changed"
	EvRolesChanged   = "practitioner.roles-changed"
	EvVetted         = "practitioner.vetting-recorded"
	EvTrained        = "practitioner.training-recorded"
	EvStatusChanged  = "practitioner.status-changed"
	EvCredentialsSet = "practitioner.credentials-set" // the fact only; secrets never enter the log
)

// Event is one change to a practitioner's entry. Only the fields its type
// names are set.
type Event struct {
	Type         string    `json:"type"`
	At           time.Time `json:"at"`
	By           string    `json:"by,omitempty"` // administrator's id, or "system"
	Practitioner string    `json:"practitioner"`
	Username     string    `json:"username,omitempty"`
	Name         string    `json:"name,omitempty"`
	Organisation string    `json:"organisation,omitempty"`
	JobRole      string    `json:"job_role,omitempty"`
	Email        string    `json:"email,omitempty"`
	Roles        []string  `json:"roles,omitempty"`
	Vetting      *Vetting  `json:"vetting,omitempty"`
	Training     *Training `json:"training,omitempty"`
	Status       Status    `json:"status,omitempty"`
	Reason       string    `json:"reason,omitempty"`
}

// Validation errors. They name what is wrong and never echo values.
var (
	ErrUsername   = errors.New("username must be 3–64 characters of a–z, 0–9, '.', '-', '_' or '@'")
	ErrName       = errors.New("name, organisation and job role are required, at most 200 characters each")
	ErrRole       = fmt.Errorf("roles must be some of %v", Roles)
	ErrVetting    = errors.New("vetting needs a check type, a date not in the future and an expiry after it")
	ErrTraining   = errors.New("training needs a completion date not in the future and an expiry after it")
	ErrStatus     = errors.New("status must be active, suspended or left")
	ErrHasLeft    = errors.New("the practitioner has left; register them again")
	ErrUnknownEvt = errors.New("unknown registry event")
)

// ValidUsername reports whether s may be a username.
func ValidUsername(s string) bool {
	if len(s) < 3 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune(".-_@", r)) {
			return false
		}
	}
	return true
}

func validText(ss ...string) bool {
	for _, s := range ss {
		if strings.TrimSpace(s) == "" || len(s) > 200 || strings.ContainsAny(s, "\x00\r\n") {
			return false
		}
	}
	return true
}

func validRoles(rs []string) bool {
	for _, r := range rs {
		if !slices.Contains(Roles, r) {
			return false
		}
	}
	return true
}

// Check validates an event against the entry it would change (nil for a
// registration), so that only sensible events reach the log.
func Check(p *Practitioner, e Event, now time.Time) error {
	if e.Type != EvRegistered && p == nil {
		return errors.New("no such practitioner")
	}
	if p != nil && p.Status == StatusLeft && e.Type != EvCredentialsSet {
		return ErrHasLeft
	}
	switch e.Type {
	case EvRegistered:
		if p != nil {
			return errors.New("practitioner already registered")
		}
		if !ValidUsername(e.Username) {
			return ErrUsername
		}
		if !validText(e.Name, e.Organisation, e.JobRole) {
			return ErrName
		}
		if !validRoles(e.Roles) {
			return ErrRole
		}
	case EvDetailsChanged:
		if !validText(e.Name, e.Organisation, e.JobRole) {
			return ErrName
		}
	case EvRolesChanged:
		if !validRoles(e.Roles) {
			return ErrRole
		}
	case EvVetted:
		v := e.Vetting
		if v == nil || !validText(v.CheckType) || v.Date.IsZero() || v.Date.After(now) || !v.Expires.After(v.Date) {
			return ErrVetting
		}
	case EvTrained:
		t := e.Training
		if t == nil || t.Completed.IsZero() || t.Completed.After(now) || !t.Expires.After(t.Completed) {
			return ErrTraining
		}
	case EvStatusChanged:
		if e.Status != StatusActive && e.Status != StatusSuspended && e.Status != StatusLeft {
			return ErrStatus
		}
	case EvCredentialsSet:
	default:
		return ErrUnknownEvt
	}
	return nil
}

// Apply folds an event into the entry. Events are facts: Apply never fails.
func (p *Practitioner) Apply(e Event) {
	p.Version++
	switch e.Type {
	case EvRegistered:
		p.ID, p.Username = e.Practitioner, e.Username
		p.Name, p.Organisation, p.JobRole, p.Email = e.Name, e.Organisation, e.JobRole, e.Email
		p.Roles = slices.Clone(e.Roles)
		p.Status = StatusActive
	case EvDetailsChanged:
		p.Name, p.Organisation, p.JobRole, p.Email = e.Name, e.Organisation, e.JobRole, e.Email
	case EvRolesChanged:
		p.Roles = slices.Clone(e.Roles)
	case EvVetted:
		v := *e.Vetting
		p.Vetting = &v
	case EvTrained:
		t := *e.Training
		p.Training = &t
	case EvStatusChanged:
		p.Status = e.Status
	}
}

// Agency key events. A key lets one agency system submit feed records for
// its own agency only.
const (
	EvKeyIssued  = "agency-key.issued"
	EvKeyRevoked = "agency-key.revoked"
)

// KeyEvent is the issue or revocation of an agency system's API key. It
// carries a hash of the secret, never the secret.
type KeyEvent struct {
	Type      string    `json:"type"`
	At        time.Time `json:"at"`
	By        string    `json:"by,omitempty"`
	KeyID     string    `json:"key_id"`
	Agency    string    `json:"agency,omitempty"`
	System    string    `json:"system,omitempty"`
	SecretSHA []byte    `json:"secret_sha256,omitempty"`
}
