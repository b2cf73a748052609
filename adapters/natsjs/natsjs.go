// Package natsjs connects the hub to its event log: NATS JetStream, either a
// server embedded in the process (the default) or an external cluster.
package natsjs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Stream and subject names. They are part of the hub's contract with
// integrators and operators, and are documented in the README.
const (
	StreamFeeds      = "FEEDS"
	StreamQuarantine = "QUARANTINE"
	StreamChildren   = "CHILDREN"

	SubjectFeeds      = "feeds.>"      // feeds.<agency>.<system>
	SubjectQuarantine = "quarantine.>" // quarantine.<agency>.<system>
	SubjectChildren   = "children.*"   // children.<child-uuid>
)

// Headers the hub sets on its messages.
const (
	HeaderReason   = "Cp-Reason"       // quarantine: JSON list of field errors
	HeaderFormat   = "Cp-Format"       // quarantine: json, hl7v2, ctf, csv
	HeaderChannel  = "Cp-Channel"      // quarantine: http, nats, mllp, file
	HeaderFeedSeq  = "Cp-Feed-Seq"     // children: the FEEDS sequence a decision came from
	HeaderEvents   = "Cp-Events"       // children: comma-separated event types in the message
	HeaderRecordID = "Cp-Record-Id"    // quarantine: the source record id, when known
	HeaderHash     = "Cp-Content-Hash" // feeds: child.ContentHash of the record, so readers need not recompute it
)

// DedupeWindow is how long JetStream remembers a Nats-Msg-Id. Resends inside
// it are dropped by the server; beyond it the linker's idempotence catches them.
const DedupeWindow = 2 * time.Hour

// Config says where the event log is.
type Config struct {
	URL     string // external server or cluster; empty embeds one
	DataDir string // embedded server's JetStream store lives under DataDir/jetstream
	// Listen, when set with an embedded server, opens a TCP port (host:port)
	// so that agency systems can publish to intake.<agency>.<system>.
	Listen string
	// Agencies are the users allowed in through Listen (users.go); Listen
	// without any is refused.
	Agencies []AgencyUser
	// Replicas is how many copies of each stream a cluster keeps; 0 or 1
	// keeps one (the embedded server is one node).
	Replicas int
}

// Conn is an open event log.
type Conn struct {
	NC       *nats.Conn
	JS       jetstream.JetStream
	embedded *server.Server
	// url and opts open further connections to the same server (Dial).
	url  string
	opts []nats.Option
}

// Open starts the embedded server (if no URL is given), connects and makes
// sure the hub's streams exist.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Conn, error) {
	c := &Conn{}
	opts := []nats.Option{nats.Name("contactpoint"), nats.MaxReconnects(-1)}
	url := cfg.URL
	if url == "" {
		users, hubAuth, err := embeddedAuth(cfg)
		if err != nil {
			return nil, err
		}
		ns, err := startEmbedded(cfg, users)
		if err != nil {
			return nil, err
		}
		c.embedded = ns
		opts = append(opts, nats.InProcessServer(ns))
		if hubAuth != nil {
			opts = append(opts, hubAuth)
		}
		log.Info("event log: embedded JetStream", "store", filepath.Join(cfg.DataDir, "jetstream"), "listen", cfg.Listen)
	} else {
		log.Info("event log: external NATS", "url", redactURL(url))
	}
	c.url, c.opts = url, opts
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("connect to NATS at %s: %w (is the server running with JetStream enabled? set --nats-url or leave it empty to embed one)", redactURL(url), err)
	}
	c.NC = nc
	if c.JS, err = jetstream.New(nc); err != nil {
		c.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if err := EnsureStreams(ctx, c.JS, WithReplicas(cfg.Replicas)); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func startEmbedded(cfg Config, users []*server.User) (*server.Server, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("embedded event log needs a data directory")
	}
	o := &server.Options{
		ServerName: "contactpoint-embedded",
		JetStream:  true,
		StoreDir:   filepath.Join(cfg.DataDir, "jetstream"),
		DontListen: cfg.Listen == "",
		NoSigs:     true,
		NoLog:      true,
		Users:      users,
	}
	if cfg.Listen != "" {
		host, port, err := splitHostPort(cfg.Listen)
		if err != nil {
			return nil, err
		}
		o.Host, o.Port = host, port
	}
	ns, err := server.NewServer(o)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("embedded NATS did not become ready in 30s")
	}
	return ns, nil
}

// Close drains the connection and stops an embedded server.
func (c *Conn) Close() {
	if c.NC != nil {
		c.NC.Close()
	}
	if c.embedded != nil {
		c.embedded.Shutdown()
		c.embedded.WaitForShutdown()
	}
}

// Dial opens another connection to the event log with the hub's own
// identity, for a component whose library closes the connection it is given
// (Watermill's JetStream subscriber drains it on Close).
func (c *Conn) Dial(name string) (*nats.Conn, error) {
	opts := append(append([]nats.Option(nil), c.opts...), nats.Name("contactpoint-"+name))
	nc, err := nats.Connect(c.url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect %s to NATS: %w", name, err)
	}
	return nc, nil
}

// Embedded returns the in-process server, or nil with an external one.
func (c *Conn) Embedded() *server.Server { return c.embedded }

// StreamConfigs are the hub's streams. All keep everything (limits retention
// without limits): the log is the record of what agencies said and what the
// hub decided, and projections are rebuilt from it.
func StreamConfigs() []jetstream.StreamConfig {
	return []jetstream.StreamConfig{
		{
			Name: StreamFeeds, Subjects: []string{SubjectFeeds}, Storage: jetstream.FileStorage,
			Duplicates: DedupeWindow, AllowDirect: true, Description: "Validated agency feed records",
		},
		{
			Name: StreamQuarantine, Subjects: []string{SubjectQuarantine}, Storage: jetstream.FileStorage,
			Duplicates: DedupeWindow, AllowDirect: true, Description: "Refused feed input with reasons, kept for correction",
		},
		{
			Name: StreamChildren, Subjects: []string{SubjectChildren}, Storage: jetstream.FileStorage,
			Duplicates: DedupeWindow, AllowDirect: true, Description: "One subject of domain events per child",
		},
	}
}

// StreamOption adjusts a stream's configuration to the deployment.
type StreamOption func(*jetstream.StreamConfig)

// WithReplicas keeps n copies of the stream on a cluster (n ≤ 1: one).
// Every start must pass the same n: an update without it would scale the
// stream back down to one copy.
func WithReplicas(n int) StreamOption {
	return func(sc *jetstream.StreamConfig) {
		if n > 1 {
			sc.Replicas = n
		}
	}
}

// EnsureStreams creates the hub's streams or brings their configuration up to date.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, opts ...StreamOption) error {
	for _, sc := range StreamConfigs() {
		for _, o := range opts {
			o(&sc)
		}
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("ensure stream %s: %w", sc.Name, err)
		}
	}
	return nil
}

// Publisher returns a JetStream context of its own for a component that
// pipelines publishes: async acks in flight are counted per context, so the
// intake and the linker must not stall each other on a shared limit.
func (c *Conn) Publisher(maxPending int) (jetstream.JetStream, error) {
	js, err := jetstream.New(c.NC, jetstream.WithPublishAsyncMaxPending(maxPending))
	if err != nil {
		return nil, fmt.Errorf("jetstream publisher: %w", err)
	}
	return js, nil
}
