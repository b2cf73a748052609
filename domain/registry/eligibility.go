package registry

import (
	"errors"
	"time"
)

// Reasons a registered practitioner may not read. Each is shown to the
// practitioner (so they know whom to ask) and recorded in the audit trail.
var (
	ErrSuspended       = errors.New("suspended")
	ErrLeft            = errors.New("left")
	ErrNotVetted       = errors.New("no security vetting on record")
	ErrVettingExpired  = errors.New("security vetting expired")
	ErrNotTrained      = errors.New("no training on record")
	ErrTrainingExpired = errors.New("training expired")
	ErrNoRole          = errors.New("no hub role")
)

// Eligible says whether p may use the hub at now. It is asked on every
// request, not only at sign-in, so that an expiry or suspension takes effect
// at once for sessions already open.
func Eligible(p Practitioner, now time.Time) error {
	switch {
	case p.Status == StatusSuspended:
		return ErrSuspended
	case p.Status != StatusActive:
		return ErrLeft
	case p.Vetting == nil:
		return ErrNotVetted
	case !now.Before(p.Vetting.Expires):
		return ErrVettingExpired
	case p.Training == nil:
		return ErrNotTrained
	case !now.Before(p.Training.Expires):
		return ErrTrainingExpired
	case len(p.Roles) == 0:
		return ErrNoRole
	}
	return nil
}
