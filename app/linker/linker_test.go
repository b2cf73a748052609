package linker

import (
	"encoding/json"
	"io"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"contactpoint/domain/child"
	"contactpoint/domain/match"
	"contactpoint/domain/record"
	"contactpoint/synth"
)

var fixed = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func newTestLinker() *Linker {
	l := New(nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), DefaultConfig())
	l.now = func() time.Time { return fixed }
	l.idx, l.ready = NewIndex(), true
	return l
}

// feedOf is a synthetic area's records in one interleaved order.
func feedOf(t testing.TB, children int, seed uint64) []record.Record {
	pop := synth.Generate(synth.Config{Children: children, Seed: seed, Today: fixed})
	var out []record.Record
	feeds := pop.Feeds()
	for i := 0; ; i++ {
		more := false
		for _, f := range feeds {
			if i < f.Len() {
				out = append(out, f.Record(i))
				more = true
			}
		}
		if !more {
			return out
		}
	}
}

// run decides every record in order, as the linker does batch by batch,
// and returns the plan.
func run(l *Linker, recs []record.Record, firstSeq uint64) plan {
	var p plan
	for i := range recs {
		seq := firstSeq + uint64(i)
		l.decide(&p, &recs[i], child.ContentHash(&recs[i]), seq, fixed.Add(time.Duration(seq)*time.Millisecond))
	}
	return p
}

func encode(t *testing.T, p plan) []byte {
	t.Helper()
	var all []child.Batch
	for _, id := range p.order {
		all = append(all, p.per[id].batch)
	}
	b, err := json.Marshal(all)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLinkingIsDeterministic(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		recs := feedOf(t, 1500, seed)
		a := encode(t, run(newTestLinker(), recs, 1))
		b := encode(t, run(newTestLinker(), recs, 1))
		if string(a) != string(b) {
			t.Fatalf("seed %d: the same input in the same order gave different events", seed)
		}
	}
}

func TestLinkingIsIdempotentOnRedelivery(t *testing.T) {
	recs := feedOf(t, 1500, 7)
	l := newTestLinker()
	first := run(l, recs, 1)
	if len(first.order) == 0 {
		t.Fatal("nothing linked")
	}
	// Every record delivered again (a crash before the checkpoint moved,
	// or a resend after the dedupe window): nothing new is appended.
	again := run(l, recs, 1)
	if len(again.order) != 0 {
		t.Fatalf("redelivery appended events for %d children", len(again.order))
	}
	// And under new feed sequences (a resend after the window): still nothing.
	if resent := run(l, recs, uint64(len(recs)+1)); len(resent.order) != 0 {
		t.Fatalf("resend appended events for %d children", len(resent.order))
	}
}

func TestIndexRebuiltFromEventsDecidesTheSame(t *testing.T) {
	recs := feedOf(t, 1500, 11)
	half := len(recs) / 2
	l := newTestLinker()
	p := run(l, recs[:half], 1)
	// A second linker rebuilds its index from the events alone, as after a
	// restart, and must decide the rest exactly as the first does.
	r := newTestLinker()
	for _, id := range p.order {
		r.idx.apply(id, p.per[id].batch)
	}
	a := encode(t, run(l, recs[half:], uint64(half+1)))
	b := encode(t, run(r, recs[half:], uint64(half+1)))
	if string(a) != string(b) {
		t.Fatal("a rebuilt index decided differently")
	}
}

func TestDeterministicRules(t *testing.T) {
	mk := func(agency, system, id, given, nhs, upn string) record.Record {
		c := &record.Child{Name: record.Name{Given: given, Family: "Hughes"}, BirthDate: "2015-03-14", Gender: "female",
			Address: &record.Address{Lines: []string{"14 Elm Grove"}, Postcode: "LS6 2AB"}, Identifiers: &record.Identifiers{NHSNumber: nhs, UPN: upn}}
		return record.Record{Schema: record.SchemaID, Source: record.Source{Agency: agency, System: system, RecordID: id}, Operation: record.OpUpsert, Child: c}
	}
	other := func(r record.Record, given, dob, gender string) record.Record {
		c := *r.Child
		c.Name.Given, c.BirthDate, c.Gender = given, dob, gender
		r.Child = &c
		return r
	}
	tests := []struct {
		name     string
		recs     []record.Record
		children int
		rule     string
		// why, when set, is the review the second record must raise,
		// against the first record's source.
		why string
	}{
		{"same NHS number", []record.Record{mk("health", "pas", "1", "Olivia", "9434765919", ""), mk("social-care", "lcs", "9", "Zoe", "9434765919", "")}, 1, "nhs-number", ""},
		{"same UPN", []record.Record{mk("education", "a", "1", "Olivia", "", "T821200714001"), mk("education", "b", "2", "Zoe", "", "T821200714001")}, 1, "upn", ""},
		{"twins", []record.Record{mk("health", "pas", "1", "Olivia", "9434765919", ""), mk("health", "pas", "2", "Amelia", "4010232137", "")}, 2, "new", ""},
		{"conflicting NHS numbers, same name", []record.Record{mk("health", "pas", "1", "Olivia", "9434765919", ""), mk("health", "pas2", "2", "Olivia", "4010232137", "")}, 2, "new", ""},
		{"no identifier, same details", []record.Record{mk("health", "pas", "1", "Olivia", "9434765919", ""), mk("education", "sims", "2", "Olivia", "", "")}, 1, "score", ""},
		// An identifier is evidence, not a verdict: the rest of the record
		// may say it is another child's number.
		{"same NHS number, another date of birth and given name", []record.Record{mk("health", "pas", "1", "Olivia", "9434765919", ""),
			other(mk("social-care", "lcs", "9", "", "9434765919", ""), "Harry", "2011-07-30", "female")}, 2, "new", match.WhyIdentifier},
		{"same NHS number, another date of birth and gender", []record.Record{mk("health", "pas", "1", "Olivia", "9434765919", ""),
			other(mk("social-care", "lcs", "9", "", "9434765919", ""), "Olivia", "2011-07-30", "male")}, 2, "new", match.WhyIdentifier},
		{"same UPN, another date of birth and given name", []record.Record{mk("education", "a", "1", "Olivia", "", "T821200714001"),
			other(mk("education", "b", "2", "", "", "T821200714001"), "Jack", "2013-01-02", "male")}, 2, "new", match.WhyIdentifier},
		{"same NHS number, a date of birth keyed wrong", []record.Record{mk("health", "pas", "1", "Olivia", "9434765919", ""),
			other(mk("social-care", "lcs", "9", "", "9434765919", ""), "Olivia", "2011-07-30", "female")}, 1, "nhs-number", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newTestLinker()
			p := run(l, tt.recs, 1)
			standing := 0
			for r := range l.idx.children {
				if l.idx.standingWithSources(ref(r)) {
					standing++
				}
			}
			if standing != tt.children {
				t.Fatalf("want %d children, got %d", tt.children, standing)
			}
			last := p.per[p.order[len(p.order)-1]].batch.Events
			ev := last[len(last)-1]
			if ev.Type == child.TypeReviewRequested {
				rv := ev.Review
				first := tt.recs[0].Source.Key()
				if rv.Why != tt.why || (tt.why == match.WhyIdentifier && rv.Reason != match.ReasonSameIdentifier) ||
					rv.Compared != nil || rv.ComparedRef != child.ComparedDigest(rv.Candidate, first) {
					t.Fatalf("review %+v, want why %q compared with %v", rv, tt.why, first)
				}
				ev = last[len(last)-2]
			} else if tt.why != "" {
				t.Fatalf("no review raised, want one for %q", tt.why)
			}
			if ev.Stated == nil || ev.Stated.Link.Rule != tt.rule {
				t.Fatalf("second record linked by %+v, want rule %s", ev.Stated, tt.rule)
			}
		})
	}
}

func TestChildIDIsAStableUUIDv7(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	a, b := ChildID(key, fixed, 42), ChildID(key, fixed, 42)
	if a != b || a.Version() != 7 || ChildID(key, fixed, 43) == a {
		t.Fatalf("ids %s %s", a, b)
	}
	c := ChildID(key, fixed, 1)
	if !reflect.DeepEqual(a[:6], c[:6]) {
		t.Fatal("the time part must come from the feed message time")
	}
}

// TestARecordFittingTwoChildrenOfOneHousehold: a record that links to two
// children of one household goes to review when one of them could be its
// twin (a given name alike but not the same), and links to the better when
// the other agrees only with the names the wrong way round — a child's names
// keyed crosswise are not a twin's.
func TestARecordFittingTwoChildrenOfOneHousehold(t *testing.T) {
	mk := func(id, given, family, nhs string) record.Record {
		c := &record.Child{Name: record.Name{Given: given, Family: family}, BirthDate: "2015-03-14", Gender: "female",
			Address: &record.Address{Lines: []string{"1 Goble Street"}, Postcode: "LS6 2AB"}}
		if nhs != "" {
			c.Identifiers = &record.Identifiers{NHSNumber: nhs}
		}
		return record.Record{Schema: record.SchemaID, Source: record.Source{Agency: "health", System: "pas" + id, RecordID: id}, Operation: record.OpUpsert, Child: c}
	}
	tests := []struct {
		name   string
		other  record.Record // a second child of the household, kept apart by its NHS number
		review bool
	}{
		{"the other's names swapped", mk("2", "Sach", "Jasmine", "4010232137"), false},
		{"the other a twin with a name alike", mk("2", "Jasmin", "Sach", "4010232137"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newTestLinker()
			recs := []record.Record{mk("1", "Jasmine", "Sach", "9434765919"), tt.other, mk("3", "Jasmine", "Sach", "")}
			p := run(l, recs, 1)
			first, _ := l.idx.source(recs[0].Source.Key())
			second, _ := l.idx.source(recs[1].Source.Key())
			last, _ := l.idx.source(recs[2].Source.Key())
			if l.idx.resolve(first.child) == l.idx.resolve(second.child) {
				t.Fatal("the two children of the household were linked")
			}
			evs := p.per[p.order[len(p.order)-1]].batch.Events
			reviewed := evs[len(evs)-1].Type == child.TypeReviewRequested
			if reviewed != tt.review {
				t.Fatalf("review raised %v, want %v", reviewed, tt.review)
			}
			if linked := l.idx.resolve(last.child) == l.idx.resolve(first.child); linked == tt.review {
				t.Fatalf("third record joined the first child %v, want %v", linked, !tt.review)
			}
		})
	}
}
