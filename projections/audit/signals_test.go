package audit_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	auditadapter "contactpoint/adapters/audit"
	"contactpoint/adapters/natsjs"
	"contactpoint/adapters/postgres"
	"contactpoint/adapters/postgres/pgtest"
	"contactpoint/domain/audit"
	auditproj "contactpoint/projections/audit"
)

// trail is an audit trail on an embedded event log and a fresh database.
type trail struct {
	w     *auditadapter.Writer
	proj  *auditproj.Projection
	store *auditproj.Store
}

func newTrail(t *testing.T) trail {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pool, err := postgres.Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	nc, err := natsjs.Open(ctx, natsjs.Config{DataDir: t.TempDir()}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if err := natsjs.EnsureAuthStreams(ctx, nc.JS); err != nil {
		t.Fatal(err)
	}
	return trail{w: auditadapter.NewWriter(nc.JS), proj: auditproj.New(nc.JS, pool, log), store: auditproj.NewStore(pool)}
}

// record writes n entries like e, one a minute from at; each gets the next
// child of children, when given, as the child it returned or showed.
func (tr trail) record(t *testing.T, e audit.Entry, at time.Time, n int, children []string) {
	t.Helper()
	for i := range n {
		e := e
		e.ID, e.At = "", at.Add(time.Duration(i)*time.Minute)
		if len(children) > 0 {
			e.Children = []string{children[i%len(children)]}
		}
		if err := tr.w.Record(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
}

func ids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = uuid.NewString()
	}
	return out
}

// TestMisuseSignals writes a day of ordinary use by several practitioners,
// with one practitioner behaving oddly in each way the signals look for,
// and checks that each signal names exactly the odd one.
func TestMisuseSignals(t *testing.T) {
	tr := newTrail(t)
	// Wednesday 2 July 2025: British Summer Time, UTC+1.
	wed := time.Date(2025, 7, 2, 0, 0, 0, 0, time.UTC)
	sat := time.Date(2025, 7, 5, 0, 0, 0, 0, time.UTC)
	winter := time.Date(2025, 1, 8, 0, 0, 0, 0, time.UTC) // GMT, UTC+0
	actor := map[string]string{}
	for _, n := range []string{"peer1", "peer2", "peer3", "peer4", "heavy", "rereader", "prober", "spread",
		"nightowl", "evening", "weekend", "wintermorning", "daytime", "fewlate", "glass"} {
		actor[n] = uuid.NewString()
	}
	view := func(who string) audit.Entry {
		return audit.Entry{Action: audit.ActView, Actor: actor[who], Roles: []string{"practitioner"}, Route: "GET /v1/children/{id}", Status: 200}
	}
	withheld := func(who, reason string) audit.Entry {
		return audit.Entry{Action: audit.ActView, Outcome: audit.Refused, Reason: reason, Actor: actor[who],
			Route: "GET /v1/children/{id}", Subject: uuid.NewString(), Status: 404}
	}
	search := func(who string) audit.Entry {
		return audit.Entry{Action: audit.ActSearch, Actor: actor[who], Route: "GET /v1/children", Criteria: map[string]string{"family": "x"}}
	}
	ten := wed.Add(10 * time.Hour)

	// Views between 10:00 and 11:00 UTC: four peers open five children each
	// (peer1 opens one of them again and again), heavy opens thirty, and
	// rereader opens one child forty times, which is one child, not forty.
	for _, p := range []string{"peer1", "peer2", "peer3", "peer4"} {
		tr.record(t, view(p), ten, 5, ids(5))
	}
	tr.record(t, view("peer1"), ten.Add(30*time.Minute), 6, ids(1))
	tr.record(t, view("heavy"), ten, 30, ids(30))
	tr.record(t, view("rereader"), ten, 40, ids(1))
	// Refused views do not count as views.
	tr.record(t, withheld("peer2", "not-found"), ten, 30, nil)

	// Refusals on shielded records: prober three in a day; spread two on
	// each of two days; peer3 two; peer2's thirty unknown ids are not
	// shielded records at all.
	tr.record(t, withheld("prober", "withheld"), wed.Add(9*time.Hour), 3, nil)
	tr.record(t, withheld("spread", "withheld"), wed.Add(14*time.Hour), 2, nil)
	tr.record(t, withheld("spread", "withheld"), wed.Add(38*time.Hour), 2, nil)
	tr.record(t, withheld("peer3", "shielded"), wed.Add(15*time.Hour), 2, nil)

	// Searches: twenty at 22:30 London time, twenty at 18:30 London time
	// (17:30 UTC: out of hours only in the deployment's time zone), twenty
	// on a Saturday morning, twenty at 07:30 on a winter weekday, twenty-five
	// in working hours, five late at night.
	tr.record(t, search("nightowl"), wed.Add(21*time.Hour+30*time.Minute), 20, nil)
	tr.record(t, search("evening"), wed.Add(17*time.Hour+30*time.Minute), 20, nil)
	tr.record(t, search("weekend"), sat.Add(11*time.Hour), 20, nil)
	tr.record(t, search("wintermorning"), winter.Add(7*time.Hour+30*time.Minute), 20, nil)
	tr.record(t, search("daytime"), wed.Add(11*time.Hour), 25, nil)
	tr.record(t, search("fewlate"), wed.Add(22*time.Hour), 5, nil)
	// Two break-glass reveals in a day: always looked into.
	tr.record(t, audit.Entry{Action: audit.ActReveal, Actor: actor["glass"], Roles: []string{"child-protection"},
		Route: "POST /v1/children/{id}/reveal", Subject: uuid.NewString(), Reason: "break-glass", Status: 201}, wed.Add(13*time.Hour), 2, nil)

	ctx := context.Background()
	if err := tr.proj.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	th := auditproj.Thresholds{PeerFactor: 3, MinViewsPerHour: 20, WithheldAttempts: 3,
		OffHoursSearches: 20, WorkStart: 8, WorkEnd: 18, TimeZone: "Europe/London"}
	sigs, err := tr.store.Signals(ctx, th, auditproj.Range{From: winter, To: sat.Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	name := map[string]string{}
	for n, id := range actor {
		name[id] = n
	}
	got := map[string][]string{}
	for _, s := range sigs {
		got[s.Kind] = append(got[s.Kind], fmt.Sprintf("%s:%d", name[s.Actor], s.Count))
	}
	cases := []struct {
		kind string
		want []string // name:count
	}{
		{auditproj.SignalHighVolume, []string{"heavy:30"}},
		{auditproj.SignalWithheld, []string{"prober:3"}},
		{auditproj.SignalOffHoursBulk, []string{"evening:20", "nightowl:20", "weekend:20", "wintermorning:20"}},
		{auditproj.SignalBreakGlass, []string{"glass:2"}},
	}
	for _, tc := range cases {
		t.Run(tc.kind, func(t *testing.T) {
			g := slices.Clone(got[tc.kind])
			slices.Sort(g)
			if !slices.Equal(g, tc.want) {
				t.Fatalf("flagged %v, want %v", g, tc.want)
			}
		})
	}
	if len(sigs) != 7 {
		t.Fatalf("%d signals, want 7: %+v", len(sigs), sigs)
	}

	// The same trail under other thresholds: the knobs are the deployment's.
	t.Run("thresholds move the line", func(t *testing.T) {
		loose := th
		loose.WithheldAttempts, loose.OffHoursSearches, loose.TimeZone = 2, 5, "UTC"
		sigs, err := tr.store.Signals(ctx, loose, auditproj.Range{From: winter, To: sat.Add(24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		flagged := map[string]bool{}
		for _, s := range sigs {
			flagged[s.Kind+"/"+name[s.Actor]] = true
		}
		for k, want := range map[string]bool{
			auditproj.SignalWithheld + "/spread":            true,
			auditproj.SignalWithheld + "/peer3":             true,
			auditproj.SignalOffHoursBulk + "/fewlate":       true,
			auditproj.SignalOffHoursBulk + "/evening":       false, // 17:30 UTC is in hours in UTC
			auditproj.SignalOffHoursBulk + "/wintermorning": true,
			auditproj.SignalOffHoursBulk + "/daytime":       false,
		} {
			if flagged[k] != want {
				t.Errorf("%s flagged %v, want %v", k, flagged[k], want)
			}
		}
	})
}

func TestThresholdsValidate(t *testing.T) {
	cases := []struct {
		name string
		edit func(*auditproj.Thresholds)
		ok   bool
	}{
		{"defaults", func(*auditproj.Thresholds) {}, true},
		{"peer factor below one", func(t *auditproj.Thresholds) { t.PeerFactor = 0.5 }, false},
		{"no minimum views", func(t *auditproj.Thresholds) { t.MinViewsPerHour = 0 }, false},
		{"working day backwards", func(t *auditproj.Thresholds) { t.WorkStart, t.WorkEnd = 18, 8 }, false},
		{"end after midnight", func(t *auditproj.Thresholds) { t.WorkEnd = 25 }, false},
		{"unknown zone", func(t *auditproj.Thresholds) { t.TimeZone = "Europe/Leeds" }, false},
		{"empty zone", func(t *auditproj.Thresholds) { t.TimeZone = "" }, false},
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
