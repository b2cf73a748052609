package audit_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"contactpoint/domain/audit"
	auditproj "contactpoint/projections/audit"
)

// TestViewsWithoutSearchSignal: a practitioner who opens many children by
// id that no search of theirs returned shortly before is listed; one who
// finds children by searching and then opens them is not, however many.
func TestViewsWithoutSearchSignal(t *testing.T) {
	tr := newTrail(t)
	ctx := context.Background()
	ten := time.Date(2025, 7, 2, 10, 0, 0, 0, time.UTC)
	actor := map[string]string{}
	for _, n := range []string{"finder", "guesser", "stale", "few", "prober", "borrower", "searcher", "rereader", "steward", "partly"} {
		actor[n] = uuid.NewString()
	}
	view := func(who string) audit.Entry {
		return audit.Entry{Action: audit.ActView, Actor: actor[who], Roles: []string{"practitioner"}, Route: "GET /v1/children/{id}", Status: 200}
	}
	search := func(who string, at time.Time, returned []string) {
		t.Helper()
		e := audit.Entry{Action: audit.ActSearch, Actor: actor[who], Roles: []string{"practitioner"}, Route: "GET /v1/children",
			At: at, Children: returned, Criteria: map[string]string{"family": "x"}}
		if err := tr.w.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}

	// finder searches, then opens the twelve children the search returned.
	found := ids(12)
	search("finder", ten, found)
	tr.record(t, view("finder"), ten.Add(5*time.Minute), 12, found)
	// guesser opens twelve children no search returned.
	tr.record(t, view("guesser"), ten, 12, ids(12))
	// stale searched at 07:00 and opens the results after 10:00, past the
	// sixty minutes a search vouches for the children it returned.
	old := ids(12)
	search("stale", ten.Add(-3*time.Hour), old)
	tr.record(t, view("stale"), ten, 12, old)
	// few opens ten without searching: not more than the threshold.
	tr.record(t, view("few"), ten, 10, ids(10))
	// prober tries twelve ids the hub does not hold: refused views count.
	for range 12 {
		e := audit.Entry{Action: audit.ActView, Outcome: audit.Refused, Reason: "not-found", Actor: actor["prober"],
			Roles: []string{"practitioner"}, Route: "GET /v1/children/{id}", Subject: uuid.NewString(), Status: 404, At: ten}
		if err := tr.w.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	// borrower opens what another practitioner's search returned.
	theirs := ids(12)
	search("searcher", ten, theirs)
	tr.record(t, view("borrower"), ten.Add(time.Minute), 12, theirs)
	// rereader opens one child forty times.
	tr.record(t, view("rereader"), ten, 40, ids(1))
	// A data steward opening children from review tasks is not a practitioner.
	st := view("steward")
	st.Roles = []string{"data-steward"}
	tr.record(t, st, ten, 12, ids(12))
	// partly searched for six and opens those six and eleven others.
	six := ids(6)
	search("partly", ten, six)
	tr.record(t, view("partly"), ten.Add(time.Minute), 17, append(slices.Clone(six), ids(11)...))

	if err := tr.proj.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	name := map[string]string{}
	for n, id := range actor {
		name[id] = n
	}
	r := auditproj.Range{From: ten.Add(-4 * time.Hour), To: ten.Add(4 * time.Hour)}
	cases := []struct {
		name     string
		views    int
		lookback int
		want     []string // name:count
	}{
		{"defaults", 10, 60, []string{"guesser:12", "partly:11", "prober:12", "stale:12", "borrower:12"}},
		{"a longer lookback vouches for older searches", 10, 240, []string{"guesser:12", "partly:11", "prober:12", "borrower:12"}},
		{"a higher threshold", 11, 60, []string{"guesser:12", "prober:12", "stale:12", "borrower:12"}},
		{"off", 0, 60, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			th := auditproj.DefaultThresholds
			th.UnsearchedViews, th.SearchLookbackMinutes = tc.views, tc.lookback
			sigs, err := tr.store.Signals(ctx, th, r)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range sigs {
				if s.Kind != auditproj.SignalUnsearched {
					continue
				}
				if !s.Window.Equal(ten) || s.Threshold != float64(tc.views) {
					t.Errorf("%s: window %v, threshold %v", name[s.Actor], s.Window, s.Threshold)
				}
				got = append(got, fmt.Sprintf("%s:%d", name[s.Actor], s.Count))
			}
			slices.Sort(got)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("flagged %v, want %v", got, want)
			}
		})
	}
}

func TestUnsearchedThresholdsValidate(t *testing.T) {
	cases := []struct {
		name string
		edit func(*auditproj.Thresholds)
		ok   bool
	}{
		{"defaults", func(*auditproj.Thresholds) {}, true},
		{"no unsearched views", func(t *auditproj.Thresholds) { t.UnsearchedViews = 0 }, false},
		{"no lookback", func(t *auditproj.Thresholds) { t.SearchLookbackMinutes = 0 }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			th := auditproj.DefaultThresholds
			tc.edit(&th)
			if err := th.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}
