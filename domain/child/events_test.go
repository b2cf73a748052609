package child_test

import (
	"slices"
	"testing"

	"contactpoint/domain/child"
	"contactpoint/domain/record"
)

// TestEachFeedSeq: every FEEDS sequence an event names for a record, so that
// a copy made of a child's events loses none of its records' messages.
func TestEachFeedSeq(t *testing.T) {
	a := record.SourceKey{Agency: "health", System: "pas", RecordID: "A"}
	b := record.SourceKey{Agency: "health", System: "pas", RecordID: "B"}
	src := func(k record.SourceKey) record.Source {
		return record.Source{Agency: k.Agency, System: k.System, RecordID: k.RecordID}
	}
	cases := []struct {
		name string
		e    child.Event
		want map[record.SourceKey][]uint64
	}{
		{"statement", child.Event{Stated: &child.Stated{Source: src(a), FeedSeq: 9}}, map[record.SourceKey][]uint64{a: {9}}},
		{"copy with earlier versions", child.Event{Stated: &child.Stated{Source: src(a), FeedSeq: 9, Earlier: []uint64{3, 5}}}, map[record.SourceKey][]uint64{a: {9, 3, 5}}},
		{"withdrawal", child.Event{Withdrawn: &child.Withdrawn{Source: b, FeedSeq: 12}}, map[record.SourceKey][]uint64{b: {12}}},
		{"merge copies", child.Event{Absorbed: &child.Absorbed{Sources: []child.Stated{
			{Source: src(a), FeedSeq: 4}, {Source: src(b), FeedSeq: 7, Earlier: []uint64{2}},
		}}}, map[record.SourceKey][]uint64{a: {4}, b: {7, 2}}},
		{"a registration names none", child.Event{Type: child.TypeRegistered, Registered: &child.Registered{}}, map[record.SourceKey][]uint64{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := map[record.SourceKey][]uint64{}
			c.e.EachFeedSeq(func(k record.SourceKey, seq uint64) { got[k] = append(got[k], seq) })
			if len(got) != len(c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			for k, w := range c.want {
				if !slices.Equal(got[k], w) {
					t.Errorf("%s: got %v, want %v", k.RecordID, got[k], w)
				}
			}
		})
	}
}

func TestEarlierThan(t *testing.T) {
	cases := []struct {
		seqs []uint64
		own  uint64
		want []uint64
	}{
		{[]uint64{9, 3, 9, 0, 5, 3}, 9, []uint64{3, 5}},
		{[]uint64{9}, 9, nil},
		{nil, 4, nil},
		{[]uint64{14, 13}, 14, []uint64{13}}, // a withdrawn record: its state keeps only the withdrawal's
	}
	for _, c := range cases {
		in := slices.Clone(c.seqs)
		if got := child.EarlierThan(c.seqs, c.own); !slices.Equal(got, c.want) {
			t.Errorf("EarlierThan(%v, %d) = %v, want %v", c.seqs, c.own, got, c.want)
		}
		if !slices.Equal(in, c.seqs) {
			t.Errorf("EarlierThan changed its argument: %v", c.seqs)
		}
	}
}
