// Package notifier tells practitioners about each other, durably. The
// involvement.indicated event on a child's CHILDREN subject is the outbox:
// a durable JetStream consumer reads it through a Watermill router and
// tells every other practitioner recorded on the child who is now involved
// and how to reach them. A daily check tells shield officers of shields
// due for review and stewards of review tasks that have waited too long.
//
// Delivery is at least once: a notice is recorded in PostgreSQL after it is
// sent, keyed by a notification id derived from where it came from and to
// whom it goes, so a redelivered message sends nothing twice. A failure is
// retried with back-off (Watermill's Retry middleware) and then parked
// (PoisonQueue) for an administrator, who can retry it.
package notifier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmjs "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/jetstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"contactpoint/adapters/notify"
	"contactpoint/domain/audit"
	"contactpoint/domain/registry"
	"contactpoint/projections/directory"
)

// Streams, subjects and consumers of the notifier.
const (
	// StreamNotify holds the notifier's own work: the daily check's
	// notices (notify.due) and administrators' retries (notify.retry).
	// Messages carry ids only.
	StreamNotify  = "NOTIFY"
	SubjectDue    = "notify.due"
	SubjectRetry  = "notify.retry"
	subjectNotify = "notify.*"

	// StreamParked holds a reference to every message whose notices could
	// not be delivered after the retries: stream, sequence, kind, reason.
	StreamParked  = "NOTIFY_PARKED"
	SubjectParked = "notify.parked.>" // notify.parked.<stream>

	// ConsumerChildren is the durable consumer on CHILDREN; ConsumerJobs
	// the one on NOTIFY.
	ConsumerChildren = "notifier"
	ConsumerJobs     = "notifier-jobs"
)

// Config is how the notifier delivers and when.
type Config struct {
	SMTP    notify.SMTPConfig    // Addr empty: no email
	Webhook notify.WebhookConfig // URL empty: no webhook

	// Retries before a message is parked, and the back-off between them.
	MaxRetries      int
	InitialInterval time.Duration
	MaxInterval     time.Duration

	// MaxAge: an involvement indicated longer ago than this is passed
	// over. A notice about old news helps nobody, and it keeps a first
	// start on an existing log from mailing every practitioner at once.
	MaxAge time.Duration

	// CheckEvery is how often the shield and review check runs (daily).
	CheckEvery time.Duration
	// ShieldLead tells shield officers this long before a review date.
	ShieldLead time.Duration
	// ReviewAge is how long a review task waits before stewards are told,
	// and again after each further ReviewAge.
	ReviewAge time.Duration
}

// Enabled reports whether any channel is configured. Without one the
// notifier does not run: there is nobody it could tell.
func (c Config) Enabled() bool { return c.SMTP.Addr != "" || c.Webhook.URL != "" }

func (c *Config) defaults() {
	if c.MaxRetries <= 0 {
		c.MaxRetries = 5
	}
	if c.InitialInterval <= 0 {
		c.InitialInterval = time.Second
	}
	if c.MaxInterval <= 0 {
		c.MaxInterval = time.Minute
	}
	if c.MaxAge <= 0 {
		c.MaxAge = 72 * time.Hour
	}
	if c.CheckEvery <= 0 {
		c.CheckEvery = 24 * time.Hour
	}
	if c.ReviewAge <= 0 {
		c.ReviewAge = 7 * 24 * time.Hour
	}
}

// Register lists the practitioners who may receive the daily notices.
type Register interface {
	List(ctx context.Context) ([]registry.Practitioner, error)
}

// Deps are what the notifier reads and writes.
type Deps struct {
	// Dial opens a connection of the notifier's own: Watermill's
	// subscriber drains the connection it is given when it closes.
	Dial     func() (*nats.Conn, error)
	JS       jetstream.JetStream // the hub's, for direct gets and stream setup
	DB       *pgxpool.Pool
	Store    *directory.Store
	Register Register
	Audit    audit.Recorder
	Log      *slog.Logger
	// Replicas is how many copies of its streams a cluster keeps (the
	// hub's stream-replicas setting).
	Replicas int
}

// Notifier is the running notifier.
type Notifier struct {
	cfg     Config
	d       Deps
	senders []notify.Sender
	Parked  *Parked
	now     func() time.Time
	// wait is how long a message waits for the directory to catch up
	// with it before it is handed back to JetStream for later.
	wait time.Duration
}

// New checks the configuration and builds the senders.
func New(cfg Config, d Deps) (*Notifier, error) {
	cfg.defaults()
	n := &Notifier{cfg: cfg, d: d, now: time.Now, wait: 10 * time.Second}
	if cfg.SMTP.Addr != "" {
		s, err := notify.NewSMTP(cfg.SMTP)
		if err != nil {
			return nil, fmt.Errorf("notifier: %w", err)
		}
		n.senders = append(n.senders, s)
	}
	if cfg.Webhook.URL != "" {
		w, err := notify.NewWebhook(cfg.Webhook)
		if err != nil {
			return nil, fmt.Errorf("notifier: %w", err)
		}
		n.senders = append(n.senders, w)
	}
	n.Parked = &Parked{db: d.DB, js: d.JS, now: n.now}
	return n, nil
}

// StreamConfigs are the notifier's streams. NOTIFY keeps its messages for
// a month: a job older than that has been done or parked. NOTIFY_PARKED
// keeps references for a year, for the record of what failed.
func StreamConfigs() []jetstream.StreamConfig {
	return []jetstream.StreamConfig{
		{Name: StreamNotify, Subjects: []string{subjectNotify}, Storage: jetstream.FileStorage,
			MaxAge: 30 * 24 * time.Hour, Duplicates: 2 * time.Hour, AllowDirect: true,
			Description: "Notifier work: daily notices and retries of parked notices (ids only)"},
		{Name: StreamParked, Subjects: []string{SubjectParked}, Storage: jetstream.FileStorage,
			MaxAge: 365 * 24 * time.Hour, Duplicates: 2 * time.Hour,
			Description: "Messages whose notices could not be delivered: stream, sequence, kind, reason"},
	}
}

// EnsureStreams creates the notifier's streams.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, replicas ...int) error {
	for _, sc := range StreamConfigs() {
		if len(replicas) > 0 && replicas[0] > 1 {
			sc.Replicas = replicas[0]
		}
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("ensure stream %s: %w", sc.Name, err)
		}
	}
	return nil
}

// Run consumes until ctx ends. Its supervisor restarts it after a failure;
// the durable consumers resume where they were.
func (n *Notifier) Run(ctx context.Context) error {
	if err := EnsureStreams(ctx, n.d.JS, n.d.Replicas); err != nil {
		return err
	}
	nc, err := n.d.Dial()
	if err != nil {
		return err
	}
	defer nc.Close()
	wlog := watermill.NewSlogLoggerWithLevelMapping(n.d.Log.With("component", "notifier"),
		// Watermill logs every message at info; that is debug here.
		map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})

	sub, err := wmjs.NewSubscriber(wmjs.SubscriberConfig{
		Conn:                nc,
		Logger:              wlog,
		AckWaitTimeout:      n.ackWait(),
		ResourceInitializer: n.consumer,
		// A message handed back (the directory is behind) comes again
		// after a pause rather than at once.
		NakDelay:       wmjs.NewStaticDelay(2 * time.Second),
		ConsumeOptions: []jetstream.PullConsumeOpt{jetstream.PullMaxMessages(16)},
		Unmarshaler:    unmarshaler{},
	})
	if err != nil {
		return fmt.Errorf("notifier subscriber: %w", err)
	}
	defer sub.Close()
	pub, err := wmjs.NewPublisher(wmjs.PublisherConfig{Conn: nc, Logger: wlog})
	if err != nil {
		return fmt.Errorf("notifier publisher: %w", err)
	}
	n.Parked.pub = pub

	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, wlog)
	if err != nil {
		return fmt.Errorf("notifier router: %w", err)
	}
	poison, err := middleware.PoisonQueueWithFilter(n.Parked, SubjectParked, func(err error) bool {
		// Waiting for the directory is not a failure of the message.
		return !errors.Is(err, errBehind)
	})
	if err != nil {
		return fmt.Errorf("notifier poison queue: %w", err)
	}
	router.AddMiddleware(
		middleware.CorrelationID,
		poison,
		middleware.Retry{
			MaxRetries: n.cfg.MaxRetries, InitialInterval: n.cfg.InitialInterval, MaxInterval: n.cfg.MaxInterval,
			Multiplier: 2, RandomizationFactor: 0.2, MaxElapsedTime: n.retryBudget(), Logger: wlog,
			ShouldRetry: func(p middleware.RetryParams) bool { return !errors.Is(p.Err, errBehind) },
		}.Middleware,
		middleware.Recoverer,
	)
	router.AddConsumerHandler("notifier-children", topicChildren, sub, n.onChildren)
	router.AddConsumerHandler("notifier-jobs", topicNotify, sub, n.onJob)

	done := make(chan error, 1)
	go func() { done <- router.Run(ctx) }()
	select {
	case <-router.Running():
	case err := <-done:
		return fmt.Errorf("notifier router: %w", err)
	}
	go n.checkLoop(ctx, pub)
	err = <-done
	if ctx.Err() != nil {
		return nil
	}
	if err == nil {
		err = errors.New("router stopped")
	}
	return fmt.Errorf("notifier: %w", err)
}

// retryBudget bounds the in-process retries of one message, so that they
// end well inside the subscriber's ack wait.
func (n *Notifier) retryBudget() time.Duration {
	d, iv := time.Duration(0), n.cfg.InitialInterval
	for i := 0; i < n.cfg.MaxRetries; i++ {
		d += iv
		if iv = iv * 2; iv > n.cfg.MaxInterval {
			iv = n.cfg.MaxInterval
		}
	}
	return d*2 + n.wait
}

// ackWait covers the retries and a send per recipient; JetStream
// redelivers a message not acknowledged by then (the server's ack wait is
// a little longer, so the subscriber gives up first).
func (n *Notifier) ackWait() time.Duration { return n.retryBudget() + 2*time.Minute }
