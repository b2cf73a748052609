// Package parked is the hub's dead-letter store. A stream message that a
// consumer (the linker, a projection) cannot apply is parked: a row in
// PostgreSQL names the message and why, the consumer's checkpoint passes it
// in the same transaction, and the consumer moves on. One bad message then
// never stops the hub, and a restart neither loops on it nor parks it again.
//
// A parked row never holds the message or any value from it: the reason is
// a kind and a detail that names fields, rules or database codes only. The
// message itself stays in its stream.
package parked

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"contactpoint/adapters/postgres"
)

// Reason kinds. They are metric label values and API fields: a fixed set,
// never built from a message.
const (
	// KindUndecodable: the body is not JSON of the message's type.
	KindUndecodable = "undecodable"
	// KindInvalidEvent: a CHILDREN message decodes but breaks the event
	// contract (a payload missing, an id that is not a UUID, a batch for
	// another child than its subject names).
	KindInvalidEvent = "invalid-event"
	// KindInvalidRecord: a FEEDS message decodes but lacks what the linker
	// needs, or holds what no validated record can.
	KindInvalidRecord = "invalid-record"
	// KindInvalidEntry: an AUDIT message decodes but is not an audit entry.
	KindInvalidEntry = "invalid-entry"
	// KindApplyFailed: the message is well formed but applying it fails on
	// its own while the database and the event log answer.
	KindApplyFailed = "apply-failed"
	// KindApplyPanicked: applying the message alone panicked.
	KindApplyPanicked = "apply-panicked"
)

// Reason says why a message cannot be applied. It is an error so that
// decoders and apply functions can return it; its text is safe to log.
type Reason struct {
	Kind   string `json:"reason"`
	Detail string `json:"detail"`
}

func (r *Reason) Error() string { return r.Kind + ": " + r.Detail }

// Poison returns a Reason as an error. detail must not quote the message.
func Poison(kind, detail string) error { return &Reason{Kind: kind, Detail: detail} }

// maxDetail bounds a detail: it is a description, never a payload.
const maxDetail = 200

// ReasonOf names err's cause without quoting anything err may carry from
// the message: a Reason as it is; a PostgreSQL error by its SQLSTATE and the
// schema object it names (never its message or detail, which can quote
// values); anything else by its Go type.
func ReasonOf(err error) Reason {
	var r *Reason
	if errors.As(err, &r) {
		return Reason{Kind: r.Kind, Detail: clip(r.Detail)}
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		d := "postgres " + pgErr.Code
		for _, name := range []string{pgErr.TableName, pgErr.ColumnName, pgErr.ConstraintName} {
			if name != "" {
				d += " " + name
			}
		}
		return Reason{Kind: KindApplyFailed, Detail: clip(d)}
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return Reason{Kind: KindApplyFailed, Detail: fmt.Sprintf("jetstream error %d", apiErr.ErrorCode)}
	}
	if errors.Is(err, nats.ErrMaxPayload) {
		return Reason{Kind: KindApplyFailed, Detail: "message larger than the event log accepts"}
	}
	return Reason{Kind: KindApplyFailed, Detail: clip(fmt.Sprintf("error of type %T", innermost(err)))}
}

func innermost(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

func clip(s string) string {
	if len(s) > maxDetail {
		s = s[:maxDetail]
	}
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "")
}

// Safely runs fn, turning a panic into a KindApplyPanicked Reason. The
// panic's value is dropped, not logged: it can hold the message's data.
func Safely(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = Poison(KindApplyPanicked, "panic while applying the message")
		}
	}()
	return fn()
}

// Message is one parked message.
type Message struct {
	Consumer string
	Stream   string
	Seq      uint64
	Subject  string
	Reason
}

// Of names a stream message for parking.
func Of(consumer string, m jetstream.Msg, r Reason) (Message, error) {
	md, err := m.Metadata()
	if err != nil {
		return Message{}, fmt.Errorf("park: %w", err)
	}
	return Message{Consumer: consumer, Stream: md.Stream, Seq: md.Sequence.Stream, Subject: m.Subject(), Reason: r}, nil
}

// maxSubject bounds the stored subject; the hub's subjects are far shorter.
const maxSubject = 256

// Park writes m in tx, the transaction that also moves the consumer's
// checkpoint past it. A message parked before (a crash lost the checkpoint
// but not the row, or a rebuild met it again) keeps its first row.
func Park(ctx context.Context, tx pgx.Tx, m Message) error {
	subject := m.Subject
	if len(subject) > maxSubject {
		subject = subject[:maxSubject]
	}
	_, err := tx.Exec(ctx, `insert into parked_messages (consumer, stream, seq, subject, kind, detail)
		values ($1, $2, $3, $4, $5, $6) on conflict do nothing`,
		m.Consumer, m.Stream, int64(m.Seq), clip(subject), m.Kind, clip(m.Detail))
	if err != nil {
		return fmt.Errorf("park %s seq %d for %s: %w", m.Stream, m.Seq, m.Consumer, err)
	}
	return nil
}

// Forget removes a consumer's parked rows, for a rebuild that is about to
// meet every message again and park afresh whatever still fails.
func Forget(ctx context.Context, tx pgx.Tx, consumer string) error {
	if _, err := tx.Exec(ctx, "delete from parked_messages where consumer = $1", consumer); err != nil {
		return fmt.Errorf("forget parked messages of %s: %w", consumer, err)
	}
	return nil
}

// Logged writes the line a consumer logs when it parks: stream, sequence
// and reason, nothing from the message.
func Logged(log *slog.Logger, m Message) {
	if log == nil {
		return
	}
	log.Warn("message parked", "consumer", m.Consumer, "stream", m.Stream, "seq", m.Seq, "reason", m.Kind, "detail", m.Detail)
}

// Transient reports whether err looks like an outage — the database or the
// event log not answering, a timeout, the hub shutting down — rather than
// something wrong with a message. A transient failure is retried, never
// parked.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, postgres.ErrCheckpointMoved) {
		// The consumer's position is stale, not the message bad: it resumes
		// from the stored checkpoint.
		return true
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	for _, e := range []error{nats.ErrConnectionClosed, nats.ErrTimeout, nats.ErrNoResponders, nats.ErrConnectionDraining,
		nats.ErrConnectionReconnecting, nats.ErrDisconnected, jetstream.ErrNoStreamResponse, jetstream.ErrNoHeartbeat} {
		if errors.Is(err, e) {
			return true
		}
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if len(pgErr.Code) != 5 {
			return false
		}
		switch pgErr.Code[:2] {
		case "08", // connection exception
			"40", // serialization failure, deadlock: retry
			"53", // insufficient resources: disk full, out of memory, too many connections
			"57", // operator intervention: shutdown, query cancelled
			"58": // system error
			return true
		}
		return pgErr.Code == "55P03" // lock not available
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) {
		return true
	}
	return false
}

// Outage checks that PostgreSQL and the event log both answer. A message
// that fails while either does not is not poison: the failure is the
// outage's, and the consumer must stop and be retried rather than park.
func Outage(ctx context.Context, pool *pgxpool.Pool, js jetstream.JetStream) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := pool.Ping(ctx); err != nil {
		return fmt.Errorf("PostgreSQL does not answer: %w", err)
	}
	if js != nil {
		if _, err := js.AccountInfo(ctx); err != nil {
			return fmt.Errorf("the event log does not answer: %w", err)
		}
	}
	return nil
}

// Poisoned reports whether a message's failure err, met while applying it
// alone, is the message's own: not transient, and the database and event
// log both answer.
func Poisoned(ctx context.Context, pool *pgxpool.Pool, js jetstream.JetStream, err error) bool {
	if ctx.Err() != nil || Transient(err) {
		return false
	}
	return Outage(ctx, pool, js) == nil
}
