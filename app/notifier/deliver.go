package notifier

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"contactpoint/adapters/notify"
	"contactpoint/domain/audit"
)

// Kinds of notice.
const (
	KindInvolvement   = "involvement"
	KindShieldReview  = "shield-review"
	KindReviewWaiting = "review-waiting"
	KindRetry         = "retry"
)

// ActNotificationSent is the audit action of a delivered notice: who was
// told (the recipient's practitioner id, or a hash of the address), by
// which channel, about which child or task, and when.
const ActNotificationSent = "notification-sent"

// origin is where a notice came from: it and the recipient make the
// notification id.
type origin struct {
	Kind   string
	Ref    string // child id or review task id
	Stream string // CHILDREN or NOTIFY
	Seq    uint64
	// Period names the due period of a daily notice (the review date, or
	// how many ReviewAges a task has waited); empty for involvements,
	// whose sequence is unique already.
	Period string
}

// NotificationID is the id of one notice: the same origin, recipient and
// channel always give the same id, so redelivery finds it recorded.
func NotificationID(o origin, recipient, channel string) string {
	var key string
	if o.Kind == KindInvolvement {
		key = fmt.Sprintf("%s|%s|%d|%s|%s", o.Kind, o.Stream, o.Seq, recipient, channel)
	} else {
		key = fmt.Sprintf("%s|%s|%s|%s|%s", o.Kind, o.Ref, o.Period, recipient, channel)
	}
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:16])
}

// recipientKey identifies a recipient without their address: the
// practitioner id when the hub knows it, else a hash of the route.
func recipientKey(practitionerID, email, phone string) string {
	if practitionerID != "" {
		return "practitioner:" + practitionerID
	}
	route := strings.ToLower(strings.TrimSpace(email))
	if route == "" {
		route = "tel:" + strings.Join(strings.Fields(phone), "")
	}
	h := sha256.Sum256([]byte(route))
	return "contact:" + hex.EncodeToString(h[:12])
}

// draft is a notice before it is addressed to a channel.
type draft struct {
	To      notify.Recipient
	Subject string
	Body    string
	ChildID string // in the notice itself; empty for a shielded child
	// AuditChild is the child for the audit entry, always set when the
	// notice is about a child: the trail is behind the access policy.
	AuditChild string
	AuditTask  string
}

// deliver sends each draft by every channel that can reach its recipient
// and has not already, recording each. It tries every notice and returns
// the first failure, so one unreachable recipient does not hold back the
// others, and a retry sends only what is still missing.
func (n *Notifier) deliver(ctx context.Context, o origin, drafts []draft) error {
	var first error
	for _, d := range drafts {
		for _, s := range n.senders {
			if !s.Accepts(d.To) {
				continue
			}
			id := NotificationID(o, d.To.Key, s.Channel())
			if err := n.deliverOne(ctx, o, d, s, id); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}

func (n *Notifier) deliverOne(ctx context.Context, o origin, d draft, s notify.Sender, id string) error {
	var sent, audited bool
	err := n.d.DB.QueryRow(ctx, `select true, audited_at is not null from notifications where id = $1`, id).Scan(&sent, &audited)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("notice %s: %w", id, err)
	}
	if !sent {
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		err := s.Send(sctx, notify.Notice{ID: id, Kind: o.Kind, To: d.To, Subject: d.Subject, Body: d.Body, ChildID: d.ChildID})
		cancel()
		if err != nil {
			// notify.Error says kind and code only; anything else is ours.
			var ne *notify.Error
			if errors.As(err, &ne) {
				return fmt.Errorf("notice %s: %s", id, ne.Error())
			}
			return fmt.Errorf("notice %s: %s delivery failed", id, s.Channel())
		}
		// Recorded at once, before the audit entry: a failure of the
		// trail must not make the retry send the notice again.
		var stream *string
		var seq *int64
		if o.Stream != "" {
			st, q := o.Stream, int64(o.Seq)
			stream, seq = &st, &q
		}
		if _, err := n.d.DB.Exec(ctx, `insert into notifications (id, kind, ref, recipient, channel, stream, seq) values ($1, $2, $3, $4, $5, $6, $7)
			on conflict (id) do nothing`, id, o.Kind, o.Ref, d.To.Key, s.Channel(), stream, seq); err != nil {
			return fmt.Errorf("notice %s sent but not recorded: %w", id, err)
		}
	}
	if audited || n.d.Audit == nil {
		return nil
	}
	// The entry's id is derived from the notice's, so an entry written
	// before a crash and written again after it is one entry.
	e := audit.Entry{ID: uuid.NewSHA1(auditSpace, []byte(id)).String(), At: n.now().UTC(), Action: ActNotificationSent,
		Outcome: audit.OK, Subject: d.To.Key,
		Criteria: map[string]string{"kind": o.Kind, "channel": s.Channel(), "notification": id}}
	if d.AuditChild != "" {
		e.Children = []string{d.AuditChild}
	}
	if d.AuditTask != "" {
		e.Criteria["task"] = d.AuditTask
	}
	if err := n.d.Audit.Record(ctx, e); err != nil {
		return fmt.Errorf("notice %s sent but not audited: %w", id, err)
	}
	if _, err := n.d.DB.Exec(ctx, `update notifications set audited_at = now() where id = $1`, id); err != nil {
		return fmt.Errorf("notice %s: %w", id, err)
	}
	return nil
}

// auditSpace is the UUID namespace of notification audit entries.
var auditSpace = uuid.MustParse("6f1c2b1e-3d7a-5c4e-9b8a-0c1d2e3f4a5b")
