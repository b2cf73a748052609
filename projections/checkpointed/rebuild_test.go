package checkpointed_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"contactpoint/adapters/natsjs"
	"contactpoint/adapters/postgres"
	"contactpoint/adapters/postgres/pgtest"
	"contactpoint/projections/checkpointed"
)

// kv is a toy projection with a key, a secondary index and an in-memory
// count of what it wrote, as the directory keeps a cache.
type kv struct {
	mu      sync.Mutex
	opened  int
	applied int
}

func (k *kv) open() checkpointed.Applier {
	k.mu.Lock()
	k.opened++
	k.mu.Unlock()
	return checkpointed.Func(func(ctx context.Context, tx pgx.Tx, msgs []jetstream.Msg) error {
		for _, m := range msgs {
			md, err := m.Metadata()
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "insert into kv (seq, body) values ($1, $2)", int64(md.Sequence.Stream), string(m.Data())); err != nil {
				return err
			}
		}
		k.mu.Lock()
		k.applied += len(msgs)
		k.mu.Unlock()
		return nil
	})
}

type fixture struct {
	ctx  context.Context
	pool *pgxpool.Pool
	js   jetstream.JetStream
	n    int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	pool, err := postgres.Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, "create table kv (seq bigint primary key, body text not null default ''); create index kv_body on kv (body)"); err != nil {
		t.Fatal(err)
	}
	nc, err := natsjs.Open(ctx, natsjs.Config{DataDir: t.TempDir()}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if _, err := nc.JS.CreateStream(ctx, jetstream.StreamConfig{Name: "KV", Subjects: []string{"kv.>"}}); err != nil {
		t.Fatal(err)
	}
	return &fixture{ctx: ctx, pool: pool, js: nc.JS}
}

func (f *fixture) publish(t *testing.T, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		f.n++
		if _, err := f.js.Publish(f.ctx, "kv.x", []byte("m"+strconv.Itoa(f.n))); err != nil {
			t.Fatal(err)
		}
	}
}

// waitFor polls until cond holds; the deadline only stops a broken run
// from hanging the suite.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (f *fixture) checkpoint(name string) uint64 {
	cp, _ := postgres.Checkpoint(f.ctx, f.pool, name)
	return cp
}

// rows checks kv holds each of the messages 1..n exactly once.
func (f *fixture) rows(t *testing.T) {
	t.Helper()
	var count, distinct, lo, hi int64
	if err := f.pool.QueryRow(f.ctx, "select count(*), count(distinct body), coalesce(min(seq), 0), coalesce(max(seq), 0) from kv").Scan(&count, &distinct, &lo, &hi); err != nil {
		t.Fatal(err)
	}
	if count != int64(f.n) || distinct != int64(f.n) || (f.n > 0 && (lo != 1 || hi != int64(f.n))) {
		t.Fatalf("kv holds %d rows (%d distinct, seq %d..%d), want messages 1..%d once each", count, distinct, lo, hi, f.n)
	}
}

// A running projection whose last commits the database lost — as a
// PostgreSQL crash loses asynchronous commits while the hub keeps running —
// does not carry on from its memory: its next checkpoint write is refused,
// and it resumes from the stored checkpoint with a fresh applier.
func TestRunResumesFromTheDatabaseAfterLostCommits(t *testing.T) {
	f := newFixture(t)
	k := &kv{}
	p := checkpointed.New(checkpointed.Spec{Name: "kv", Stream: "KV", Tables: []string{"kv"}, Batch: 10, Async: true, Open: k.open}, f.pool, f.js, nil)
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	f.publish(t, 50)
	waitFor(t, "the first 50", func() bool { return f.checkpoint("kv") == 50 })
	// What a crash leaves: rows and checkpoint of the last commits gone.
	if _, err := f.pool.Exec(f.ctx, "delete from kv where seq > 20; update checkpoints set last_seq = 20 where name = 'kv'"); err != nil {
		t.Fatal(err)
	}
	f.publish(t, 30)
	cancelled := false
	waitFor(t, "the run to restart", func() bool {
		select {
		case err := <-done:
			if err == nil || ctx.Err() != nil {
				t.Fatalf("run ended: %v", err)
			}
			// The supervisor's part: run again, from the checkpoint.
			go func() { done <- p.Run(ctx) }()
			cancelled = true
		default:
		}
		return cancelled
	})
	waitFor(t, "all 80", func() bool { return f.checkpoint("kv") == 80 })
	cancel()
	<-done
	f.rows(t)
}

// A rebuild builds the new version beside the live one while the live run
// applies new messages and readers read, switches atomically, and the live
// run carries on with the new version.
func TestRebuildBesideTheLiveVersion(t *testing.T) {
	f := newFixture(t)
	k := &kv{}
	p := checkpointed.New(checkpointed.Spec{Name: "kv", Stream: "KV", Tables: []string{"kv"}, Batch: 50, RebuildBatch: 1000, Async: true, Open: k.open}, f.pool, f.js, nil)
	f.publish(t, 3000)
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	var wg sync.WaitGroup
	runErr := make(chan error, 1)
	wg.Add(1)
	go func() { defer wg.Done(); runErr <- p.Run(ctx) }()
	waitFor(t, "the live version", func() bool { return f.checkpoint("kv") == 3000 })

	// Readers: a count never fails and never sees fewer rows than before.
	readErr := make(chan error, 1)
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		var seen int64
		for {
			select {
			case <-stop:
				readErr <- nil
				return
			default:
			}
			var n int64
			if err := f.pool.QueryRow(f.ctx, "select count(*) from kv where body like 'm%'").Scan(&n); err != nil {
				readErr <- fmt.Errorf("read during rebuild: %w", err)
				return
			}
			if n < seen {
				readErr <- fmt.Errorf("read %d rows after %d: a half-built version", n, seen)
				return
			}
			seen = n
		}
	}()
	// Writers: messages keep arriving while the rebuild runs.
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		f.publish(t, 500)
	}()
	st, err := p.Rebuild(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	<-pubDone
	if st.Events < 3000 {
		t.Fatalf("rebuild applied %d messages", st.Events)
	}
	f.publish(t, 100) // the live run, restarted on the new version, takes these
	waitFor(t, "the live run after the switch", func() bool { return f.checkpoint("kv") == uint64(f.n) })
	close(stop)
	if err := <-readErr; err != nil {
		t.Fatal(err)
	}
	cancel()
	wg.Wait()
	f.rows(t)
	var idx, schemas, next int
	if err := f.pool.QueryRow(f.ctx, `select (select count(*) from pg_indexes where schemaname = 'public' and tablename = 'kv' and indexname in ('kv_pkey', 'kv_body')),
		(select count(*) from pg_namespace where nspname = 'kv_next'),
		(select count(*) from checkpoints where name = 'kv@next')`).Scan(&idx, &schemas, &next); err != nil {
		t.Fatal(err)
	}
	if idx != 2 || schemas != 0 || next != 0 {
		t.Fatalf("after the switch: %d of the 2 indexes, %d next schemas, %d next checkpoints", idx, schemas, next)
	}
	l, err := p.Lag(f.ctx)
	if err != nil || l.Behind != 0 || l.Head != uint64(f.n) {
		t.Fatalf("lag %+v: %v", l, err)
	}
}
