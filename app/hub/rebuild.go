package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"contactpoint/adapters/natsjs"
	"contactpoint/app/linker"
	"contactpoint/projections/checkpointed"
)

// Rebuild requests travel through PostgreSQL, which every instance of the
// hub and the replay command share whatever the event log's deployment: the
// command notifies RebuildChannel with a RebuildRequest, the hub that runs
// the projection answers on RebuildReplyChannel, first "started", then
// "done" (or "failed"), and rebuilds beside the live version meanwhile.
// The messages name a projection and carry figures, never personal data.
const (
	RebuildChannel      = "contactpoint_rebuild"
	RebuildReplyChannel = "contactpoint_rebuild_reply"
)

// RebuildRequest asks a running hub to rebuild a projection.
type RebuildRequest struct {
	ID         string `json:"id"`
	Projection string `json:"projection"`
}

// RebuildReply answers a RebuildRequest.
type RebuildReply struct {
	ID     string                    `json:"id"`
	Status string                    `json:"status"` // started, done, failed
	Error  string                    `json:"error,omitempty"`
	Stats  checkpointed.RebuildStats `json:"stats"`
}

// Projections are the hub's read models by name.
func (h *Hub) Projections() map[string]*checkpointed.Projection {
	m := map[string]*checkpointed.Projection{}
	if h.Dir != nil {
		m[h.Dir.Name] = h.Dir.Projection
	}
	if h.AuditProj != nil {
		m[h.AuditProj.Name] = h.AuditProj.Projection
	}
	for _, p := range []*checkpointed.Projection{h.FeedArrivals, h.QuarantineArrivals} {
		if p != nil {
			m[p.Name] = p
		}
	}
	return m
}

// RebuildProjection rebuilds the named projection beside its live version
// and switches to it while the hub serves.
func (h *Hub) RebuildProjection(ctx context.Context, name string) (checkpointed.RebuildStats, error) {
	p, ok := h.Projections()[name]
	if !ok {
		return checkpointed.RebuildStats{}, fmt.Errorf("no projection %q", name)
	}
	return p.Rebuild(ctx)
}

// Lags reports how far the linker and every projection are behind their
// streams, by name.
func (h *Hub) Lags(ctx context.Context) ([]checkpointed.Lag, error) {
	ps := h.Projections()
	names := make([]string, 0, len(ps))
	for n := range ps {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]checkpointed.Lag, 0, len(names)+1)
	l, err := checkpointed.StreamLag(ctx, h.DB, h.NATS.JS, linker.CheckpointName, natsjs.StreamFeeds)
	if err != nil {
		return nil, err
	}
	out = append(out, l)
	for _, n := range names {
		l, err := ps[n].Lag(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// serveRebuilds listens for rebuild requests until ctx ends or the
// connection fails (its supervisor listens again).
func (h *Hub) serveRebuilds(ctx context.Context) error {
	pooled, err := h.DB.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("rebuild requests: %w", err)
	}
	// The connection keeps LISTEN state: never hand it back to the pool.
	conn := pooled.Hijack()
	defer conn.Close(context.Background()) //nolint:errcheck // closing a dead connection
	if _, err := conn.Exec(ctx, "listen "+RebuildChannel); err != nil {
		return fmt.Errorf("rebuild requests: %w", err)
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("rebuild requests: %w", err)
		}
		var req RebuildRequest
		if json.Unmarshal([]byte(n.Payload), &req) != nil || req.ID == "" {
			continue
		}
		if _, ok := h.Projections()[req.Projection]; !ok {
			h.replyRebuild(RebuildReply{ID: req.ID, Status: "failed", Error: "no such projection"})
			continue
		}
		if !h.Holds(req.Projection) {
			// The rebuild must run beside the live follower, which runs on
			// the instance holding the projection's lease: that one answers.
			continue
		}
		h.replyRebuild(RebuildReply{ID: req.ID, Status: "started"})
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			st, err := h.RebuildProjection(h.runCtx, req.Projection)
			r := RebuildReply{ID: req.ID, Status: "done", Stats: st}
			if err != nil {
				h.log.Error("rebuild failed", "projection", req.Projection, "err", err)
				r.Status, r.Error = "failed", err.Error()
			}
			h.replyRebuild(r)
		}()
	}
}

func (h *Hub) replyRebuild(r RebuildReply) {
	b, _ := json.Marshal(r)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := h.DB.Exec(ctx, "select pg_notify($1, $2)", RebuildReplyChannel, string(b)); err != nil {
		h.log.Error("rebuild reply not sent", "err", err)
	}
}
