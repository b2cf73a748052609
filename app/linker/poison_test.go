package linker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"contactpoint/adapters/natsjs"
	"contactpoint/adapters/parked"
	"contactpoint/adapters/postgres"
	"contactpoint/adapters/postgres/pgtest"
	"contactpoint/app/linker"
	"contactpoint/domain/record"
)

// syncBuffer is a log the test reads while the linker writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func feedRecord(id, family string, contacts int) record.Record {
	c := &record.Child{Name: record.Name{Given: "Robin", Family: family}, BirthDate: "2014-05-06",
		Address: &record.Address{Postcode: "LS6 2AB"}}
	for i := range contacts {
		// Each string within the decoder's bound; the record as a whole
		// only just fits a FEEDS message.
		c.Contacts = append(c.Contacts, record.Contact{Relationship: "carer",
			Name: record.Name{Family: fmt.Sprintf("%04d", i) + strings.Repeat("h", 4000)}})
	}
	return record.Record{Schema: record.SchemaID, Operation: record.OpUpsert,
		Source: record.Source{Agency: "health", System: "pas", RecordID: id}, Child: c}
}

// TestLinkerParksWhatItCannotAppend: a record that decodes and links but
// whose CHILDREN message would be larger than the event log accepts fails
// its batch. The linker takes the batch again one record at a time, parks
// that record alone with the checkpoint, and links the others; run again,
// it neither loops nor parks anything twice.
func TestLinkerParksWhatItCannotAppend(t *testing.T) {
	ctx := context.Background()
	pool, err := postgres.Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	nc, err := natsjs.Open(ctx, natsjs.Config{DataDir: t.TempDir()}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)

	// As many contacts as a FEEDS message takes, then a given name that
	// fills it to within 100 bytes of the limit: the CHILDREN message,
	// which wraps the record in its events, cannot fit.
	limit := int(nc.NC.MaxPayload()) - 100
	big := feedRecord("R2", "Hostile", 1)
	body, _ := json.Marshal(big)
	for n := 2; ; n++ {
		next := feedRecord("R2", "Hostile", n)
		b, _ := json.Marshal(next)
		if len(b) > limit {
			break
		}
		big, body = next, b
	}
	big.Child.Name.Given += strings.Repeat("g", limit-len(body))
	body, _ = json.Marshal(big)
	for _, rec := range []record.Record{feedRecord("R1", "Ashworth", 0), big, feedRecord("R3", "Brennan", 0)} {
		b := body
		if rec.Source.RecordID != "R2" {
			b, _ = json.Marshal(rec)
		}
		if _, err := nc.JS.Publish(ctx, rec.Source.Subject(), b); err != nil {
			t.Fatal(err)
		}
	}

	run := func() {
		t.Helper()
		starts := strings.Count(logs.String(), "linker started") + 1
		l := linker.New(nc.JS, pool, log, linker.DefaultConfig())
		ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- l.Run(ctx) }()
		for {
			cp, _ := postgres.Checkpoint(ctx, pool, linker.CheckpointName)
			if cp >= 3 && strings.Count(logs.String(), "linker started") >= starts {
				break
			}
			select {
			case err := <-done:
				t.Fatalf("linker stopped: %v", err)
			case <-ctx.Done():
				t.Fatal("linker did not pass the feed")
			case <-time.After(20 * time.Millisecond):
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	run()
	checkParked := func() {
		t.Helper()
		var n int
		var seq int64
		var kind, detail string
		err := pool.QueryRow(ctx, `select count(*) over (), seq, kind, detail from parked_messages where consumer = 'linker'`).Scan(&n, &seq, &kind, &detail)
		if err != nil || n != 1 || seq != 2 || kind != parked.KindApplyFailed || !strings.Contains(detail, "larger") {
			t.Fatalf("parked %d: seq %d %s %q (%v)", n, seq, kind, detail, err)
		}
	}
	checkParked()
	st, err := nc.JS.Stream(ctx, natsjs.StreamChildren)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter("children.*"))
	if err != nil || info.State.Msgs != 2 {
		t.Fatalf("CHILDREN holds %d messages, want the two linkable records (%v)", info.State.Msgs, err)
	}
	run() // a restart: the checkpoint has passed the parked record
	checkParked()
	if info, _ := st.Info(ctx); info.State.Msgs != 2 {
		t.Fatalf("CHILDREN holds %d messages after a restart", info.State.Msgs)
	}
	if strings.Contains(logs.String(), "Hostile") || strings.Contains(logs.String(), "hhhh") {
		t.Fatal("the log quotes the record")
	}
}
