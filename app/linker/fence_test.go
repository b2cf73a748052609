package linker_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"contactpoint/adapters/natsjs"
	"contactpoint/adapters/postgres"
	"contactpoint/adapters/postgres/pgtest"
	"contactpoint/app/linker"
	"contactpoint/domain/child"
	"contactpoint/domain/record"
)

// TestARefusedAppendLooksAtWhatLanded: a linker whose append to a child is
// refused as out of date reads what landed since. Another writer's message
// (a shield officer's: no linker run header) only moves the expected
// sequence on, and the append is tried again and lands once; another
// linker run's message means the index is stale, and the run ends without
// appending or parking anything.
func TestARefusedAppendLooksAtWhatLanded(t *testing.T) {
	ctx := context.Background()
	pool, err := postgres.Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	nc, err := natsjs.Open(ctx, natsjs.Config{DataDir: t.TempDir()}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	publish := func(rec record.Record) uint64 {
		t.Helper()
		b, _ := json.Marshal(rec)
		ack, err := nc.JS.Publish(ctx, rec.Source.Subject(), b)
		if err != nil {
			t.Fatal(err)
		}
		return ack.Sequence
	}
	st, err := nc.JS.Stream(ctx, natsjs.StreamChildren)
	if err != nil {
		t.Fatal(err)
	}
	children := func() uint64 {
		t.Helper()
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Msgs
	}
	// run runs a linker until its checkpoint reaches seq (or it stops)
	// and returns what Run returned.
	run := func(l *linker.Linker, seq uint64) error {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- l.Run(ctx) }()
		for {
			cp, _ := postgres.Checkpoint(ctx, pool, linker.CheckpointName)
			if cp >= seq {
				cancel()
				return <-done
			}
			select {
			case err := <-done:
				return err
			case <-ctx.Done():
				t.Fatal("the linker did not reach the feed's end")
			case <-time.After(10 * time.Millisecond):
			}
		}
	}

	first := feedRecord("R1", "Ashworth", 0)
	seq := publish(first)
	if err := run(linker.New(nc.JS, pool, quiet, linker.DefaultConfig()), seq); err != nil {
		t.Fatal(err)
	}
	last, err := st.GetLastMsgForSubject(ctx, "children.>")
	if err != nil {
		t.Fatal(err)
	}
	// copyOf puts a copy of the child's message on its subject with the
	// given linker run header ("" for a writer that is not a linker).
	copyOf := func(run string) {
		t.Helper()
		m := nats.NewMsg(last.Subject)
		m.Data = last.Data
		if run != "" {
			m.Header.Set(linker.HeaderLinkerRun, run)
		}
		if _, err := nc.JS.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}

	// start runs a linker and returns once its index is built: a command
	// then answers for the child it names rather than "not ready".
	start := func(ctx context.Context) (*linker.Linker, chan error) {
		t.Helper()
		l := linker.New(nc.JS, pool, quiet, linker.DefaultConfig())
		done := make(chan error, 1)
		go func() { done <- l.Run(ctx) }()
		for {
			_, err := l.Merge(ctx, uuid.New(), uuid.New(), child.Decision{By: "test", Reason: "probe"})
			if !errors.Is(err, linker.ErrNotReady) {
				return l, done
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	// A stale index after another linker wrote: the run ends, appending
	// nothing.
	ctx2, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, done := start(ctx2)
	copyOf("another-run")
	before := children()
	changed := first
	changed.Child.Name.Given = "Robyn"
	publish(changed)
	select {
	case err = <-done:
	case <-ctx2.Done():
		t.Fatal("the linker went on after another linker wrote to a child it had read")
	}
	if err == nil || !strings.Contains(err.Error(), "another linker") {
		t.Fatalf("want the run ended by another linker's append, got %v", err)
	}
	if got := children(); got != before {
		t.Fatalf("the stale linker appended: CHILDREN %d → %d", before, got)
	}
	var parkedRows int
	if err := pool.QueryRow(ctx, "select count(*) from parked_messages").Scan(&parkedRows); err != nil || parkedRows != 0 {
		t.Fatalf("parked %d (%v)", parkedRows, err)
	}
	// Its restart rebuilds the index from CHILDREN and links the change once.
	lastFeed, _ := natsjs.LastSeq(ctx, nc.JS, natsjs.StreamFeeds)
	if err := run(linker.New(nc.JS, pool, quiet, linker.DefaultConfig()), lastFeed); err != nil {
		t.Fatal(err)
	}
	if got := children(); got != before+1 {
		t.Fatalf("want the change appended once, CHILDREN %d → %d", before, got)
	}

	// A writer that is not a linker (a shield officer) only moves the
	// expected sequence on: the append is tried again and lands once.
	if last, err = st.GetLastMsgForSubject(ctx, "children.>"); err != nil {
		t.Fatal(err)
	}
	ctx3, cancel3 := context.WithTimeout(ctx, 30*time.Second)
	defer cancel3()
	_, done = start(ctx3)
	copyOf("")
	before = children()
	changed.Child.Name.Given = "Robbie"
	target := publish(changed)
	for {
		cp, _ := postgres.Checkpoint(ctx, pool, linker.CheckpointName)
		if cp >= target {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the linker stopped after a shield officer's append: %v", err)
		case <-ctx3.Done():
			t.Fatal("the change was not linked")
		case <-time.After(10 * time.Millisecond):
		}
	}
	if got := children(); got != before+1 {
		t.Fatalf("want the change appended once after the retry, CHILDREN %d → %d", before, got)
	}
}
