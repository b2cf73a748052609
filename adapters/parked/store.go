package parked

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// Store reads the parked messages for data stewards and the metrics.
type Store struct{ pool *pgxpool.Pool }

// NewStore returns the store over pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Entry is one parked message as stewards see it: where it is and why it
// was parked. The subject is left out: on CHILDREN it names a child.
type Entry struct {
	Consumer string    `json:"consumer"`
	Stream   string    `json:"stream"`
	Seq      uint64    `json:"seq"`
	Kind     string    `json:"reason"`
	Detail   string    `json:"detail"`
	ParkedAt time.Time `json:"parked_at"`
}

// Filter narrows a listing; zero values mean all.
type Filter struct {
	Consumer string
	Stream   string
	Limit    int // default and maximum MaxList
}

// MaxList bounds one listing.
const MaxList = 1000

// List returns parked messages, newest first.
func (s *Store) List(ctx context.Context, f Filter) ([]Entry, error) {
	if f.Limit <= 0 || f.Limit > MaxList {
		f.Limit = MaxList
	}
	rows, err := s.pool.Query(ctx, `select consumer, stream, seq, kind, detail, parked_at from parked_messages
		where ($1 = '' or consumer = $1) and ($2 = '' or stream = $2)
		order by parked_at desc, consumer, stream, seq desc limit $3`, f.Consumer, f.Stream, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list parked messages: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Entry, error) {
		var e Entry
		var seq int64
		err := row.Scan(&e.Consumer, &e.Stream, &seq, &e.Kind, &e.Detail, &e.ParkedAt)
		e.Seq = uint64(seq)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("list parked messages: %w", err)
	}
	return out, nil
}

// Count is the number of messages one consumer parked for one kind of reason.
type Count struct {
	Consumer string
	Kind     string
	N        int
}

// Counts returns the parked messages counted by consumer and reason kind.
func (s *Store) Counts(ctx context.Context) ([]Count, error) {
	rows, err := s.pool.Query(ctx, "select consumer, kind, count(*)::int from parked_messages group by 1, 2 order by 1, 2")
	if err != nil {
		return nil, fmt.Errorf("count parked messages: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Count, error) {
		var c Count
		return c, row.Scan(&c.Consumer, &c.Kind, &c.N)
	})
	if err != nil {
		return nil, fmt.Errorf("count parked messages: %w", err)
	}
	return out, nil
}

var parkedDesc = prometheus.NewDesc("contactpoint_parked_messages",
	"Stream messages a consumer parked because they could not be applied, by consumer and reason kind.",
	[]string{"consumer", "reason"}, nil)

// Collector exposes the counts as the gauge contactpoint_parked_messages.
// It reads the table at each scrape, so every instance of the hub reports
// the same figures and none keeps a counter that a restart would reset. The
// labels are the consumer's name and the reason kind: fixed sets, never a
// value from a message.
type Collector struct{ store *Store }

// NewCollector returns the collector over s.
func NewCollector(s *Store) *Collector { return &Collector{store: s} }

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) { ch <- parkedDesc }

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.store.Counts(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(parkedDesc, err)
		return
	}
	for _, n := range counts {
		ch <- prometheus.MustNewConstMetric(parkedDesc, prometheus.GaugeValue, float64(n.N), n.Consumer, n.Kind)
	}
}
