package hub

import (
	"context"
	"errors"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"contactpoint/adapters/postgres"
)

// Any number of instances share one NATS cluster and one database. Every
// instance serves the API, intake, FHIR, MLLP and the pages; each writer
// (the linker, each projection, the notifier) runs on exactly one instance
// at a time, the one holding its lease (postgres.Lease).
const (
	// leasePoll is how often an instance without a lease asks for it: the
	// most a takeover waits after the holder's session ends.
	leasePoll = 500 * time.Millisecond
	// leaseWatch is how often the holder checks it still holds the lease.
	leaseWatch = time.Second
	// healthyRun is how long a run must last for the next failure to start
	// the back-off again from its shortest step.
	healthyRun = 30 * time.Second
)

// leases records which leases this instance holds, for /metrics, /readyz
// and the rebuild requests.
type leases struct {
	mu   sync.Mutex
	held map[string]bool
}

// opsState is what the operators' side of the hub keeps between checks.
type opsState struct {
	backlog atomic.Uint64 // the linker's lag behind FEEDS, as last read
}

func (l *leases) set(name string, held bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held == nil {
		l.held = map[string]bool{}
	}
	l.held[name] = held
}

// Holds reports whether this instance holds the named lease now.
func (h *Hub) Holds(name string) bool {
	h.leases.mu.Lock()
	defer h.leases.mu.Unlock()
	return h.leases.held[name]
}

// Leases lists the leases this instance competes for and whether it holds
// each, by name.
func (h *Hub) Leases() map[string]bool {
	h.leases.mu.Lock()
	defer h.leases.mu.Unlock()
	out := make(map[string]bool, len(h.leases.held))
	for k, v := range h.leases.held {
		out[k] = v
	}
	return out
}

// leased runs fn on this instance only while it holds the named lease: it
// waits for the lease, runs fn with a context that ends when the lease is
// lost, and after a failure gives the lease up and waits its back-off, so
// that a healthier instance can take over meanwhile.
func (h *Hub) leased(ctx context.Context, name string, fn func(context.Context) error) {
	h.leases.set(name, false)
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		b := newBackoff()
		for ctx.Err() == nil {
			lease, err := postgres.AcquireLease(ctx, h.DB.Config().ConnConfig, name, leasePoll, func(err error) {
				h.log.Warn("lease not taken; retrying", "lease", name, "err", err)
			})
			if err != nil {
				return // ctx ended
			}
			if g := h.cfg.LeaseGrace; g > 0 {
				// A holder whose session PostgreSQL ended (a restart, a
				// cut connection) notices within leaseWatch and stops:
				// waiting out that time keeps two writers from overlapping.
				select {
				case <-time.After(g):
				case <-ctx.Done():
					lease.Release()
					return
				}
			}
			h.leases.set(name, true)
			h.log.Info("lease taken; running", "lease", name)
			runCtx, cancel := context.WithCancel(ctx)
			lost := make(chan error, 1)
			go func() { lost <- lease.Watch(runCtx, leaseWatch); cancel() }()
			start := time.Now()
			err = fn(runCtx)
			cancel()
			lostErr := <-lost
			h.leases.set(name, false)
			lease.Release()
			if ctx.Err() != nil {
				return
			}
			if errors.Is(lostErr, postgres.ErrLeaseLost) {
				// Not this writer's failure: another instance may hold the
				// lease now. Ask again at once.
				h.log.Warn("lease lost; stopped", "lease", name, "err", lostErr)
				continue
			}
			wait := b.next(time.Since(start))
			h.log.Error("consumer failed; restarting from its checkpoint", "consumer", name, "err", err, "in", wait)
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return
			}
		}
	}()
}

// backoff doubles from 100 ms to 10 s between failed runs, and starts again
// from 100 ms after a run that lasted healthyRun: an outage last week does
// not make today's first failure wait ten seconds.
type backoff struct{ d time.Duration }

func newBackoff() *backoff { return &backoff{} }

func (b *backoff) next(ran time.Duration) time.Duration {
	if b.d == 0 || ran >= healthyRun {
		b.d = 100 * time.Millisecond
		return b.d
	}
	b.d = min(2*b.d, 10*time.Second)
	return b.d
}

var leaseDesc = prometheus.NewDesc("contactpoint_lease_held",
	"1 while this instance holds the lease and runs its writer (linker, directory, audit, notifier), else 0.",
	[]string{"lease"}, nil)

// leaseCollector reports the leases at each scrape; labels are the fixed
// writer names.
type leaseCollector struct{ h *Hub }

func (c leaseCollector) Describe(ch chan<- *prometheus.Desc) { ch <- leaseDesc }

func (c leaseCollector) Collect(ch chan<- prometheus.Metric) {
	held := c.h.Leases()
	names := make([]string, 0, len(held))
	for n := range held {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		v := 0.0
		if held[n] {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(leaseDesc, prometheus.GaugeValue, v, n)
	}
}
