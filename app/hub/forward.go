package hub

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"contactpoint/app/linker"
	"contactpoint/domain/child"
	"contactpoint/domain/match"
	"contactpoint/domain/record"
)

// Steward commands act on the linker's index, which only the instance
// holding the linker's lease keeps up to date. Every other instance hands
// them to that one over NATS request/reply, in a queue group so that even
// two subscribers for a moment (a holder that has not yet noticed its loss)
// carry a command out once. The message holds the ids, the source keys
// and the steward's decision, as the HTTP request did; the reply, the
// result or the error's text.
const (
	linkerSubject = "contactpoint.linker.command"
	linkerQueue   = "linker"
	linkerTimeout = 30 * time.Second
)

type linkerCall struct {
	Op   string
	A, B uuid.UUID
	Keys []record.SourceKey
	D    child.Decision
}

type linkerAnswer struct {
	ID      uuid.UUID
	Preview linker.Preview
	Err     string
}

// commandErrors are the linker's errors a steward is answered by name;
// they travel as their text and are restored here.
var commandErrors = []error{
	linker.ErrUnknownChild, linker.ErrMergedChild, linker.ErrSameChild, linker.ErrNotLinkedPair,
	linker.ErrUnknownSource, linker.ErrSplitEverything, linker.ErrNotAbsorbed, linker.ErrMergedSince,
	linker.ErrNothingToMove, linker.ErrNotReady,
}

// linkage is the httpapi.Linkage of an instance of a fleet: the linker
// itself while this instance holds its lease, the holder otherwise.
type linkage struct{ h *Hub }

func (l linkage) local() bool { return l.h.Holds(linker.CheckpointName) }

func (l linkage) call(ctx context.Context, c linkerCall) (linkerAnswer, error) {
	if l.local() {
		return l.h.carryOut(ctx, c), nil
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(c); err != nil {
		return linkerAnswer{}, fmt.Errorf("steward command: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, linkerTimeout)
	defer cancel()
	msg, err := l.h.NATS.NC.RequestWithContext(ctx, linkerSubject, buf.Bytes())
	if errors.Is(err, nats.ErrNoResponders) {
		return linkerAnswer{}, linker.ErrNotReady // between holders
	}
	if err != nil {
		return linkerAnswer{}, fmt.Errorf("steward command to the linker's instance: %w", err)
	}
	var a linkerAnswer
	if err := gob.NewDecoder(bytes.NewReader(msg.Data)).Decode(&a); err != nil {
		return linkerAnswer{}, fmt.Errorf("steward command answer: %w", err)
	}
	return a, nil
}

func (l linkage) do(ctx context.Context, c linkerCall) (linkerAnswer, error) {
	a, err := l.call(ctx, c)
	if err != nil {
		return a, err
	}
	if a.Err != "" {
		for _, e := range commandErrors {
			if e.Error() == a.Err {
				return a, e
			}
		}
		return a, errors.New(a.Err)
	}
	return a, nil
}

// carryOut runs a command on this instance's linker.
func (h *Hub) carryOut(ctx context.Context, c linkerCall) linkerAnswer {
	var a linkerAnswer
	var err error
	switch c.Op {
	case "merge":
		a.ID, err = h.Linker.Merge(ctx, c.A, c.B, c.D)
	case "not-link":
		err = h.Linker.NotLink(ctx, c.A, c.B, c.D)
	case "split":
		a.ID, err = h.Linker.Split(ctx, c.A, c.Keys, c.B, c.D)
	case "unmerge":
		err = h.Linker.Unmerge(ctx, c.A, c.B, c.D)
	case "preview-split":
		a.Preview, err = h.Linker.PreviewSplit(ctx, c.A, c.Keys, c.B, c.D)
	case "preview-merge":
		a.Preview, err = h.Linker.PreviewMerge(ctx, c.A, c.B, c.D)
	case "preview-unmerge":
		a.Preview, err = h.Linker.UnmergePreview(ctx, c.A, c.B, c.D)
	default:
		err = fmt.Errorf("unknown steward command %q", c.Op)
	}
	if err != nil {
		a.Err = err.Error()
	}
	return a
}

// runLinker runs the linker while this instance holds its lease, answering
// the other instances' steward commands meanwhile.
func (h *Hub) runLinker(ctx context.Context) error {
	sub, err := h.NATS.NC.QueueSubscribe(linkerSubject, linkerQueue, func(m *nats.Msg) {
		var c linkerCall
		if gob.NewDecoder(bytes.NewReader(m.Data)).Decode(&c) != nil {
			return // not a command; the asker times out
		}
		cctx, cancel := context.WithTimeout(ctx, linkerTimeout)
		defer cancel()
		a := h.carryOut(cctx, c)
		var buf bytes.Buffer
		if gob.NewEncoder(&buf).Encode(a) == nil {
			_ = m.Respond(buf.Bytes()) // a lost answer: the steward sees a timeout and looks again
		}
	})
	if err != nil {
		return fmt.Errorf("linker commands: %w", err)
	}
	defer sub.Unsubscribe() //nolint:errcheck // the connection may be gone
	err = h.Linker.Run(ctx)
	if h.runCtx.Err() == nil {
		// The hub goes on without this instance linking (its lease lost,
		// or the run failed): another instance may take the lease and
		// erase children, so the snapshot here, which would keep them,
		// goes. A restart of the run here rebuilds from CHILDREN.
		if rerr := h.Linker.RemoveSnapshot(); rerr != nil {
			h.log.Warn("linker: index snapshot not removed", "err", rerr)
		}
	}
	return err
}

func (l linkage) Merge(ctx context.Context, a, b uuid.UUID, d child.Decision) (uuid.UUID, error) {
	r, err := l.do(ctx, linkerCall{Op: "merge", A: a, B: b, D: d})
	return r.ID, err
}

func (l linkage) NotLink(ctx context.Context, a, b uuid.UUID, d child.Decision) error {
	_, err := l.do(ctx, linkerCall{Op: "not-link", A: a, B: b, D: d})
	return err
}

func (l linkage) Split(ctx context.Context, from uuid.UUID, keys []record.SourceKey, to uuid.UUID, d child.Decision) (uuid.UUID, error) {
	r, err := l.do(ctx, linkerCall{Op: "split", A: from, B: to, Keys: keys, D: d})
	return r.ID, err
}

func (l linkage) Unmerge(ctx context.Context, survivor, absorbed uuid.UUID, d child.Decision) error {
	_, err := l.do(ctx, linkerCall{Op: "unmerge", A: survivor, B: absorbed, D: d})
	return err
}

func (l linkage) PreviewSplit(ctx context.Context, from uuid.UUID, keys []record.SourceKey, to uuid.UUID, d child.Decision) (linker.Preview, error) {
	r, err := l.do(ctx, linkerCall{Op: "preview-split", A: from, B: to, Keys: keys, D: d})
	return r.Preview, err
}

func (l linkage) PreviewMerge(ctx context.Context, a, b uuid.UUID, d child.Decision) (linker.Preview, error) {
	r, err := l.do(ctx, linkerCall{Op: "preview-merge", A: a, B: b, D: d})
	return r.Preview, err
}

func (l linkage) UnmergePreview(ctx context.Context, survivor, absorbed uuid.UUID, d child.Decision) (linker.Preview, error) {
	r, err := l.do(ctx, linkerCall{Op: "preview-unmerge", A: survivor, B: absorbed, D: d})
	return r.Preview, err
}

// Rules and ThresholdsInForce answer GET /v1/linkage/rules from this
// instance: every instance loads the same rules file.
func (l linkage) Rules() match.Rules { return l.h.Linker.Rules() }

func (l linkage) ThresholdsInForce() match.Thresholds { return l.h.Linker.ThresholdsInForce() }
