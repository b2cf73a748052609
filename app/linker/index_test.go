package linker

import (
	"fmt"
	"slices"
	"testing"

	"github.com/google/uuid"

	"contactpoint/domain/child"
	"contactpoint/domain/record"
)

// checkHolding verifies the index's two views of who holds which source:
// each source's holder lists it exactly once, and no child lists a source
// it does not hold.
func checkHolding(t *testing.T, x *Index) {
	t.Helper()
	for s, se := range x.srcs {
		if se.holder < 0 {
			continue
		}
		if n := countOf(x.children[se.holder].srcs, src(s)); n != 1 {
			t.Fatalf("source %d held by child %d, which lists it %d times", s, se.holder, n)
		}
	}
	for r, c := range x.children {
		for _, s := range c.srcs {
			if x.srcs[s].holder != ref(r) {
				t.Fatalf("child %d lists source %d held by %d", r, s, x.srcs[s].holder)
			}
		}
	}
}

func countOf(ss []src, s src) int {
	n := 0
	for _, v := range ss {
		if v == s {
			n++
		}
	}
	return n
}

func TestIndexHoldsEachSourceOnce(t *testing.T) {
	ids := []uuid.UUID{uuid.MustParse("019a0000-0000-7000-8000-000000000001"), uuid.MustParse("019a0000-0000-7000-8000-000000000002"), uuid.MustParse("019a0000-0000-7000-8000-000000000003")}
	a, b, c := ids[0], ids[1], ids[2]
	key := func(n int) record.SourceKey {
		return record.SourceKey{Agency: "health", System: "pas", RecordID: fmt.Sprint(n)}
	}
	stated := func(n int, given, hash string) child.Event {
		return child.Event{Type: child.TypeStated, Stated: &child.Stated{
			Source: record.Source{Agency: "health", System: "pas", RecordID: fmt.Sprint(n)}, ContentHash: hash,
			Child: record.Child{Name: record.Name{Given: given, Family: "Hughes"}, BirthDate: "2015-03-14"},
		}}
	}
	type step struct {
		id     uuid.UUID
		events []child.Event
	}
	tests := []struct {
		name  string
		steps []step
		holds map[uuid.UUID][]int // the sources each child holds, in order
	}{
		{"two statements", []step{{a, []child.Event{stated(1, "Olivia", "h1"), stated(2, "Livvy", "h2")}}},
			map[uuid.UUID][]int{a: {1, 2}}},
		{"restated in place", []step{{a, []child.Event{stated(1, "Olivia", "h1"), stated(2, "Livvy", "h2"), stated(1, "Olive", "h3")}}},
			map[uuid.UUID][]int{a: {1, 2}}},
		{"withdrawn, then stated again", []step{
			{a, []child.Event{stated(1, "Olivia", "h1"), stated(2, "Livvy", "h2")}},
			{a, []child.Event{{Type: child.TypeWithdrawn, Withdrawn: &child.Withdrawn{Source: key(1)}}}},
			{a, []child.Event{stated(1, "Olivia", "h4")}},
		}, map[uuid.UUID][]int{a: {2, 1}}},
		{"merge: the survivor takes every source", []step{
			{a, []child.Event{stated(1, "Olivia", "h1")}},
			{b, []child.Event{stated(2, "Livvy", "h2"), stated(3, "Liv", "h3")}},
			{a, []child.Event{{Type: child.TypeAbsorbed, Absorbed: &child.Absorbed{Absorbed: b.String(),
				Sources: []child.Stated{*stated(2, "Livvy", "h2").Stated, *stated(3, "Liv", "h3").Stated}, Withdrawn: []record.SourceKey{key(3)}}}}},
			{b, []child.Event{{Type: child.TypeMergedInto, MergedInto: &child.MergedInto{Survivor: a.String()}}}},
		}, map[uuid.UUID][]int{a: {1, 2}, b: nil}},
		{"split to a new child, destination written first", []step{
			{a, []child.Event{stated(1, "Olivia", "h1"), stated(2, "Amelia", "h2")}},
			{c, []child.Event{stated(2, "Amelia", "h2")}},
			{a, []child.Event{{Type: child.TypeSourcesMovedOut, MovedOut: &child.SourcesMovedOut{Sources: []record.SourceKey{key(2)}, To: c.String()}}}},
		}, map[uuid.UUID][]int{a: {1}, c: {2}}},
		{"split, origin written first", []step{
			{a, []child.Event{stated(1, "Olivia", "h1"), stated(2, "Amelia", "h2")}},
			{a, []child.Event{{Type: child.TypeSourcesMovedOut, MovedOut: &child.SourcesMovedOut{Sources: []record.SourceKey{key(2)}, To: c.String()}}}},
			{c, []child.Event{stated(2, "Amelia", "h2")}},
		}, map[uuid.UUID][]int{a: {1}, c: {2}}},
		{"a withdrawal on a child not holding the source changes nothing", []step{
			{a, []child.Event{stated(1, "Olivia", "h1")}},
			{b, []child.Event{{Type: child.TypeWithdrawn, Withdrawn: &child.Withdrawn{Source: key(1)}}}},
		}, map[uuid.UUID][]int{a: {1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := NewIndex()
			for _, st := range tt.steps {
				x.apply(st.id, child.Batch{Events: st.events})
				checkHolding(t, x)
			}
			for id, want := range tt.holds {
				var got []int
				for _, s := range x.children[x.ref(id)].srcs {
					for n := 1; n <= 3; n++ {
						if v, ok := x.sourceIdx[sourceKey(key(n))]; ok && v == s {
							got = append(got, n)
						}
					}
				}
				if !slices.Equal(got, want) {
					t.Errorf("child %s holds sources %v, want %v", id, got, want)
				}
			}
		})
	}
}

func TestIndexRemembersContentAndWithdrawal(t *testing.T) {
	x := NewIndex()
	id := uuid.MustParse("019a0000-0000-7000-8000-000000000001")
	k := record.SourceKey{Agency: "education", System: "sims", RecordID: "7"}
	hash := "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	x.apply(id, child.Batch{Events: []child.Event{{Type: child.TypeStated, Stated: &child.Stated{
		Source: record.Source{Agency: k.Agency, System: k.System, RecordID: k.RecordID}, ContentHash: hash,
		Child: record.Child{Name: record.Name{Given: "Ava", Family: "Khan"}, BirthDate: "2016-01-02"},
	}}}})
	se, ok := x.source(k)
	if !ok || !se.sameContent(hash) || se.sameContent("other") || se.withdrawn {
		t.Fatalf("source entry %+v, known %v", se, ok)
	}
	if _, ok := x.source(record.SourceKey{Agency: "education", System: "sims", RecordID: "8"}); ok {
		t.Fatal("an unseen source is known")
	}
	x.apply(id, child.Batch{Events: []child.Event{{Type: child.TypeWithdrawn, Withdrawn: &child.Withdrawn{Source: k}}}})
	if se, _ := x.source(k); !se.withdrawn {
		t.Fatal("withdrawal not remembered")
	}
	if x.standingWithSources(x.ref(id)) {
		t.Fatal("a child whose only source is withdrawn is still a candidate")
	}
}
