// Package childlog appends the hub's own decisions about one child (shields,
// indicated involvement) to the child's subject in CHILDREN, and publishes
// the notifications that follow from them.
package childlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"contactpoint/adapters/childmsg"
	"contactpoint/app/linker"
	"contactpoint/domain/child"
)

// SubjectInvolvementPrefix starts the subject on which the hub announces
// that a practitioner indicated involvement with a child:
// notifications.involvement.<child-uuid>. The payload is an
// InvolvementNotice. It is a non-durable hint on core NATS, published after
// the event is in the log, and a crash loses it: the practitioners on the
// child are told by app/notifier, which reads the event itself.
const SubjectInvolvementPrefix = "notifications.involvement."

// ErrNoChild is returned when the child has no subject in CHILDREN.
var ErrNoChild = errors.New("no such child in the event log")

// maxAttempts bounds retries when another writer (usually the linker)
// appended to the child between our read and our write.
const maxAttempts = 8

// Log appends to children.<id>.
type Log struct {
	JS jetstream.JetStream
	NC *nats.Conn
}

// Append writes events to the child's subject as one message, expecting the
// subject's last sequence to be what a direct get just read; on a conflict
// it reads again and retries. The events here do not depend on what other
// writers append, so re-deciding gives the same events.
//
// A child that has been merged is part of its survivor: a shield, a lift or
// an involvement sent to the absorbed child's id lands on the survivor, and
// Append returns the id it wrote to. A merge that lands between the read and
// the write changes the subject's last sequence, so the retry sees it.
func (l *Log) Append(ctx context.Context, id uuid.UUID, events []child.Event) (uuid.UUID, uint64, error) {
	for attempt := 0; attempt < maxAttempts; attempt++ {
		target, last, err := l.resolve(ctx, id)
		if err != nil {
			return uuid.Nil, 0, err
		}
		b := child.Batch{ChildID: target.String(), Events: events}
		m, err := childmsg.Message(target, b, 0)
		if err != nil {
			return uuid.Nil, 0, fmt.Errorf("append to child: %w", err)
		}
		ack, err := l.JS.PublishMsg(ctx, m, jetstream.WithExpectLastSequencePerSubject(last))
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
			continue
		}
		if err != nil {
			return uuid.Nil, 0, fmt.Errorf("append to child: %w", err)
		}
		return target, ack.Sequence, nil
	}
	return uuid.Nil, 0, fmt.Errorf("append to child: still conflicting after %d attempts", maxAttempts)
}

// resolve follows merges from id to the standing child and returns it with
// its subject's last sequence. Merges chain, but never in a loop; the depth
// bound only stops a corrupt log from spinning.
func (l *Log) resolve(ctx context.Context, id uuid.UUID) (uuid.UUID, uint64, error) {
	for depth := 0; depth < 32; depth++ {
		st, last, err := linker.LoadChild(ctx, l.JS, id)
		if err != nil {
			return uuid.Nil, 0, fmt.Errorf("append to child: %w", err)
		}
		if last == 0 {
			return uuid.Nil, 0, ErrNoChild
		}
		if st.MergedInto == "" {
			return id, last, nil
		}
		next, err := uuid.Parse(st.MergedInto)
		if err != nil {
			return uuid.Nil, 0, fmt.Errorf("append to child: survivor id: %w", err)
		}
		id = next
	}
	return uuid.Nil, 0, errors.New("append to child: merges chain too deep")
}

// InvolvementNotice is the payload of a notifications.involvement.<id>
// message: the child's id and the new practitioner's work contact, and no
// other personal data.
type InvolvementNotice struct {
	ChildID      string `json:"child_id"`
	Seq          uint64 `json:"seq"` // CHILDREN sequence of the event
	Practitioner struct {
		ID           string `json:"id"`
		Name         string `json:"name"`
		Role         string `json:"role,omitempty"`
		Organisation string `json:"organisation,omitempty"`
		Service      string `json:"service"`
		Phone        string `json:"phone,omitempty"`
		Email        string `json:"email,omitempty"`
	} `json:"practitioner"`
}

// NotifyInvolvement publishes the notice of an indicated involvement.
func (l *Log) NotifyInvolvement(id uuid.UUID, seq uint64, in child.InvolvementIndicated) error {
	var n InvolvementNotice
	n.ChildID, n.Seq = id.String(), seq
	p := &n.Practitioner
	p.ID, p.Name, p.Role, p.Organisation, p.Service, p.Phone, p.Email = in.PractitionerID, in.Name, in.Role, in.Organisation, in.Service, in.Phone, in.Email
	body, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("notify involvement: %w", err)
	}
	if err := l.NC.Publish(SubjectInvolvementPrefix+id.String(), body); err != nil {
		return fmt.Errorf("notify involvement: %w", err)
	}
	return nil
}

// Recorded is one event of a child's history with where it is in the log.
type Recorded struct {
	Seq     uint64      `json:"seq"`
	ChildID string      `json:"child_id"`
	Event   child.Event `json:"event"`
}

// History returns every event of the child in log order, with the
// histories of the children merged into it (and into those) woven in, each
// event marked with the child it was appended to. A child a steward
// unmerged stands again: its history is its own, not woven into its
// former survivor's (which keeps the merge and the unmerge). Direct gets
// by subject: reading a history costs the server no consumer.
func (l *Log) History(ctx context.Context, id uuid.UUID) ([]Recorded, error) {
	var out []Recorded
	seen := map[uuid.UUID]bool{}
	var walk func(id, into uuid.UUID, depth int) error
	walk = func(id, into uuid.UUID, depth int) error {
		if seen[id] || depth > 32 {
			return nil
		}
		seen[id] = true
		batches, err := l.batches(ctx, id)
		if err != nil {
			return err
		}
		if depth > 0 {
			st := child.NewState(id.String())
			for _, b := range batches {
				st.Apply(b.batch)
			}
			if st.MergedInto != into.String() {
				return nil
			}
		}
		for _, b := range batches {
			for _, e := range b.batch.Events {
				out = append(out, Recorded{Seq: b.seq, ChildID: id.String(), Event: e})
				if e.Type == child.TypeAbsorbed && e.Absorbed != nil {
					if a, err := uuid.Parse(e.Absorbed.Absorbed); err == nil {
						if err := walk(a, id, depth+1); err != nil {
							return err
						}
					}
				}
			}
		}
		return nil
	}
	if err := walk(id, uuid.Nil, 0); err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out, nil
}

// StateAt rebuilds the child as it stood at t: the events appended up to t,
// following a merge that had happened by then to the survivor. It returns
// the id of the child whose state it is.
func (l *Log) StateAt(ctx context.Context, id uuid.UUID, t time.Time) (uuid.UUID, *child.State, error) {
	for depth := 0; depth < 32; depth++ {
		batches, err := l.batches(ctx, id)
		if err != nil {
			return uuid.Nil, nil, err
		}
		if len(batches) == 0 {
			return uuid.Nil, nil, ErrNoChild
		}
		st := child.NewState(id.String())
		any := false
		for _, b := range batches {
			if b.at.After(t) {
				break
			}
			st.Apply(b.batch)
			any = true
		}
		if !any {
			return uuid.Nil, nil, ErrNotYet
		}
		if st.MergedInto == "" {
			return id, st, nil
		}
		next, err := uuid.Parse(st.MergedInto)
		if err != nil {
			return uuid.Nil, nil, fmt.Errorf("state at: survivor id: %w", err)
		}
		id = next
	}
	return uuid.Nil, nil, errors.New("state at: merges chain too deep")
}

// ErrNotYet is returned by StateAt for a time before the child existed.
var ErrNotYet = errors.New("the child was not in the directory at that time")

type stored struct {
	seq   uint64
	at    time.Time
	batch child.Batch
}

// batches reads the child's subject; messages no reader can apply are
// skipped, as everywhere.
func (l *Log) batches(ctx context.Context, id uuid.UUID) ([]stored, error) {
	var out []stored
	err := linker.EachChildMsg(ctx, l.JS, id, 0, func(m *jetstream.RawStreamMsg) (bool, error) {
		_, b, err := linker.DecodeChildMsg(m.Subject, m.Data)
		if err != nil {
			return true, nil
		}
		at := m.Time
		if len(b.Events) > 0 && !b.Events[0].At.IsZero() {
			at = b.Events[0].At
		}
		out = append(out, stored{seq: m.Sequence, at: at, batch: b})
		return true, nil
	})
	return out, err
}

// StateAtSeq rebuilds the child from the messages on its own subject up to
// and including CHILDREN sequence seq: the state the directory had derived
// its view from when its row's last sequence was seq.
func (l *Log) StateAtSeq(ctx context.Context, id uuid.UUID, seq uint64) (*child.State, error) {
	batches, err := l.batches(ctx, id)
	if err != nil {
		return nil, err
	}
	st := child.NewState(id.String())
	any := false
	for _, b := range batches {
		if b.seq > seq {
			break
		}
		st.Apply(b.batch)
		any = true
	}
	if !any {
		return nil, ErrNotYet
	}
	return st, nil
}
