package notifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ParkedNotice is a message whose notices could not all be delivered.
type ParkedNotice struct {
	ID         int64      `json:"id"`
	Stream     string     `json:"stream"`
	Seq        uint64     `json:"seq"`
	Kind       string     `json:"kind"`
	Reason     string     `json:"reason"`
	Attempts   int        `json:"attempts"`
	ParkedAt   time.Time  `json:"parked_at"`
	RetriedAt  *time.Time `json:"retried_at,omitempty"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
}

// ErrNoParked is returned for an id that names no open parked notice.
var ErrNoParked = errors.New("no such parked notice")

// Parked is the parked notices: the PoisonQueue's publisher (a row in
// notifications_parked and a reference on NOTIFY_PARKED), the list for
// administrators, and their retry.
type Parked struct {
	db  *pgxpool.Pool
	js  jetstream.JetStream
	pub message.Publisher // set by Run; a reference on NOTIFY_PARKED
	now func() time.Time
}

// parkedRef is what NOTIFY_PARKED holds: where the message is and why it
// was parked, never the message (it stays in its stream, and a copy here
// would be one more copy of a child's record to erase).
type parkedRef struct {
	Stream string `json:"stream"`
	Seq    uint64 `json:"seq"`
	Kind   string `json:"kind"`
	Reason string `json:"reason"`
}

// Publish implements message.Publisher for the PoisonQueue middleware.
func (p *Parked) Publish(_ string, msgs ...*message.Message) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, m := range msgs {
		stream, seq := m.Metadata.Get(metaOriginStream), seqOf(m, metaOriginSeq)
		if stream == "" {
			stream, seq = m.Metadata.Get(metaStream), seqOf(m, metaSeq)
		}
		kind := m.Metadata.Get(metaKind)
		if kind == "" {
			kind = KindInvolvement
		}
		reason := m.Metadata.Get(middleware.ReasonForPoisonedKey)
		if len(reason) > 500 {
			reason = reason[:500]
		}
		var attempts int
		err := p.db.QueryRow(ctx, `insert into notifications_parked (stream, seq, kind, reason) values ($1, $2, $3, $4)
			on conflict (stream, seq) do update set reason = excluded.reason, parked_at = now(), resolved_at = null,
				attempts = notifications_parked.attempts + 1
			returning attempts`, stream, int64(seq), kind, reason).Scan(&attempts)
		if err != nil {
			return fmt.Errorf("park notice %s/%d: %w", stream, seq, err)
		}
		if p.pub == nil {
			continue
		}
		body, _ := json.Marshal(parkedRef{Stream: stream, Seq: seq, Kind: kind, Reason: reason})
		ref := message.NewMessage(watermill.NewUUID(), body)
		// One reference per parking; JetStream drops a resend of it.
		ref.Metadata.Set(nats.MsgIdHdr, fmt.Sprintf("parked:%s:%d:%d", stream, seq, attempts))
		if err := p.pub.Publish(SubjectParkedPrefix+stream, ref); err != nil {
			return fmt.Errorf("park notice %s/%d: %w", stream, seq, err)
		}
	}
	return nil
}

// Close implements message.Publisher.
func (p *Parked) Close() error { return nil }

// SubjectParkedPrefix starts the subject of a parked reference:
// notify.parked.<stream>.
const SubjectParkedPrefix = "notify.parked."

// List returns parked notices, open ones first, newest first.
func (p *Parked) List(ctx context.Context, all bool, limit int) ([]ParkedNotice, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	rows, err := p.db.Query(ctx, `select id, stream, seq, kind, reason, attempts, parked_at, retried_at, resolved_at
		from notifications_parked where $1 or resolved_at is null
		order by resolved_at is not null, parked_at desc, id desc limit $2`, all, limit)
	if err != nil {
		return nil, fmt.Errorf("list parked notices: %w", err)
	}
	defer rows.Close()
	out := []ParkedNotice{}
	for rows.Next() {
		var n ParkedNotice
		var seq int64
		if err := rows.Scan(&n.ID, &n.Stream, &seq, &n.Kind, &n.Reason, &n.Attempts, &n.ParkedAt, &n.RetriedAt, &n.ResolvedAt); err != nil {
			return nil, fmt.Errorf("list parked notices: %w", err)
		}
		n.Seq = uint64(seq)
		out = append(out, n)
	}
	return out, rows.Err()
}

// Retry asks the notifier to deliver a parked message's notices again. It
// returns at once; the notifier picks the job up from NOTIFY, sends only
// what was not sent before, and marks the row resolved or parks it again.
func (p *Parked) Retry(ctx context.Context, id int64) (ParkedNotice, error) {
	var n ParkedNotice
	var seq int64
	err := p.db.QueryRow(ctx, `update notifications_parked set retried_at = now() where id = $1 and resolved_at is null
		returning id, stream, seq, kind, reason, attempts, parked_at, retried_at`, id).
		Scan(&n.ID, &n.Stream, &seq, &n.Kind, &n.Reason, &n.Attempts, &n.ParkedAt, &n.RetriedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return n, ErrNoParked
	}
	if err != nil {
		return n, fmt.Errorf("retry parked notice: %w", err)
	}
	n.Seq = uint64(seq)
	body, _ := json.Marshal(job{Kind: KindRetry, Stream: n.Stream, Seq: n.Seq, Parked: n.ID})
	msg := nats.NewMsg(SubjectRetry)
	msg.Data = body
	// Two clicks on the same parking are one retry.
	msg.Header.Set(nats.MsgIdHdr, "retry:"+strconv.FormatInt(n.ID, 10)+":"+strconv.Itoa(n.Attempts))
	if _, err := p.js.PublishMsg(ctx, msg, jetstream.WithExpectStream(StreamNotify)); err != nil {
		return n, fmt.Errorf("retry parked notice: %w", err)
	}
	return n, nil
}

func (p *Parked) resolve(ctx context.Context, stream string, seq uint64) error {
	if _, err := p.db.Exec(ctx, `update notifications_parked set resolved_at = now() where stream = $1 and seq = $2 and resolved_at is null`,
		stream, int64(seq)); err != nil {
		return fmt.Errorf("resolve parked notice: %w", err)
	}
	return nil
}
