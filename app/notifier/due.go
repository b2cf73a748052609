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
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"contactpoint/adapters/natsjs"
	"contactpoint/adapters/notify"
	"contactpoint/domain/access"
	"contactpoint/domain/registry"
	"contactpoint/projections/directory"
)

// job is a NOTIFY message: a daily notice to deliver (shield-review,
// review-waiting) or a retry of a parked message. Ids only.
type job struct {
	Kind   string `json:"kind"`
	Ref    string `json:"ref,omitempty"`    // child id (shield) or review task id
	Period string `json:"period,omitempty"` // the due period the notice is for
	Since  string `json:"since,omitempty"`  // review task: when it was requested (RFC 3339)
	// Retry: the parked message.
	Stream string `json:"stream,omitempty"`
	Seq    uint64 `json:"seq,omitempty"`
	Parked int64  `json:"parked,omitempty"`
}

// checkLoop runs the daily check at start and then every CheckEvery.
func (n *Notifier) checkLoop(ctx context.Context, pub message.Publisher) {
	t := time.NewTicker(n.cfg.CheckEvery)
	defer t.Stop()
	for {
		if err := n.check(ctx, pub); err != nil && ctx.Err() == nil {
			// The next check tries again; the notices are deduped.
			n.d.Log.Error("notifier: daily check failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// check puts one job on NOTIFY per shield due and per review task waiting,
// each with a message id of its due period: JetStream drops a second one
// within its window, and the notifications table after it.
func (n *Notifier) check(ctx context.Context, pub message.Publisher) error {
	now := n.now().UTC()
	due, err := n.d.Store.ShieldsDue(ctx, now.Add(n.cfg.ShieldLead), 1000)
	if err != nil {
		return err
	}
	var jobs []job
	for _, s := range due {
		period := s.Review
		if period == "" {
			period = "no-review-date"
		}
		jobs = append(jobs, job{Kind: KindShieldReview, Ref: s.ChildID.String(), Period: period})
	}
	tasks, err := n.d.Store.OpenReviews(ctx, 500)
	if err != nil {
		return err
	}
	for _, t := range tasks {
		waited := now.Sub(t.RequestedAt)
		if waited < n.cfg.ReviewAge {
			continue
		}
		k := int64(waited / n.cfg.ReviewAge)
		jobs = append(jobs, job{Kind: KindReviewWaiting, Ref: strconv.FormatInt(t.ID, 10), Period: "age-" + strconv.FormatInt(k, 10),
			Since: t.RequestedAt.UTC().Format(time.RFC3339)})
	}
	for _, j := range jobs {
		body, _ := json.Marshal(j)
		m := message.NewMessage(watermill.NewUUID(), body)
		m.Metadata.Set(nats.MsgIdHdr, "due:"+j.Kind+":"+j.Ref+":"+j.Period)
		if err := pub.Publish(SubjectDue, m); err != nil {
			return fmt.Errorf("daily check: %w", err)
		}
	}
	return nil
}

// onJob handles one NOTIFY message.
func (n *Notifier) onJob(msg *message.Message) error {
	ctx := msg.Context()
	var j job
	if msg.Metadata.Get(metaBad) != "" || json.Unmarshal(msg.Payload, &j) != nil {
		n.d.Log.Warn("notifier: NOTIFY message not decodable; passed over", "seq", msg.Metadata.Get(metaSeq))
		return nil
	}
	seq := seqOf(msg, metaSeq)
	if j.Kind != KindRetry {
		msg.Metadata.Set(metaKind, j.Kind)
		return n.due(ctx, seq, j)
	}
	// A retry that fails again parks the original message, not this job.
	msg.Metadata.Set(metaOriginStream, j.Stream)
	msg.Metadata.Set(metaOriginSeq, strconv.FormatUint(j.Seq, 10))
	if err := n.retry(ctx, msg, j); err != nil {
		return err
	}
	return n.Parked.resolve(ctx, j.Stream, j.Seq)
}

// retry delivers again the notices of the message at j.Stream/j.Seq; only
// those not recorded as sent go out.
func (n *Notifier) retry(ctx context.Context, msg *message.Message, j job) error {
	if j.Stream != natsjs.StreamChildren && j.Stream != StreamNotify {
		return nil
	}
	s, err := n.d.JS.Stream(ctx, j.Stream)
	if err != nil {
		return fmt.Errorf("retry %s/%d: %w", j.Stream, j.Seq, err)
	}
	raw, err := s.GetMsg(ctx, j.Seq)
	if err != nil {
		return fmt.Errorf("retry %s/%d: %w", j.Stream, j.Seq, err)
	}
	if j.Stream == natsjs.StreamChildren {
		msg.Metadata.Set(metaKind, KindInvolvement)
		return n.involvement(ctx, j.Seq, raw.Data)
	}
	var orig job
	if json.Unmarshal(raw.Data, &orig) != nil || orig.Kind == KindRetry {
		return nil
	}
	msg.Metadata.Set(metaKind, orig.Kind)
	return n.due(ctx, j.Seq, orig)
}

// Messages of the daily notices. They name ids and dates only: the shield
// officers and stewards look the rest up in the hub, behind its policy.
const (
	SubjectShieldReview  = "ContactPoint: a shield is due for review"
	SubjectReviewWaiting = "ContactPoint: a possible match is waiting for a decision"
)

// due delivers a daily notice to every eligible practitioner holding the
// role, if what it is about is still due.
func (n *Notifier) due(ctx context.Context, seq uint64, j job) error {
	var role, subject, body, auditChild, auditTask string
	switch j.Kind {
	case KindShieldReview:
		id, err := uuid.Parse(j.Ref)
		if err != nil {
			return nil
		}
		v, err := n.d.Store.Get(ctx, id)
		if errors.Is(err, directory.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("shield notice: %w", err)
		}
		if v.Shield == nil || (j.Period != "no-review-date" && v.Shield.ReviewDate != j.Period) {
			return nil // lifted or reviewed since the check
		}
		role, subject, auditChild = access.RoleShield, SubjectShieldReview, j.Ref
		when := "has no review date"
		if j.Period != "no-review-date" {
			when = "is due for review on " + j.Period
		}
		body = "The shield on ContactPoint record " + j.Ref + " " + when + ".\n\n" +
			"Review it in ContactPoint under shields due for review.\n"
	case KindReviewWaiting:
		tid, err := strconv.ParseInt(j.Ref, 10, 64)
		if err != nil {
			return nil
		}
		t, err := n.d.Store.Review(ctx, tid)
		if errors.Is(err, directory.ErrNoTask) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("review notice: %w", err)
		}
		if t.Status != "open" {
			return nil
		}
		role, subject, auditTask = access.RoleSteward, SubjectReviewWaiting, j.Ref
		body = "Review task " + j.Ref + " has been waiting for a decision since " + t.RequestedAt.UTC().Format("2 January 2006") + ".\n\n" +
			"Decide it in ContactPoint under the review queue.\n"
	default:
		return nil
	}
	people, err := n.d.Register.List(ctx)
	if err != nil {
		return fmt.Errorf("daily notice: %w", err)
	}
	now := n.now()
	var drafts []draft
	for _, p := range people {
		if p.Email == "" || !p.Viewer().Has(role) || registry.Eligible(p, now) != nil {
			continue
		}
		drafts = append(drafts, draft{To: notify.Recipient{Key: recipientKey(p.ID, "", ""), Name: p.Name, Email: p.Email},
			Subject: subject, Body: "Dear " + oneLine(p.Name) + ",\n\n" + body, AuditChild: auditChild, AuditTask: auditTask})
	}
	return n.deliver(ctx, origin{Kind: j.Kind, Ref: j.Ref, Period: j.Period, Stream: StreamNotify, Seq: seq}, drafts)
}
