package childmsg

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"contactpoint/adapters/childmsg/childmsgtest"
	"contactpoint/adapters/natsjs"
	"contactpoint/adapters/parked"
	"contactpoint/domain/child"
)

const testChild = childmsgtest.Child

var (
	batchJSON  = childmsgtest.Batch
	stateEvent = childmsgtest.Stated
)

// What Message writes, Decode reads back unchanged: the codec has one
// contract for writers and readers.
func TestMessageRoundTrip(t *testing.T) {
	id := uuid.MustParse(testChild)
	in := child.Batch{ChildID: testChild, Events: []child.Event{stateEvent("Smith"), {Type: child.TypeShieldApplied, Shield: &child.Shield{}}}}
	m, err := Message(id, in, 41)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "children."+testChild || m.Header.Get(natsjs.HeaderFeedSeq) != "41" ||
		m.Header.Get(natsjs.HeaderEvents) != child.TypeStated+","+child.TypeShieldApplied {
		t.Fatalf("message %s %v", m.Subject, m.Header)
	}
	gotID, out, err := Decode(m.Subject, m.Data)
	if err != nil || gotID != id || len(out.Events) != 2 || out.Events[0].Stated.Child.Name.Family != "Smith" {
		t.Fatalf("decoded %s %+v: %v", gotID, out, err)
	}
	if m, _ := Message(id, in, 0); m.Header.Get(natsjs.HeaderFeedSeq) != "" {
		t.Fatal("a message not from a feed record names a feed sequence")
	}
}

func TestDecode(t *testing.T) {
	subject := "children." + testChild
	other := uuid.NewString()
	cases := []struct {
		name    string
		subject string
		data    []byte
		kind    string // "" accepted
	}{
		{"valid", subject, batchJSON(t, testChild, stateEvent("Smith")), ""},
		{"unknown event type passes", subject, batchJSON(t, testChild, child.Event{Type: "some.future-event"}), ""},
		{"empty body", subject, nil, parked.KindUndecodable},
		{"empty object", subject, []byte(`{}`), parked.KindInvalidEvent},
		{"array", subject, []byte(`[1, 2, 3]`), parked.KindUndecodable},
		{"wrong shape", subject, []byte(`{"child_id": 7, "events": "many"}`), parked.KindUndecodable},
		{"stated without payload", subject, batchJSON(t, testChild, child.Event{Type: child.TypeStated}), parked.KindInvalidEvent},
		{"review of a non-UUID", subject, batchJSON(t, testChild, child.Event{Type: child.TypeReviewRequested, Review: &child.ReviewRequested{Candidate: "Ann Smith"}}), parked.KindInvalidEvent},
		{"review said again, decided", subject, batchJSON(t, testChild, child.Event{Type: child.TypeReviewRequested, Review: &child.ReviewRequested{Candidate: other, Task: 7,
			Decided: &child.TaskDecision{Status: "not-linked", By: "steward"}}}), ""},
		{"review decided without a task", subject, batchJSON(t, testChild, child.Event{Type: child.TypeReviewRequested, Review: &child.ReviewRequested{Candidate: other,
			Decided: &child.TaskDecision{Status: "linked"}}}), parked.KindInvalidEvent},
		{"review decided as open", subject, batchJSON(t, testChild, child.Event{Type: child.TypeReviewRequested, Review: &child.ReviewRequested{Candidate: other, Task: 7,
			Decided: &child.TaskDecision{Status: "open"}}}), parked.KindInvalidEvent},
		{"tombstone linked to children", subject, batchJSON(t, testChild, child.Event{Type: child.TypeErased, Erased: &child.Erased{Rule: "r", Linked: []string{other}}}), ""},
		{"tombstone linked to a name", subject, batchJSON(t, testChild, child.Event{Type: child.TypeErased, Erased: &child.Erased{Rule: "r", Linked: []string{"Ann Smith"}}}), parked.KindInvalidEvent},
		{"no events", subject, batchJSON(t, testChild), parked.KindInvalidEvent},
		{"another child's batch", subject, batchJSON(t, other, stateEvent("Smith")), parked.KindInvalidEvent},
		{"subject not canonical", "children." + strings.ToUpper(testChild), batchJSON(t, testChild, stateEvent("Smith")), parked.KindInvalidEvent},
		{"NUL escape", subject, batchJSON(t, testChild, stateEvent("Sm\x00ith")), parked.KindInvalidEvent},
		{"enormous string", subject, batchJSON(t, testChild, stateEvent(strings.Repeat("x", 900<<10))), parked.KindInvalidEvent},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, b, err := Decode(tc.subject, tc.data)
			if tc.kind == "" {
				if err != nil || id.String() != testChild || b.ChildID != testChild {
					t.Fatalf("decoded %s %+v: %v", id, b, err)
				}
				return
			}
			var r *parked.Reason
			if !errors.As(err, &r) || r.Kind != tc.kind {
				t.Fatalf("got %v, want a %s reason", err, tc.kind)
			}
			if strings.Contains(r.Detail, "Smith") || strings.Contains(r.Detail, "Ann") || strings.Contains(r.Detail, "xxxx") {
				t.Fatalf("reason quotes the message: %q", r.Detail)
			}
		})
	}
}
