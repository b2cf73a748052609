// Package audit is the hub's audit trail vocabulary: what is recorded when
// someone reads, changes or tries to. An entry holds ids and criteria, never
// the records themselves, so the trail answers "who looked at what" without
// becoming a second copy of the directory.
package audit

import (
	"context"
	"errors"
	"time"
)

// Actions recorded.
const (
	ActSearch       = "search"
	ActView         = "view"
	ActExport       = "export"
	ActShieldChange = "shield-change"
	ActStewardDec   = "steward-decision"
	ActLogin        = "login"
	ActLoginFailed  = "login-failed"
	ActRefused      = "refused"         // a request the access policy turned away
	ActRegistry     = "registry-change" // an administrator changed the register
	ActAuditQuery   = "audit-query"     // an auditor read the trail
	ActReveal       = "break-glass-reveal"
	ActRevealEnd    = "break-glass-end"
	// ActRetention: a record archived, erased, or given a retention
	// exception; Subject is the child, Reason the rule.
	ActRetention = "retention"
)

// Outcomes.
const (
	OK      = "ok"
	Refused = "refused"
)

// Entry is one audit record.
type Entry struct {
	ID       string            `json:"id"` // UUID, also the message id, so a retry is recorded once
	At       time.Time         `json:"at"`
	Action   string            `json:"action"`
	Outcome  string            `json:"outcome"`
	Actor    string            `json:"actor,omitempty"`  // practitioner id, or empty when unknown
	Roles    []string          `json:"roles,omitempty"`  // roles the actor held at the time
	System   string            `json:"system,omitempty"` // agency/system for feed requests
	Route    string            `json:"route,omitempty"`  // ServeMux pattern, never the raw URL
	Status   int               `json:"status,omitempty"` // HTTP status answered
	Reason   string            `json:"reason,omitempty"` // why refused, from a fixed vocabulary
	Criteria map[string]string `json:"criteria,omitempty"`
	Children []string          `json:"children,omitempty"` // child ids returned or viewed
	// Sealed holds the criteria of an entry naming children, encrypted with
	// a key of the entry's own kept in PostgreSQL (audit_keys): erasing a
	// child destroys the key, so every copy of the entry loses the
	// criteria (names, postcodes) and keeps its ids. Criteria is then empty.
	Sealed  string `json:"sealed,omitempty"`
	Subject string `json:"subject,omitempty"` // practitioner or child id an action was about
	// Answer says what a record view was answered from, for replay.
	Answer *Answer `json:"answer,omitempty"`
}

// Answer is where a record view came from: the child shown, the CHILDREN
// sequence of the last event the directory had applied to it, and the
// parts of the answer that do not come from the child's own events. It
// holds no record data.
type Answer struct {
	Child    string `json:"child"`
	Position uint64 `json:"position"`
	// GuardContact is set when the child was shown as a possible duplicate
	// of a shielded child, with the contact the answer named.
	GuardContact    string   `json:"guard_contact,omitempty"`
	GuardCandidates []string `json:"guard_candidates,omitempty"`
	Revealed        bool     `json:"revealed,omitempty"`
}

// Recorder appends entries to the trail and returns only once the entry is
// durable. A caller about to answer a read must not answer if it fails.
type Recorder interface {
	Record(ctx context.Context, e Entry) error
}

// ErrUnavailable is wrapped by recorders whose trail could not be written.
var ErrUnavailable = errors.New("audit trail unavailable")

// Discard records nothing; only for tests of handlers that do not read.
type Discard struct{}

// Record implements Recorder.
func (Discard) Record(context.Context, Entry) error { return nil }
