package registry

import (
	"errors"
	"testing"
	"time"

	"contactpoint/domain/access"
)

var now = time.Date(2025, 6, 2, 10, 0, 0, 0, time.UTC)

func ready() Practitioner {
	p := Practitioner{}
	p.Apply(Event{Type: EvRegistered, Practitioner: "p1", Username: "a.smith", Name: "A Smith", Organisation: "Leeds CC",
		JobRole: "Social worker", Roles: []string{access.RolePractitioner}})
	p.Apply(Event{Type: EvVetted, Vetting: &Vetting{CheckType: "enhanced-dbs", Date: now.AddDate(-1, 0, 0), Expires: now.AddDate(2, 0, 0)}})
	p.Apply(Event{Type: EvTrained, Training: &Training{Completed: now.AddDate(0, -1, 0), Expires: now.AddDate(1, 0, 0)}})
	return p
}

func TestEligible(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Practitioner)
		at     time.Time
		want   error
	}{
		{"vetted and trained", func(*Practitioner) {}, now, nil},
		{"suspended", func(p *Practitioner) { p.Apply(Event{Type: EvStatusChanged, Status: StatusSuspended}) }, now, ErrSuspended},
		{"left", func(p *Practitioner) { p.Apply(Event{Type: EvStatusChanged, Status: StatusLeft}) }, now, ErrLeft},
		{"never vetted", func(p *Practitioner) { p.Vetting = nil }, now, ErrNotVetted},
		{"vetting expired", func(*Practitioner) {}, now.AddDate(2, 0, 0), ErrVettingExpired},
		{"never trained", func(p *Practitioner) { p.Training = nil }, now, ErrNotTrained},
		{"training expires this instant", func(*Practitioner) {}, now.AddDate(1, 0, 0), ErrTrainingExpired},
		{"training one second short of expiry", func(*Practitioner) {}, now.AddDate(1, 0, 0).Add(-time.Second), nil},
		{"no roles", func(p *Practitioner) { p.Apply(Event{Type: EvRolesChanged}) }, now, ErrNoRole},
		{"reinstated", func(p *Practitioner) {
			p.Apply(Event{Type: EvStatusChanged, Status: StatusSuspended})
			p.Apply(Event{Type: EvStatusChanged, Status: StatusActive})
		}, now, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ready()
			tt.change(&p)
			if err := Eligible(p, tt.at); !errors.Is(err, tt.want) {
				t.Fatalf("Eligible = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	p := ready()
	left := ready()
	left.Apply(Event{Type: EvStatusChanged, Status: StatusLeft})
	tests := []struct {
		name string
		p    *Practitioner
		e    Event
		ok   bool
	}{
		{"register", nil, Event{Type: EvRegistered, Username: "b.jones", Name: "B", Organisation: "O", JobRole: "J", Roles: []string{"auditor"}}, true},
		{"register twice", &p, Event{Type: EvRegistered, Username: "b.jones", Name: "B", Organisation: "O", JobRole: "J"}, false},
		{"upper-case username", nil, Event{Type: EvRegistered, Username: "B.Jones", Name: "B", Organisation: "O", JobRole: "J"}, false},
		{"injection in username", nil, Event{Type: EvRegistered, Username: "x'; drop table practitioners;--", Name: "B", Organisation: "O", JobRole: "J"}, false},
		{"missing organisation", nil, Event{Type: EvRegistered, Username: "b.jones", Name: "B", JobRole: "J"}, false},
		{"unknown role", &p, Event{Type: EvRolesChanged, Roles: []string{"superuser"}}, false},
		{"vetting in the future", &p, Event{Type: EvVetted, Vetting: &Vetting{CheckType: "dbs", Date: now.Add(time.Hour), Expires: now.AddDate(1, 0, 0)}}, false},
		{"vetting expiring before its date", &p, Event{Type: EvVetted, Vetting: &Vetting{CheckType: "dbs", Date: now, Expires: now.Add(-time.Hour)}}, false},
		{"training", &p, Event{Type: EvTrained, Training: &Training{Completed: now, Expires: now.AddDate(1, 0, 0)}}, true},
		{"bad status", &p, Event{Type: EvStatusChanged, Status: "retired"}, false},
		{"change after leaving", &left, Event{Type: EvStatusChanged, Status: StatusActive}, false},
		{"change to nobody", nil, Event{Type: EvRolesChanged, Roles: []string{"auditor"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Check(tt.p, tt.e, now); (err == nil) != tt.ok {
				t.Fatalf("Check = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestLockout(t *testing.T) {
	l := Lockout{MaxFailures: 3, Duration: 10 * time.Minute}
	var a Attempts
	for i := 0; i < 2; i++ {
		a = l.Failed(a, now)
		if l.Locked(a, now) {
			t.Fatalf("locked after %d failures", i+1)
		}
	}
	a = l.Failed(a, now)
	if !l.Locked(a, now) || !l.Locked(a, now.Add(9*time.Minute)) {
		t.Fatal("not locked after 3 failures")
	}
	if l.Locked(a, now.Add(10*time.Minute)) {
		t.Fatal("still locked after the lock ran out")
	}
	a = l.Failed(a, now.Add(11*time.Minute))
	if a.Failures != 1 || l.Locked(a, now.Add(11*time.Minute)) {
		t.Fatalf("count did not restart after the lock: %+v", a)
	}
	if a = l.Succeeded(a); a.Failures != 0 {
		t.Fatal("success did not clear the count")
	}
}
