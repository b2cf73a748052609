package directory

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"contactpoint/adapters/childmsg"
	"contactpoint/adapters/natsjs"
	"contactpoint/adapters/postgres"
	"contactpoint/adapters/postgres/pgtest"
	"contactpoint/domain/child"
	"contactpoint/domain/record"
)

// warnings counts the log's warnings, so a test can tell that a rebuild
// loaded in bulk and did not fall back to batches.
type warnings struct {
	slog.Handler
	mu  sync.Mutex
	got []string
}

func (w *warnings) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		w.mu.Lock()
		w.got = append(w.got, r.Message)
		w.mu.Unlock()
	}
	return nil
}

// scenario writes a CHILDREN stream that exercises every part of the
// apply: statements (sensitive ones too), withdrawals, merges through both
// halves, splits, unmerges, shields applied and lifted, reveals and their
// early end, review requests with and without why, not-linked decisions,
// corrections, archiving and erasure, and messages that cannot be applied.
type scenario struct {
	t    *testing.T
	ctx  context.Context
	js   jetstream.JetStream
	rng  *rand.Rand
	at   time.Time
	kids []uuid.UUID
	recs map[uuid.UUID][]record.Source
	// pairs are the children review requests paired, which merges and
	// not-linked decisions then answer.
	pairs [][2]uuid.UUID
	n     int
}

func (s *scenario) publish(id uuid.UUID, events ...child.Event) {
	s.t.Helper()
	s.n++
	m, err := childmsg.Message(id, child.Batch{ChildID: id.String(), Events: events}, uint64(s.n))
	if err != nil {
		s.t.Fatal(err)
	}
	if _, err := s.js.PublishMsg(s.ctx, m); err != nil {
		s.t.Fatal(err)
	}
}

func (s *scenario) tick() time.Time {
	// Nanoseconds, which PostgreSQL does not keep: the bulk load's
	// comparisons must agree with the statements' all the same.
	s.at = s.at.Add(time.Duration(s.rng.IntN(5000))*time.Millisecond + time.Duration(s.rng.IntN(999)))
	return s.at
}

func (s *scenario) stated(id uuid.UUID, src record.Source, sensitive bool) child.Event {
	c := record.Child{Name: record.Name{Given: fmt.Sprint("Given", s.rng.IntN(40)), Family: fmt.Sprint("Family", s.rng.IntN(20))},
		BirthDate: time.Date(2012, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, s.rng.IntN(2000)).Format(time.DateOnly),
		Gender:    []string{"female", "male"}[s.rng.IntN(2)],
		Address:   &record.Address{Lines: []string{fmt.Sprint(s.rng.IntN(90), " High Street")}, Postcode: fmt.Sprint("LS", s.rng.IntN(9), " 2AB")}}
	if s.rng.IntN(3) == 0 {
		c.PreviousNames = []record.Name{{Given: "Old", Family: fmt.Sprint("Name", s.rng.IntN(9))}}
	}
	if sensitive {
		c.Involvements = []record.Involvement{{Service: "clinic", Kind: "sexual-health"}}
	}
	return child.Event{Type: child.TypeStated, At: s.tick(), Stated: &child.Stated{Source: src, Child: c,
		ContentHash: fmt.Sprint(s.rng.Uint64()), FeedSeq: uint64(s.n), Link: child.Link{Rule: "new"}}}
}

func (s *scenario) other(id uuid.UUID) uuid.UUID {
	for {
		if o := s.kids[s.rng.IntN(len(s.kids))]; o != id {
			return o
		}
	}
}

func (s *scenario) run(children, steps int) {
	for i := 0; i < children; i++ {
		id := uuid.New()
		s.kids = append(s.kids, id)
		src := record.Source{Agency: "health", System: "pas", RecordID: fmt.Sprint("P", i)}
		s.recs[id] = []record.Source{src}
		s.publish(id, child.Event{Type: child.TypeRegistered, At: s.tick(), Registered: &child.Registered{ChildID: id.String(), Reason: "new"}},
			s.stated(id, src, i%7 == 0))
	}
	d := child.Decision{By: "steward-1", Reason: "checked"}
	for i := 0; i < steps; i++ {
		id := s.kids[s.rng.IntN(len(s.kids))]
		o := s.other(id)
		if len(s.pairs) > 0 && s.rng.IntN(2) == 0 {
			p := s.pairs[s.rng.IntN(len(s.pairs))]
			id, o = p[s.rng.IntN(2)], p[0]
			if id == o {
				o = p[1]
			}
		}
		switch k := s.rng.IntN(15); k {
		case 0, 1: // another source, sometimes stating a sensitive service
			src := record.Source{Agency: "education", System: "sims", RecordID: fmt.Sprint("E", i)}
			s.recs[id] = append(s.recs[id], src)
			s.publish(id, s.stated(id, src, s.rng.IntN(3) == 0))
		case 2: // a restatement, which makes no source safe to name again
			if rs := s.recs[id]; len(rs) > 0 {
				s.publish(id, s.stated(id, rs[s.rng.IntN(len(rs))], false))
			}
		case 3:
			if rs := s.recs[id]; len(rs) > 0 {
				s.publish(id, child.Event{Type: child.TypeWithdrawn, At: s.tick(), Withdrawn: &child.Withdrawn{Source: rs[0].Key(), FeedSeq: uint64(i)}})
			}
		case 4: // a review request, then often a decision on it
			ev, _ := json.Marshal(map[string]any{"score": 9.5, "fields": []string{"name"}})
			r := &child.ReviewRequested{Candidate: o.String(), Source: record.SourceKey{Agency: "health", System: "pas", RecordID: fmt.Sprint("R", i)},
				Score: float64(s.rng.IntN(30)), Evidence: ev}
			if s.rng.IntN(2) == 0 {
				r.Why, r.Reason, r.Compared = "score band", "between the thresholds", &record.SourceKey{Agency: "education", System: "sims", RecordID: "E1"}
			}
			s.publish(id, child.Event{Type: child.TypeReviewRequested, At: s.tick(), Review: r})
			s.pairs = append(s.pairs, [2]uuid.UUID{id, o})
		case 5:
			s.publish(id, child.Event{Type: child.TypeNotLinked, At: s.tick(), NotLinked: &child.NotLinked{Other: o.String(), Decision: d}})
		case 6: // a merge: the survivor absorbs the other's sources, then the other says where it went
			var sts []child.Stated
			for _, src := range s.recs[o] {
				sts = append(sts, *s.stated(id, src, false).Stated)
			}
			s.publish(id, child.Event{Type: child.TypeAbsorbed, At: s.tick(), Absorbed: &child.Absorbed{Absorbed: o.String(), Sources: sts,
				Decision: child.Decision{By: []string{"linker", "steward-2"}[s.rng.IntN(2)]}}})
			s.publish(o, child.Event{Type: child.TypeMergedInto, At: s.tick(), MergedInto: &child.MergedInto{Survivor: id.String(), Decision: d}})
			s.recs[id], s.recs[o] = append(s.recs[id], s.recs[o]...), nil
		case 7: // a split: some sources move out to a new child
			if rs := s.recs[id]; len(rs) > 1 {
				to := uuid.New()
				s.kids = append(s.kids, to)
				moved := rs[len(rs)-1]
				s.recs[id], s.recs[to] = rs[:len(rs)-1], []record.Source{moved}
				s.publish(to, child.Event{Type: child.TypeRegistered, At: s.tick(), Registered: &child.Registered{ChildID: to.String(), Reason: "split"}},
					s.stated(to, moved, false))
				s.publish(id, child.Event{Type: child.TypeSourcesMovedOut, At: s.tick(), MovedOut: &child.SourcesMovedOut{Sources: []record.SourceKey{moved.Key()}, To: to.String(), Decision: d}})
			}
		case 8:
			s.publish(id, child.Event{Type: child.TypeUnmerged, At: s.tick(), Unmerged: &child.Unmerged{Survivor: o.String(), Decision: d}})
		case 9:
			s.publish(id, child.Event{Type: child.TypeShieldApplied, At: s.tick(), Shield: &child.Shield{RequestedBy: "p1", RequestedByKind: "practitioner",
				AppliedBy: "officer", ReasonCategory: "adoption", ReviewDate: "2027-01-01", Contact: "shield team"}})
		case 10:
			s.publish(id, child.Event{Type: child.TypeShieldLifted, At: s.tick(), Lifted: &child.ShieldLifted{LiftedBy: "officer", Reason: "review"}})
		case 11: // a reveal, sometimes ended early by a later event
			p := fmt.Sprint("prac-", s.rng.IntN(3))
			at := s.tick()
			s.publish(id, child.Event{Type: child.TypeShieldRevealed, At: at, Revealed: &child.Revealed{PractitionerID: p, Reason: "child protection", Until: at.Add(time.Hour + 123)}})
			if s.rng.IntN(2) == 0 {
				s.publish(id, child.Event{Type: child.TypeRevealEnded, At: s.tick(), Revealed: &child.Revealed{PractitionerID: p, Until: at.Add(time.Minute + 7)}})
			}
		case 12:
			v, _ := json.Marshal(record.Name{Given: "Corrected", Family: "Name"})
			s.publish(id, child.Event{Type: child.TypeCorrected, At: s.tick(), Corrected: &child.Correction{Field: "name", Value: v, Reason: "typo", By: "steward-1", At: s.at}})
		case 13:
			if s.rng.IntN(4) == 0 {
				s.publish(id, child.Event{Type: child.TypeErased, At: s.tick(), Erased: &child.Erased{Rule: "six years", Reason: "due", By: "hub/retention"}})
			} else {
				s.publish(id, child.Event{Type: child.TypeArchived, At: s.tick(), Archived: &child.Archived{On: "2026-05-01", Rule: "18th birthday", By: "hub/retention"}})
			}
		case 14: // a message that cannot be applied, which both park
			m, err := childmsg.Message(id, child.Batch{ChildID: id.String(), Events: []child.Event{{Type: child.TypeStated, At: s.tick()}}}, 0)
			if err != nil {
				s.t.Fatal(err)
			}
			s.n++
			if _, err := s.js.PublishMsg(s.ctx, m); err != nil {
				s.t.Fatal(err)
			}
		}
	}
}

// TestBulkLoadEqualsBatches: a rebuild's bulk load gives the very rows that
// the live apply writes batch by batch over a stream with every kind of
// event, in every table, and parks the same message; the two paths cannot
// drift apart.
func TestBulkLoadEqualsBatches(t *testing.T) {
	tests := []struct {
		name            string
		seed            uint64
		children, steps int
		batch           int
	}{
		{"small batches", 1, 40, 600, 3},
		{"one message a batch", 2, 25, 300, 1},
		{"large batches", 3, 60, 900, 250},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			pool, err := postgres.Open(ctx, pgtest.NewDatabase(t))
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			nc, err := natsjs.Open(ctx, natsjs.Config{DataDir: t.TempDir()}, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			if err := natsjs.EnsureStreams(ctx, nc.JS); err != nil {
				t.Fatal(err)
			}
			s := &scenario{t: t, ctx: ctx, js: nc.JS, rng: rand.New(rand.NewPCG(tt.seed, 7)),
				at: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), recs: map[uuid.UUID][]record.Source{}}
			s.run(tt.children, tt.steps)
			s.publish(s.kids[0], s.stated(s.kids[0], record.Source{Agency: "health", System: "pas", RecordID: "again"}, false))

			w := &warnings{Handler: slog.DiscardHandler}
			p := New(nc.JS, pool, slog.New(w), child.Rules{})
			p.Batch = tt.batch
			if err := p.CatchUp(ctx); err != nil {
				t.Fatal(err)
			}
			live := dump(t, ctx, p)
			w.got = nil
			if _, err := p.Projection.Rebuild(ctx); err != nil {
				t.Fatal(err)
			}
			if len(w.got) > 0 {
				t.Fatalf("the rebuild warned %q: it did not load in bulk", w.got)
			}
			bulk := dump(t, ctx, p)
			for _, want := range []string{"review_tasks:", `"status": "linked"`, `"status": "not-linked"`,
				"shield_reveals:", "linkage_decisions:", `"kind": "moved-out"`, `"status": "erased"`, `"sensitive": true`, "invalid-event"} {
				if !strings.Contains(live, want) {
					t.Fatalf("the stream does not reach %s:\n%s", want, live[strings.Index(live, "review_tasks:"):])
				}
			}
			if live != bulk {
				l, b := strings.Split(live, "\n"), strings.Split(bulk, "\n")
				inB := map[string]bool{}
				for _, x := range b {
					inB[x] = true
				}
				inL := map[string]bool{}
				for _, x := range l {
					inL[x] = true
					if !inB[x] {
						t.Errorf("live only: %s", x)
					}
				}
				for _, x := range b {
					if !inL[x] {
						t.Errorf("bulk only: %s", x)
					}
				}
				t.Fatalf("bulk-loaded rows differ from the live ones: %d lines against %d", len(l), len(b))
			}
		})
	}
}

func dump(t *testing.T, ctx context.Context, p *Projection) string {
	t.Helper()
	var out []string
	for _, tb := range Tables {
		var s string
		// The documents by their digest, so that a difference reads short.
		row := `to_jsonb(t) - 'updated_at'`
		if tb == "directory" {
			row = `to_jsonb(t) - 'updated_at' - 'state' - 'view' || jsonb_build_object('state', md5(state), 'view', md5(view))`
		}
		q := `select coalesce(string_agg(r, E'\n' order by r), '') from (select (` + row + `)::text as r from ` + tb + ` t) x`
		if err := p.Pool.QueryRow(ctx, q).Scan(&s); err != nil {
			t.Fatalf("dump %s: %v", tb, err)
		}
		out = append(out, tb+":\n"+s)
	}
	var s string
	if err := p.Pool.QueryRow(ctx, `select coalesce(string_agg(consumer || ' ' || seq || ' ' || kind || ' ' || detail, E'\n' order by seq), '') from parked_messages`).Scan(&s); err != nil {
		t.Fatalf("dump parked: %v", err)
	}
	return strings.Join(out, "\n") + "\nparked:\n" + s
}
