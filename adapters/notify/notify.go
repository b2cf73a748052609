// Package notify delivers the hub's notices to practitioners: by email over
// SMTP, or to a deployment's own messaging through an HTTPS webhook. It
// knows nothing of children or events; app/notifier decides who is told
// what, and records that they were.
package notify

import (
	"context"
	"fmt"
)

// Channels a notice can travel by.
const (
	ChannelSMTP    = "smtp"
	ChannelWebhook = "webhook"
)

// Recipient is a practitioner to tell, with the work contact the hub holds.
type Recipient struct {
	// Key identifies the recipient in the hub's own records without their
	// contact details: the practitioner id, or a hash of the address.
	Key   string `json:"key"`
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"`
}

// Notice is one message to one recipient.
type Notice struct {
	ID      string    `json:"id"`   // the notification id: the same notice always has the same id
	Kind    string    `json:"kind"` // involvement, shield-review, review-waiting
	To      Recipient `json:"to"`
	Subject string    `json:"subject"`
	Body    string    `json:"body"`
	// ChildID is the child the notice is about, when there is one; a
	// webhook may use it to link back to the hub.
	ChildID string `json:"child_id,omitempty"`
}

// Sender delivers notices by one channel.
type Sender interface {
	Channel() string
	// Accepts reports whether this channel can reach the recipient.
	Accepts(r Recipient) bool
	Send(ctx context.Context, n Notice) error
}

// Error is a failed delivery, described without anything the far end
// said: an SMTP reply or a webhook's body can quote the recipient's
// address, and this text reaches logs, the parked list and the poison
// stream. The cause stays reachable through Unwrap for callers that
// classify it, never for printing.
type Error struct {
	Channel string
	Reason  string // dial, tls, auth, rejected, status, timeout, config
	Code    int    // SMTP reply code or HTTP status, when there is one
	Temp    bool   // the far end said to try again later
	cause   error
}

func (e *Error) Error() string {
	if e.Code != 0 {
		return fmt.Sprintf("%s delivery failed: %s %d", e.Channel, e.Reason, e.Code)
	}
	return fmt.Sprintf("%s delivery failed: %s", e.Channel, e.Reason)
}

func (e *Error) Unwrap() error { return e.cause }
