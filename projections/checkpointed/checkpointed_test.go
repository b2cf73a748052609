package checkpointed_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"contactpoint/adapters/natsjs"
	"contactpoint/adapters/parked"
	"contactpoint/adapters/postgres"
	"contactpoint/adapters/postgres/pgtest"
	"contactpoint/projections/checkpointed"
)

// projection is a toy projection: it writes each message's body to a
// table, in one transaction with its checkpoint, and fails on the bodies a
// case names: "bad" with an error of its own, "panic" with a panic whose
// value must not reach the log, "transient" with a lost connection, and
// "outage" by closing its own database pool first.
type projection struct {
	pool *pgxpool.Pool
	name string
	// failOnly makes "bad" fail only inside a batch of several: a batch
	// failure that no message causes alone.
	failOnly bool
	calls    int
}

func (p *projection) apply(ctx context.Context, tx pgx.Tx, msgs []jetstream.Msg) error {
	p.calls++
	for _, m := range msgs {
		switch body := string(m.Data()); body {
		case "bad":
			if !p.failOnly || len(msgs) > 1 {
				return errors.New("cannot apply Ann Smith's record")
			}
		case "panic":
			panic("Ann Smith, 14 March 2015")
		case "transient":
			return fmt.Errorf("write: %w", &pgconn.PgError{Code: "08006", Message: "connection failure"})
		case "outage":
			// Close waits for this transaction's connection, but refuses
			// new ones at once: the database stops answering.
			go p.pool.Close()
			time.Sleep(100 * time.Millisecond)
			return errors.New("the database went away")
		}
		if _, err := tx.Exec(ctx, "insert into applied (consumer, body) values ($1, $2)", p.name, m.Data()); err != nil {
			return err
		}
	}
	return nil
}

func TestFollowParksPoison(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	pool, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, "create table applied (consumer text, body text)"); err != nil {
		t.Fatal(err)
	}
	nc, err := natsjs.Open(ctx, natsjs.Config{DataDir: t.TempDir()}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)

	cases := []struct {
		name     string
		bodies   []string
		failOnly bool
		wantErr  bool
		applied  []string
		parked   []string // kind per parked message, in sequence order
	}{
		{name: "a bad message is parked, the rest applied",
			bodies:  []string{"a", "b", "bad", "c", "bad", "d"},
			applied: []string{"a", "b", "c", "d"}, parked: []string{parked.KindApplyFailed, parked.KindApplyFailed}},
		{name: "a panic is parked",
			bodies:  []string{"a", "panic", "b"},
			applied: []string{"a", "b"}, parked: []string{parked.KindApplyPanicked}},
		{name: "a batch that fails but no message alone parks nothing",
			bodies: []string{"a", "bad", "b"}, failOnly: true,
			applied: []string{"a", "bad", "b"}},
		{name: "a lost connection is an outage, not poison",
			bodies: []string{"a", "transient", "b"}, wantErr: true},
		{name: "a database that stops answering is an outage, not poison",
			bodies: []string{"a", "outage", "b"}, wantErr: true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stream := fmt.Sprintf("T%d", i)
			if _, err := nc.JS.CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{strings.ToLower(stream) + ".>"}}); err != nil {
				t.Fatal(err)
			}
			for _, b := range tc.bodies {
				if _, err := nc.JS.Publish(ctx, strings.ToLower(stream)+".x", []byte(b)); err != nil {
					t.Fatal(err)
				}
			}
			// Each case has a pool of its own, which "outage" closes.
			own, err := postgres.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer own.Close()
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			p := &projection{pool: own, name: stream, failOnly: tc.failOnly}
			follow := func() error {
				ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				proj := checkpointed.New(checkpointed.Spec{Name: stream, Stream: stream, Tables: []string{"applied"}, Batch: 100,
					Open: func() checkpointed.Applier { return checkpointed.Func(p.apply) }}, own, nc.JS, log)
				return proj.CatchUp(ctx)
			}
			err = follow()
			if (err != nil) != tc.wantErr {
				t.Fatalf("Follow: %v, want error %v", err, tc.wantErr)
			}
			if strings.Contains(logs.String(), "Ann Smith") {
				t.Fatalf("the log quotes a message or a panic: %s", logs.String())
			}
			gotParked := parkedKinds(t, pool, stream)
			if tc.wantErr {
				if len(gotParked) != 0 {
					t.Fatalf("an outage parked %v", gotParked)
				}
				if cp, _ := postgres.Checkpoint(ctx, pool, stream); cp >= 2 {
					t.Fatalf("checkpoint %d passed the message that failed", cp)
				}
				return
			}
			if !slices.Equal(gotParked, tc.parked) {
				t.Fatalf("parked %v, want %v", gotParked, tc.parked)
			}
			if got := appliedBodies(t, pool, stream); !slices.Equal(got, tc.applied) {
				t.Fatalf("applied %v, want %v", got, tc.applied)
			}
			if cp, _ := postgres.Checkpoint(ctx, pool, stream); cp != uint64(len(tc.bodies)) {
				t.Fatalf("checkpoint %d, want %d", cp, len(tc.bodies))
			}
			// Following again meets nothing: no loop, no second park.
			p.calls = 0
			if err := follow(); err != nil || p.calls != 0 {
				t.Fatalf("second follow: %v after %d applies", err, p.calls)
			}
			if got := parkedKinds(t, pool, stream); !slices.Equal(got, tc.parked) {
				t.Fatalf("parked again: %v", got)
			}
		})
	}
}

func parkedKinds(t *testing.T, pool *pgxpool.Pool, consumer string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), "select kind from parked_messages where consumer = $1 order by seq", consumer)
	if err != nil {
		t.Fatal(err)
	}
	kinds, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return kinds
}

func appliedBodies(t *testing.T, pool *pgxpool.Pool, consumer string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), "select body from applied where consumer = $1 order by ctid", consumer)
	if err != nil {
		t.Fatal(err)
	}
	bodies, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return bodies
}
