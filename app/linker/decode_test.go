package linker

import (
	"errors"
	"strings"
	"testing"

	json "github.com/goccy/go-json"
	"github.com/google/uuid"

	"contactpoint/adapters/childmsg/childmsgtest"
	"contactpoint/adapters/parked"
	"contactpoint/domain/child"
	"contactpoint/domain/record"
)

const testChild = childmsgtest.Child

var (
	batchJSON  = childmsgtest.Batch
	stateEvent = childmsgtest.Stated
)

// The CHILDREN decoder's own cases are in adapters/childmsg; here its
// fuzz target also drives the linker's index with what it accepts.

func feedJSON(t testing.TB, edit func(*record.Record)) []byte {
	t.Helper()
	rec := record.Record{Schema: record.SchemaID, Operation: record.OpUpsert,
		Source: record.Source{Agency: "health", System: "pas", RecordID: "r1"},
		Child:  &record.Child{Name: record.Name{Given: "Ann", Family: "Smith"}, BirthDate: "2015-03-14"}}
	if edit != nil {
		edit(&rec)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeFeedMsg(t *testing.T) {
	const subject = "feeds.health.pas"
	cases := []struct {
		name    string
		subject string
		data    []byte
		kind    string
	}{
		{"valid", subject, feedJSON(t, nil), ""},
		{"withdraw needs no child", subject, feedJSON(t, func(r *record.Record) { r.Operation, r.Child = record.OpWithdraw, nil }), ""},
		{"empty body", subject, []byte(""), parked.KindUndecodable},
		{"empty object", subject, []byte("{}"), parked.KindInvalidRecord},
		{"null", subject, []byte("null"), parked.KindUndecodable},
		{"invalid JSON", subject, []byte(`{"schema": "contactpoint.feed-record.v1",`), parked.KindUndecodable},
		{"wrong shape", subject, []byte(`{"source": ["health"], "child": 12}`), parked.KindUndecodable},
		{"upsert without child", subject, feedJSON(t, func(r *record.Record) { r.Child = nil }), parked.KindInvalidRecord},
		{"merge without absorbed record", subject, feedJSON(t, func(r *record.Record) { r.Operation = record.OpMerge }), parked.KindInvalidRecord},
		{"unknown operation", subject, feedJSON(t, func(r *record.Record) { r.Operation = "erase-everything" }), parked.KindInvalidRecord},
		{"old schema", subject, feedJSON(t, func(r *record.Record) { r.Schema = "v0" }), parked.KindInvalidRecord},
		{"unknown agency", "feeds.police.pas", feedJSON(t, func(r *record.Record) { r.Source.Agency = "police" }), parked.KindInvalidRecord},
		{"no record id", subject, feedJSON(t, func(r *record.Record) { r.Source.RecordID = "" }), parked.KindInvalidRecord},
		{"another system's subject", "feeds.health.other", feedJSON(t, nil), parked.KindInvalidRecord},
		{"NUL in a name", subject, feedJSON(t, func(r *record.Record) { r.Child.Name.Family = "Smi\x00th" }), parked.KindInvalidRecord},
		{"invalid UTF-8", subject, []byte(strings.Replace(string(feedJSON(t, nil)), "Smith", "Sm\xffith", 1)), parked.KindInvalidRecord},
		{"900 KB name", subject, feedJSON(t, func(r *record.Record) { r.Child.Name.Family = strings.Repeat("x", 900<<10) }), parked.KindInvalidRecord},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := DecodeFeedMsg(tc.subject, tc.data)
			if tc.kind == "" {
				if err != nil || rec.Source.RecordID != "r1" {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var r *parked.Reason
			if !errors.As(err, &r) || r.Kind != tc.kind {
				t.Fatalf("got %v, want a %s reason", err, tc.kind)
			}
			if strings.Contains(r.Detail, "Smith") || strings.Contains(r.Detail, "police") || strings.Contains(r.Detail, "erase") {
				t.Fatalf("reason quotes the message: %q", r.Detail)
			}
		})
	}
}

// payloadOf says whether an event of a known type carries its payload.
var payloadOf = map[string]func(e *child.Event) bool{
	child.TypeRegistered:           func(e *child.Event) bool { return e.Registered != nil },
	child.TypeStated:               func(e *child.Event) bool { return e.Stated != nil },
	child.TypeWithdrawn:            func(e *child.Event) bool { return e.Withdrawn != nil },
	child.TypeShieldApplied:        func(e *child.Event) bool { return e.Shield != nil },
	child.TypeShieldLifted:         func(e *child.Event) bool { return e.Lifted != nil },
	child.TypeInvolvementIndicated: func(e *child.Event) bool { return e.Involvement != nil },
	child.TypeAbsorbed:             func(e *child.Event) bool { return e.Absorbed != nil },
	child.TypeMergedInto:           func(e *child.Event) bool { return e.MergedInto != nil },
	child.TypeSourcesMovedOut:      func(e *child.Event) bool { return e.MovedOut != nil },
	child.TypeReviewRequested:      func(e *child.Event) bool { return e.Review != nil },
	child.TypeNotLinked:            func(e *child.Event) bool { return e.NotLinked != nil },
}

// FuzzDecodeChildMsg feeds the CHILDREN decoder arbitrary subjects and
// bodies: it never panics, refuses with a Reason, and what it accepts keeps
// the event contract and can be applied to a child's state and to the
// linker's index without panicking.
func FuzzDecodeChildMsg(f *testing.F) {
	subject := "children." + testChild
	for _, seed := range [][]byte{
		batchJSON(f, testChild, stateEvent("Smith")),
		batchJSON(f, testChild, child.Event{Type: child.TypeStated}),
		batchJSON(f, testChild, child.Event{Type: child.TypeAbsorbed, Absorbed: &child.Absorbed{Absorbed: uuid.NewString()}}),
		batchJSON(f, testChild, child.Event{Type: child.TypeMergedInto, MergedInto: &child.MergedInto{Survivor: "x"}}),
		batchJSON(f, uuid.NewString(), stateEvent("Smith")),
		[]byte(`{}`), []byte(`null`), []byte(``), []byte(`{"child_id":"` + testChild + `","events":[{"type":"source.withdrawn"}]}`),
	} {
		f.Add(subject, seed)
	}
	f.Add("children.x", []byte(`{"child_id":"x"}`))
	f.Fuzz(func(t *testing.T, subject string, data []byte) {
		id, b, err := DecodeChildMsg(subject, data)
		if err != nil {
			var r *parked.Reason
			if !errors.As(err, &r) || r.Kind == "" {
				t.Fatalf("refusal is not a Reason: %v", err)
			}
			return
		}
		if subject != "children."+id.String() {
			t.Fatalf("accepted subject %q for child %s", subject, id)
		}
		if bid, err := uuid.Parse(b.ChildID); err != nil || bid != id {
			t.Fatalf("accepted batch for %q on %s", b.ChildID, id)
		}
		if len(b.Events) == 0 {
			t.Fatal("accepted a batch without events")
		}
		for i := range b.Events {
			e := &b.Events[i]
			if has, known := payloadOf[e.Type]; e.Type == "" || known && !has(e) {
				t.Fatalf("accepted event %d of type %q without its payload", i, e.Type)
			}
		}
		child.NewState(id.String()).Apply(b)
		NewIndex().apply(id, b)
	})
}

// FuzzDecodeFeedMsg does the same for FEEDS: an accepted record is on its
// own source's subject, has what its operation needs, and the linker
// decides it without panicking.
func FuzzDecodeFeedMsg(f *testing.F) {
	for _, seed := range [][]byte{
		feedJSON(f, nil),
		feedJSON(f, func(r *record.Record) { r.Child = nil }),
		feedJSON(f, func(r *record.Record) { r.Operation, r.Merge = record.OpMerge, &record.Merge{AbsorbedRecordID: "r0"} }),
		feedJSON(f, func(r *record.Record) { r.Operation = record.OpWithdraw }),
		[]byte(`{}`), []byte(`null`), []byte(``), []byte(`{"schema":"contactpoint.feed-record.v1","child":{}}`),
	} {
		f.Add("feeds.health.pas", seed)
	}
	f.Fuzz(func(t *testing.T, subject string, data []byte) {
		rec, err := DecodeFeedMsg(subject, data)
		if err != nil {
			var r *parked.Reason
			if !errors.As(err, &r) || r.Kind == "" {
				t.Fatalf("refusal is not a Reason: %v", err)
			}
			return
		}
		if rec.Schema != record.SchemaID || subject != rec.Source.Subject() || !record.IsAgency(rec.Source.Agency) ||
			rec.Source.System == "" || rec.Source.RecordID == "" {
			t.Fatalf("accepted %q on %q", rec.Source.Key(), subject)
		}
		switch rec.Operation {
		case record.OpUpsert:
			if rec.Child == nil {
				t.Fatal("accepted an upsert without a child")
			}
		case record.OpMerge:
			if rec.Merge == nil || rec.Merge.AbsorbedRecordID == "" {
				t.Fatal("accepted a merge without its absorbed record")
			}
		case record.OpWithdraw:
		default:
			t.Fatalf("accepted operation %q", rec.Operation)
		}
		l := newTestLinker()
		var p plan
		l.decide(&p, &rec, child.ContentHash(&rec), 1, fixed)
	})
}
