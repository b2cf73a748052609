// Package hub assembles the running hub: event log, database, intake,
// linker, projections and the HTTP server, each consumer supervised so that
// a failure restarts it from its checkpoint rather than stopping the hub.
package hub

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"

	"contactpoint/adapters/fhir"
	"contactpoint/adapters/httpapi"
	"contactpoint/adapters/natsjs"
	"contactpoint/adapters/parked"
	"contactpoint/adapters/postgres"
	"contactpoint/app/childlog"
	"contactpoint/app/intake"
	"contactpoint/app/linker"
	"contactpoint/app/notifier"
	"contactpoint/app/retention"
	"contactpoint/domain/child"
	"contactpoint/projections/arrivals"
	"contactpoint/projections/checkpointed"
	"contactpoint/projections/directory"
	"contactpoint/schemas"
)

// Config is everything the hub needs to start.
type Config struct {
	// DeferLinker leaves the linker stopped until StartLinker, so that a
	// benchmark can fill FEEDS first and time linking alone.
	DeferLinker bool
	// DeferDirectory likewise holds the directory projection until
	// StartDirectory, so that the linker can be timed alone.
	DeferDirectory bool
	HTTPAddr       string
	DataDir        string
	DatabaseURL    string
	NATSURL        string
	NATSListen     string              // embedded server only: open a TCP port for agency publishers
	NATSUsers      []natsjs.AgencyUser // who may publish through NATSListen
	Auth           AuthConfig
	Feeds          FeedsConfig

	// HTTPTLSCert and HTTPTLSKey, when set, make the HTTP server speak
	// HTTPS only (PEM files, read at start).
	HTTPTLSCert, HTTPTLSKey string

	// Notify configures notices to practitioners; with no channel set the
	// notifier does not run.
	Notify notifier.Config
	// DeferNotifier holds the notifier until StartNotifier, so that a test
	// can stop the hub between an event and its notice.
	DeferNotifier bool

	// LinkageRules is the path of a rules file written by `contactpoint
	// linkage train`; empty runs the linker with the built-in defaults.
	LinkageRules string

	// Now is the hub's clock for the lifecycle (archive, erasure) and the
	// HTTP handlers; nil is time.Now. Tests set it to cross a birthday.
	Now func() time.Time
	// LifecycleEvery is how often the lifecycle runs (archive and
	// erasure, domain/retention): 0 is daily, negative never (tests run it
	// by hand).
	LifecycleEvery time.Duration

	// StreamReplicas is how many copies of each stream a NATS cluster
	// keeps (3 on a three-node cluster); 0 or 1 keeps one.
	StreamReplicas int
	// ReadyMaxLag is how many messages behind its stream a writer this
	// instance runs may be while GET /readyz answers ready; 0 is
	// DefaultReadyMaxLag.
	ReadyMaxLag uint64
	// IntakeMaxBacklog is how far the linker may fall behind FEEDS
	// before intake refuses new records (HTTP 429, MLLP AR); 0 never
	// refuses.
	IntakeMaxBacklog uint64
	// LinkerSnapshotEvery is how many CHILDREN messages the linker's index
	// may move past its last snapshot (DataDir/linker/index.snap) before
	// the instance holding the linker's lease writes another; 0 writes
	// one only after a start, an erasure and on shutdown. Without a
	// DataDir no snapshot is kept.
	LinkerSnapshotEvery uint64
	// LeaseGrace is how long an instance that has taken a writer's lease
	// waits before running it, so that a holder that lost it has stopped
	// (serve: 2 s; 0, as in tests, starts at once).
	LeaseGrace time.Duration
}

// Hub is a running hub.
type Hub struct {
	cfg    Config
	log    *slog.Logger
	NATS   *natsjs.Conn
	DB     *pgxpool.Pool
	Intake *intake.Service
	Linker *linker.Linker
	Dir    *directory.Projection
	Store  *directory.Store
	HTTP   *http.Server
	Feeds  *Feeds
	// Retention runs the lifecycle of records (archive, exceptions, erasure).
	Retention *retention.Service
	// Notifier is nil when no notification channel is configured.
	Notifier *notifier.Notifier
	// FeedArrivals and QuarantineArrivals count what reached FEEDS and
	// QUARANTINE per day, agency and system (the data-quality report).
	FeedArrivals, QuarantineArrivals *checkpointed.Projection
	Security
	listener      net.Listener
	https         bool
	wg            sync.WaitGroup
	runCtx        context.Context
	linkerOnce    sync.Once
	directoryOnce sync.Once
	notifierOnce  sync.Once
	cancel        context.CancelFunc
	leases        leases
	opsState
}

// Start opens everything and starts the background consumers and the HTTP
// server. Close stops them.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*Hub, error) {
	h := &Hub{cfg: cfg, log: log}
	if err := preflight(cfg); err != nil {
		return nil, err
	}
	var err error
	if h.DB, err = postgres.Open(ctx, cfg.DatabaseURL); err != nil {
		return nil, err
	}
	if h.NATS, err = natsjs.Open(ctx, natsjs.Config{URL: cfg.NATSURL, DataDir: cfg.DataDir, Listen: cfg.NATSListen, Agencies: cfg.NATSUsers, Replicas: cfg.StreamReplicas}, log); err != nil {
		h.DB.Close()
		return nil, err
	}
	v, err := schemas.NewValidator(nil)
	if err != nil {
		h.Close()
		return nil, err
	}
	intakeJS, err := h.NATS.Publisher(32768)
	if err != nil {
		h.Close()
		return nil, err
	}
	linkerJS, err := h.NATS.Publisher(16384)
	if err != nil {
		h.Close()
		return nil, err
	}
	h.Intake = intake.New(intakeJS, v)
	lcfg := linker.DefaultConfig()
	if cfg.LinkageRules != "" {
		rules, err := ReadLinkageRules(cfg.LinkageRules)
		if err != nil {
			h.Close()
			return nil, err
		}
		lcfg = lcfg.WithRules(rules)
		log.Info("linkage rules in force", "version", rules.Version)
	}
	// The key of new children's ids: one for the deployment, in the
	// database beside the linker's checkpoint that it must agree with.
	if lcfg.IDKey, err = postgres.Secret(ctx, h.DB, linker.IDKeyName, linker.IDKeySize); err != nil {
		h.Close()
		return nil, err
	}
	h.Linker = linker.New(linkerJS, h.DB, log, lcfg)
	if cfg.DataDir != "" {
		h.Linker.SnapshotDir, h.Linker.SnapshotEvery = filepath.Join(cfg.DataDir, "linker"), cfg.LinkerSnapshotEvery
	}
	h.Dir = directory.New(h.NATS.JS, h.DB, log, child.DefaultRules())
	h.Store = directory.NewStore(h.DB)
	h.FeedArrivals = arrivals.NewFeeds(h.NATS.JS, h.DB, log)
	h.QuarantineArrivals = arrivals.NewQuarantine(h.NATS.JS, h.DB, log)

	runCtx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.runCtx = runCtx
	if !cfg.DeferLinker {
		h.StartLinker()
	}
	if !cfg.DeferDirectory {
		h.StartDirectory()
	}
	// The subscription drains itself when runCtx ends.
	if _, err := intake.SubscribeNATS(runCtx, h.NATS.NC, h.Intake, log); err != nil {
		h.Close()
		return nil, err
	}
	if err := h.startSecurity(ctx, runCtx); err != nil {
		h.Close()
		return nil, err
	}
	// Rebuilds requested by `contactpoint replay` run here, beside the
	// live projections.
	h.supervise(runCtx, "rebuild requests", h.serveRebuilds)
	if err := h.startFeeds(runCtx); err != nil {
		h.Close()
		return nil, err
	}

	if err := h.startNotifier(); err != nil {
		h.Close()
		return nil, err
	}

	children := &childlog.Log{JS: h.NATS.JS, NC: h.NATS.NC}
	h.startLifecycle(children)
	api := &httpapi.Server{Intake: h.Intake, Store: h.Store, Linker: linkage{h}, Log: log, Audit: h.AuditLog, Mount: h.mount,
		Children: children, Timeline: children, AuditEntries: h.AuditStore, Feeds: h.Feeds.HTTP, Parked: parked.NewStore(h.DB), Arrivals: arrivals.NewStore(h.DB), Now: h.cfg.Now, Retention: h.Retention, Lags: h.Lags}
	if h.Notifier != nil {
		api.Notifications = h.Notifier.Parked
	}
	api.Audit = timedAudit{h.AuditLog}
	api.Ready = h.Ready
	api.Collectors = append(api.Collectors, leaseCollector{h})
	h.startOps(runCtx)
	proxies, perr := httpapi.ParseTrustedProxies(cfg.Auth.TrustedProxies)
	if perr != nil {
		h.Close()
		return nil, fmt.Errorf("trusted-proxies: %w", perr)
	}
	publicURL := cfg.Auth.PublicURL
	if publicURL == "" {
		publicURL = fhir.DefaultPublicURL
	}
	systems, serr := fhir.NewSystems(publicURL)
	if serr != nil {
		h.Close()
		return nil, fmt.Errorf("public-url: %w", serr)
	}
	api.FHIR = httpapi.FHIROptions{TrustedProxies: proxies, Rate: cfg.Auth.FHIRRate, Burst: cfg.Auth.FHIRBurst, OIDC: cfg.Auth.OIDC.Issuer != "", Systems: systems}
	h.HTTP = &http.Server{Handler: api.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 2 * time.Minute, WriteTimeout: 2 * time.Minute}
	tlsCfg, err := httpTLS(cfg.HTTPTLSCert, cfg.HTTPTLSKey)
	if err != nil {
		h.Close()
		return nil, err
	}
	h.HTTP.TLSConfig, h.https = tlsCfg, tlsCfg != nil
	if cfg.HTTPAddr != "" {
		if h.listener, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			h.Close()
			return nil, fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
		}
		serve := h.HTTP.Serve
		if h.https {
			// The certificate is in TLSConfig already.
			serve = func(l net.Listener) error { return h.HTTP.ServeTLS(l, "", "") }
		}
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			if err := serve(h.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("http server stopped", "err", err)
			}
		}()
	}
	return h, nil
}

// httpTLS loads the HTTP server's certificate, so that a wrong path or a
// key that does not match stops the hub at start rather than at the first
// connection. Neither file: plain HTTP.
func httpTLS(certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		return nil, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, errors.New("http TLS needs both http-tls-cert and http-tls-key")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("http TLS certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// URL is the base URL the hub answers on, https when it speaks TLS.
func (h *Hub) URL() string {
	// Not TLSConfig: net/http fills that in for HTTP/2 on plain servers too.
	if h.https {
		return "https://" + h.Addr()
	}
	return "http://" + h.Addr()
}

// Addr is the HTTP listener's address (useful with port 0).
func (h *Hub) Addr() string {
	if h.listener == nil {
		return ""
	}
	return h.listener.Addr().String()
}

// supervise runs fn until ctx ends, restarting it with back-off after a
// failure; each run resumes from its checkpoint.
func (h *Hub) supervise(ctx context.Context, name string, fn func(context.Context) error) {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		b := newBackoff()
		for ctx.Err() == nil {
			start := time.Now()
			err := fn(ctx)
			if ctx.Err() != nil {
				return
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

// Close stops the hub: HTTP first, then consumers, then connections.
func (h *Hub) Close() {
	if h.HTTP != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = h.HTTP.Shutdown(sctx)
		cancel()
	}
	if h.cancel != nil {
		h.cancel()
	}
	h.wg.Wait()
	if h.NATS != nil {
		h.NATS.Close()
	}
	if h.DB != nil {
		h.DB.Close()
	}
}

// WaitProjected blocks until the directory has applied everything the
// linker has appended for every record accepted so far: the moment a record
// accepted at intake is visible to a search.
func (h *Hub) WaitProjected(ctx context.Context) error {
	for {
		done, err := h.Caught(ctx)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Caught reports whether linker and directory have consumed everything.
func (h *Hub) Caught(ctx context.Context) (bool, error) {
	for _, c := range []struct{ stream, checkpoint string }{
		{natsjs.StreamFeeds, linker.CheckpointName},
		{natsjs.StreamChildren, directory.Name},
	} {
		last, err := natsjs.LastSeq(ctx, h.NATS.JS, c.stream)
		if err != nil {
			return false, err
		}
		done, err := postgres.Checkpoint(ctx, h.DB, c.checkpoint)
		if err != nil || done < last {
			return false, err
		}
	}
	return true, nil
}

// StartDirectory starts the directory projection (once) when
// Config.DeferDirectory held it back.
func (h *Hub) StartDirectory() {
	h.directoryOnce.Do(func() {
		h.leased(h.runCtx, directory.Name, h.Dir.Run)
		// The arrival counts are read models too: held back with the
		// directory, so that a benchmark times the linker alone.
		h.leased(h.runCtx, arrivals.FeedsName, h.FeedArrivals.Run)
		h.leased(h.runCtx, arrivals.QuarantineName, h.QuarantineArrivals.Run)
	})
}

// StartLinker starts the linker (once) when Config.DeferLinker held it back.
func (h *Hub) StartLinker() {
	h.linkerOnce.Do(func() {
		h.leased(h.runCtx, linker.CheckpointName, h.runLinker)
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			h.dropSnapshotUnlessLinking()
		}()
	})
}

// dropSnapshotUnlessLinking removes the linker's index snapshot this
// instance left when it stopped, if another instance holds the linker's
// lease once this one has had time to take it: the holder may erase
// children the snapshot would keep for as long as this instance waits.
// Taking the lease later, this instance rebuilds from CHILDREN.
func (h *Hub) dropSnapshotUnlessLinking() {
	select {
	case <-h.runCtx.Done():
		return
	case <-time.After(3*leasePoll + h.cfg.LeaseGrace):
	}
	if h.Holds(linker.CheckpointName) {
		return
	}
	if err := h.Linker.RemoveSnapshot(); err != nil {
		h.log.Warn("linker: index snapshot not removed", "err", err)
	}
}

// startNotifier builds the notifier when a channel is configured. It reads
// the register and writes the audit trail, so it starts after security.
func (h *Hub) startNotifier() error {
	if !h.cfg.Notify.Enabled() {
		h.log.Info("notifications off: no SMTP server or webhook configured")
		return nil
	}
	n, err := notifier.New(h.cfg.Notify, notifier.Deps{
		Dial: func() (*nats.Conn, error) { return h.NATS.Dial("notifier") },
		JS:   h.NATS.JS, DB: h.DB, Store: h.Store, Register: h.Registry, Audit: h.AuditLog, Log: h.log,
		Replicas: h.cfg.StreamReplicas,
	})
	if err != nil {
		return err
	}
	h.Notifier = n
	if !h.cfg.DeferNotifier {
		h.StartNotifier()
	}
	return nil
}

// StartNotifier starts the notifier (once) when Config.DeferNotifier held
// it back.
func (h *Hub) StartNotifier() {
	if h.Notifier == nil {
		return
	}
	h.notifierOnce.Do(func() { h.leased(h.runCtx, "notifier", h.Notifier.Run) })
}
