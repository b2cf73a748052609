package registry

import "time"

// Lockout is the rule for repeated failed sign-ins: after MaxFailures
// consecutive failures the account refuses every attempt, right or wrong,
// for Duration. A right attempt while locked does not unlock it, so that a
// guesser learns nothing from the answer.
type Lockout struct {
	MaxFailures int
	Duration    time.Duration
}

// DefaultLockout: five failures lock the account for fifteen minutes.
var DefaultLockout = Lockout{MaxFailures: 5, Duration: 15 * time.Minute}

// Attempts is what the hub remembers of an account's recent sign-ins.
type Attempts struct {
	Failures    int
	LockedUntil time.Time
}

// Locked reports whether a sign-in at now is refused outright.
func (l Lockout) Locked(a Attempts, now time.Time) bool { return now.Before(a.LockedUntil) }

// Failed returns the record after a failed attempt at now.
func (l Lockout) Failed(a Attempts, now time.Time) Attempts {
	if !a.LockedUntil.IsZero() && !now.Before(a.LockedUntil) {
		a = Attempts{} // the lock has run out: start counting again
	}
	a.Failures++
	if a.Failures >= l.MaxFailures {
		a.LockedUntil = now.Add(l.Duration)
	}
	return a
}

// Succeeded returns the record after a successful attempt.
func (l Lockout) Succeeded(Attempts) Attempts { return Attempts{} }
