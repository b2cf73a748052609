package arrivals_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"contactpoint/adapters/natsjs"
	"contactpoint/adapters/postgres"
	"contactpoint/adapters/postgres/pgtest"
	"contactpoint/app/quarantine"
	"contactpoint/projections/arrivals"
	"contactpoint/projections/checkpointed"
)

type msg struct {
	subject string
	msgID   string            // Nats-Msg-Id; a repeat inside the window is not stored
	headers map[string]string // besides the id
}

func open(t *testing.T) (jetstream.JetStream, *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	pool, err := postgres.Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	nc, err := natsjs.Open(ctx, natsjs.Config{DataDir: t.TempDir()}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc.JS, pool
}

func publish(t *testing.T, js jetstream.JetStream, msgs []msg) {
	t.Helper()
	for _, m := range msgs {
		nm := nats.NewMsg(m.subject)
		nm.Data = []byte(`{}`)
		for k, v := range m.headers {
			nm.Header.Set(k, v)
		}
		var opts []jetstream.PublishOpt
		if m.msgID != "" {
			opts = append(opts, jetstream.WithMsgID(m.msgID))
		}
		if _, err := js.PublishMsg(t.Context(), nm, opts...); err != nil {
			t.Fatalf("publish on %s: %v", m.subject, err)
		}
	}
}

func parkedSeqs(t *testing.T, pool *pgxpool.Pool, consumer string) []uint64 {
	t.Helper()
	rows, err := pool.Query(t.Context(), "select seq from parked_messages where consumer = $1 order by seq", consumer)
	if err != nil {
		t.Fatal(err)
	}
	var out []uint64
	for rows.Next() {
		var s int64
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, uint64(s))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

const reasons = `[{"field":"/child/notes","rule":"forbidden-field","message":"m"},{"field":"/child/diagnosis","rule":"forbidden-field","message":"m"},{"field":"/child/birth_date","rule":"schema","message":"m"}]`

// TestArrivalsCountWhatTheStreamsHold: every record FEEDS holds and every
// entry QUARANTINE holds is counted once, on its day, under the agency and
// system of its subject, across a restart from the checkpoint and a rebuild;
// what the stream does not hold (a resend inside the dedupe window) and what
// is no arrival (a resolution marker) are not counted, and a subject the hub
// never writes is parked rather than counted.
func TestArrivalsCountWhatTheStreamsHold(t *testing.T) {
	js, pool := open(t)
	cases := []struct {
		name   string
		proj   func(jetstream.JetStream, *pgxpool.Pool, *slog.Logger) *checkpointed.Projection
		first  []msg // applied, then the projection starts again from its checkpoint for then
		then   []msg
		want   arrivals.Report
		parked []uint64
	}{
		{
			name: "feeds",
			proj: arrivals.NewFeeds,
			first: []msg{
				{subject: "feeds.health.pas", msgID: "feed:health/pas/H1:a"},
				{subject: "feeds.health.pas", msgID: "feed:health/pas/H1:a"}, // dropped by JetStream: not held
				{subject: "feeds.health.pas", msgID: "feed:health/pas/H1:b"}, // the same record, changed: held
				{subject: "feeds.health.pas.extra", msgID: "x"},              // seq 3: parked
			},
			then: []msg{
				{subject: "feeds.education.sims", msgID: "feed:education/sims/E1:a"},
				{subject: "feeds.health.pas", msgID: "feed:health/pas/H2:a"},
			},
			want: arrivals.Report{
				Daily:  []arrivals.Day{{Agency: "education", System: "sims", Received: 1}, {Agency: "health", System: "pas", Received: 3}},
				Latest: []arrivals.Latest{{Agency: "education", System: "sims", Received: 1}, {Agency: "health", System: "pas", Received: 3}},
			},
			parked: []uint64{3},
		},
		{
			name: "quarantine",
			proj: arrivals.NewQuarantine,
			first: []msg{
				{subject: "quarantine.health.pas", headers: map[string]string{natsjs.HeaderReason: reasons}},
				{subject: "quarantine.health.pas", headers: map[string]string{natsjs.HeaderReason: `not json`}}, // counted, names no rule
				{subject: quarantine.SubjectResolvedPrefix + "1", headers: map[string]string{quarantine.HeaderResolves: "1"}},
			},
			then: []msg{
				// An agency system called "resolved" is refused like any other.
				{subject: "quarantine.resolved.pas", headers: map[string]string{natsjs.HeaderReason: `[{"rule":"schema"}]`}},
				{subject: "quarantine.health", headers: map[string]string{natsjs.HeaderReason: `[{"rule":"schema"}]`}}, // seq 5: parked
			},
			want: arrivals.Report{
				Daily: []arrivals.Day{{Agency: "health", System: "pas", Quarantined: 2}, {Agency: "resolved", System: "pas", Quarantined: 1}},
				Rules: []arrivals.Rule{
					{Agency: "health", System: "pas", Rule: "forbidden-field", Entries: 1},
					{Agency: "health", System: "pas", Rule: "schema", Entries: 1},
					{Agency: "resolved", System: "pas", Rule: "schema", Entries: 1},
				},
			},
			parked: []uint64{5},
		},
	}
	store := arrivals.NewStore(pool)
	today := time.Now().UTC().Format(time.DateOnly)
	for i := range cases {
		cases[i].want.Daily = slices.Clone(cases[i].want.Daily)
		for j := range cases[i].want.Daily {
			cases[i].want.Daily[j].Day = today
		}
	}
	// Each case reads only its own tables; the report joins both, so the
	// feeds case runs first and the quarantine case expects its rows too.
	var daily []arrivals.Day
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			p := c.proj(js, pool, nil)
			publish(t, js, c.first)
			if err := p.CatchUp(ctx); err != nil {
				t.Fatal(err)
			}
			// A fresh runner resumes from the stored checkpoint: nothing
			// is counted twice.
			p = c.proj(js, pool, nil)
			publish(t, js, c.then)
			if err := p.CatchUp(ctx); err != nil {
				t.Fatal(err)
			}
			daily = mergeDaily(daily, c.want.Daily)
			check := func(when string) {
				t.Helper()
				got, err := store.Since(ctx, time.Now().AddDate(0, 0, -1))
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got.Daily, daily) {
					t.Errorf("%s: daily %+v, want %+v", when, got.Daily, daily)
				}
				if !slices.Equal(got.Rules, c.want.Rules) && c.want.Rules != nil {
					t.Errorf("%s: rules %+v, want %+v", when, got.Rules, c.want.Rules)
				}
				if c.want.Latest != nil {
					if len(got.Latest) != len(c.want.Latest) {
						t.Fatalf("%s: latest %+v, want %+v", when, got.Latest, c.want.Latest)
					}
					for i, l := range got.Latest {
						w := c.want.Latest[i]
						if l.Agency != w.Agency || l.System != w.System || l.Received != w.Received || time.Since(l.At) > time.Minute {
							t.Errorf("%s: latest %+v, want %+v a moment ago", when, l, w)
						}
					}
				}
				if got := parkedSeqs(t, pool, p.Name); !slices.Equal(got, c.parked) {
					t.Errorf("%s: parked %v, want %v", when, got, c.parked)
				}
			}
			check("followed")
			lag, err := p.Lag(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if lag.Behind != 0 || lag.Checkpoint == 0 {
				t.Errorf("lag %+v after catching up", lag)
			}
			if _, err := p.Rebuild(ctx); err != nil {
				t.Fatal(err)
			}
			check("rebuilt")
		})
	}
}

// mergeDaily adds want's rows to the report's (ordered by day, agency,
// system), as the report unions the feeds and quarantine tables.
func mergeDaily(have, add []arrivals.Day) []arrivals.Day {
	out := slices.Clone(have)
	for _, a := range add {
		i := slices.IndexFunc(out, func(d arrivals.Day) bool { return d.Day == a.Day && d.Agency == a.Agency && d.System == a.System })
		if i < 0 {
			out = append(out, a)
			continue
		}
		out[i].Received += a.Received
		out[i].Quarantined += a.Quarantined
	}
	slices.SortFunc(out, func(a, b arrivals.Day) int {
		return cmpStr(a.Day+"\x00"+a.Agency+"\x00"+a.System, b.Day+"\x00"+b.Agency+"\x00"+b.System)
	})
	return out
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
