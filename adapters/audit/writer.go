// Package audit writes the audit trail to the AUDIT stream. Record returns
// only when JetStream has acknowledged the entry, so a caller that answers
// after Record succeeds has its read on the trail, and one whose Record fails
// does not answer (fail closed).
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"contactpoint/adapters/natsjs"
	"contactpoint/domain/audit"
)

// Writer appends entries to AUDIT.
type Writer struct {
	js      jetstream.JetStream
	Timeout time.Duration
	now     func() time.Time
	// Keys, when set, is where the keys sealing the criteria of entries
	// that name children are kept (see seal.go); nil writes them in clear.
	Keys *pgxpool.Pool
}

// NewWriter returns a Writer on js.
func NewWriter(js jetstream.JetStream) *Writer {
	return &Writer{js: js, Timeout: 5 * time.Second, now: time.Now}
}

// Subject is where entries of an action are published.
func Subject(action string) string { return "audit." + action }

// Record implements audit.Recorder.
func (w *Writer) Record(ctx context.Context, e audit.Entry) error {
	if e.ID == "" {
		e.ID = uuid.NewString()
	}
	if e.At.IsZero() {
		e.At = w.now().UTC()
	}
	if e.Outcome == "" {
		e.Outcome = audit.OK
	}
	// The entry is written even when the request's own context has ended:
	// a read that has happened is recorded whatever the client does.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.Timeout)
	defer cancel()
	// Searches are sealed whether or not they found anyone: a search that
	// found nobody (or found a child archived since) still holds the
	// names and postcode typed, and erasure must be able to reach them.
	if w.Keys != nil && len(e.Criteria) > 0 && (len(e.Children) > 0 || e.Action == audit.ActSearch) {
		if err := seal(ctx, w.Keys, &e); err != nil {
			return fmt.Errorf("%w: %v", audit.ErrUnavailable, err)
		}
	}
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("%w: encode: %v", audit.ErrUnavailable, err)
	}
	if _, err := w.js.Publish(ctx, Subject(e.Action), b, jetstream.WithMsgID(e.ID),
		jetstream.WithExpectStream(natsjs.StreamAudit)); err != nil {
		return fmt.Errorf("%w: %v", audit.ErrUnavailable, err)
	}
	return nil
}
