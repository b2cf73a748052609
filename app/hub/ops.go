package hub

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/nats-io/nats.go"

	"contactpoint/adapters/httpapi"
	"contactpoint/adapters/metrics"
	"contactpoint/adapters/natsjs"
	"contactpoint/app/linker"
	"contactpoint/domain/audit"
	"contactpoint/projections/checkpointed"
)

// DefaultReadyMaxLag is how many messages behind its stream a writer this
// instance runs may be while the instance still calls itself ready.
const DefaultReadyMaxLag = 10_000

// MinLinkerSnapshotEvery is the least Config.LinkerSnapshotEvery other
// than 0: each snapshot copies the whole index and writes it out, which
// more often than this would cost more than the restarts it saves.
const MinLinkerSnapshotEvery = 1000

// DefaultLinkerSnapshotEvery is the serve command's default.
const DefaultLinkerSnapshotEvery = 100_000

// Ready runs the readiness checks: PostgreSQL and NATS answer, the event
// log has room, and each writer this instance holds the lease of is within
// Config.ReadyMaxLag. Details name the failing part, never data.
func (h *Hub) Ready(ctx context.Context) []httpapi.Check {
	var out []httpapi.Check
	pg := httpapi.Check{Name: "postgres", OK: true}
	if err := h.DB.Ping(ctx); err != nil {
		pg.OK, pg.Detail = false, "PostgreSQL does not answer"
	}
	out = append(out, pg)
	nc := httpapi.Check{Name: "nats", OK: true}
	if st := h.NATS.NC.Status(); st != nats.CONNECTED {
		nc.OK, nc.Detail = false, "not connected to NATS ("+st.String()+")"
	} else if _, err := h.NATS.JS.AccountInfo(ctx); err != nil {
		nc.OK, nc.Detail = false, "JetStream does not answer"
	}
	out = append(out, nc)
	out = append(out, h.storageCheck())
	if !pg.OK || !nc.OK {
		return out
	}
	bound := h.cfg.ReadyMaxLag
	if bound == 0 {
		bound = DefaultReadyMaxLag
	}
	lags, err := h.Lags(ctx)
	if err != nil {
		return append(out, httpapi.Check{Name: "lag", OK: false, Detail: "lag could not be read"})
	}
	for _, l := range lags {
		if !h.Holds(l.Name) {
			continue // another instance runs it and answers for it
		}
		c := httpapi.Check{Name: "lag:" + l.Name, OK: l.Behind <= bound}
		if !c.OK {
			c.Detail = fmt.Sprintf("%d messages behind %s (bound %d)", l.Behind, l.Stream, bound)
		}
		out = append(out, c)
	}
	return out
}

const (
	linkerName  = linker.CheckpointName
	feedsStream = natsjs.StreamFeeds
)

// timedAudit times each audit write for /metrics.
type timedAudit struct{ audit.Recorder }

func (t timedAudit) Record(ctx context.Context, e audit.Entry) error {
	start := time.Now()
	err := t.Recorder.Record(ctx, e)
	result := "ok"
	if err != nil {
		result = "failed"
	}
	metrics.AuditWrite.WithLabelValues(result).Observe(time.Since(start).Seconds())
	return err
}

// startOps starts what every instance runs for operators and intake: the
// linker's backlog figure for backpressure and the agency keys' revocation
// watch.
func (h *Hub) startOps(ctx context.Context) {
	if bound := h.cfg.IntakeMaxBacklog; bound > 0 {
		h.Intake.SetBacklog(func() bool { return h.backlog.Load() > bound })
		h.supervise(ctx, "backlog", h.watchBacklog)
	}
	h.supervise(ctx, "key revocations", h.Registry.WatchKeys)
}

// watchBacklog keeps h.backlog, the linker's lag behind FEEDS, up to date
// twice a second. While it cannot be read (PostgreSQL down) the figure is
// set to 0: an outage must not stop intake, which needs only NATS.
func (h *Hub) watchBacklog(ctx context.Context) error {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		l, err := checkpointed.StreamLag(qctx, h.DB, h.NATS.JS, linkerName, feedsStream)
		cancel()
		if err != nil {
			h.backlog.Store(0)
		} else {
			h.backlog.Store(l.Behind)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// storageCheck says whether the event log refused an append for want of
// storage in the last few seconds, and which limit.
func (h *Hub) storageCheck() httpapi.Check {
	c := httpapi.Check{Name: "event-log-storage", OK: true}
	if full, what := h.Intake.StorageFull(); full {
		c.OK, c.Detail = false, "the event log refused appends for want of storage ("+what+"); make room or raise the limit"
	}
	return c
}

// preflight checks, before anything is opened, what would otherwise fail
// late or slowly: a listen address already in use (the embedded NATS
// server waits 30 s before giving up on its port) and a data directory the
// hub cannot write. Each error names the setting.
func preflight(cfg Config) error {
	if n := cfg.LinkerSnapshotEvery; n > 0 && n < MinLinkerSnapshotEvery {
		return fmt.Errorf("linker-snapshot-every %d: 0 (only after a start, an erasure and on shutdown) or at least %d CHILDREN messages", n, MinLinkerSnapshotEvery)
	}
	for _, a := range []struct{ setting, addr string }{
		{"http-addr", cfg.HTTPAddr}, {"mllp-addr", cfg.Feeds.MLLPAddr}, {"nats-listen", cfg.NATSListen},
	} {
		if a.addr == "" {
			continue
		}
		l, err := net.Listen("tcp", a.addr)
		if err != nil {
			return fmt.Errorf("%s %s: %w", a.setting, a.addr, err)
		}
		l.Close()
	}
	if cfg.DataDir == "" {
		return nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data-dir %s: %w", cfg.DataDir, err)
	}
	f, err := os.CreateTemp(cfg.DataDir, ".write-check-*")
	if err != nil {
		return fmt.Errorf("data-dir %s is not writable: %w", cfg.DataDir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}
