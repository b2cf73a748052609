package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spf13/viper"

	"contactpoint/adapters/postgres/pgtest"
	"contactpoint/projections/directory"
)

// TestBenchSearchRuns runs the search benchmark on a small area so that
// the command keeps working; CONTACTPOINT_BENCH_SEARCH_ARGS runs it with
// other flags (e.g. "--children 1000000 --duration 30s").
func TestBenchSearchRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("benchmark")
	}
	args := []string{"--children", "3000", "--duration", "500ms", "--queries", "300", "--clients", "4", "--rate", "200"}
	custom := os.Getenv("CONTACTPOINT_BENCH_SEARCH_ARGS")
	if custom != "" {
		args = strings.Fields(custom)
	}
	cmd := benchSearchCmd(viper.New())
	if !hasFlag(args, "--bench-database-url") {
		args = append(args, "--bench-database-url", pgtest.NewDatabase(t))
	}
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs(args)
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", out.String())
	if custom != "" {
		return
	}
	// Both loads, every mode and both paths, and the ranking pass.
	for _, want := range []string{"flat-out", "200/s", " exact ", " misspelt ", " mixed ", " store ", " bare-sql ", "right child first"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// TestFixedRateCountsFromSchedule: a search that takes 20 ms, one client,
// offered 100 searches/s. The client manages 50/s, so searches fall ever
// further behind their schedule; the fixed-rate run must show that in its
// latency instead of reporting the 20 ms each search took once started.
func TestFixedRateCountsFromSchedule(t *testing.T) {
	slow := func(directory.Criteria) error { time.Sleep(20 * time.Millisecond); return nil }
	qs := []benchQuery{{}}
	closed := runBench(context.Background(), slow, qs, 1, time.Second, 0)
	open := runBench(context.Background(), slow, qs, 1, time.Second, 100)
	if p := closed.pct(50); p < 20*time.Millisecond || p > 60*time.Millisecond {
		t.Errorf("flat-out p50 %s, want about 20ms", p)
	}
	// 100 searches scheduled over 1 s take 2 s to serve: the last starts
	// about a second late.
	if p := open.pct(99); p < 700*time.Millisecond {
		t.Errorf("fixed-rate p99 %s hides the backlog", p)
	}
	if len(open.lat) < 90 || len(open.lat) > 100 {
		t.Errorf("fixed-rate run served %d searches, want the 100 scheduled", len(open.lat))
	}
	if open.rate > 60 {
		t.Errorf("fixed-rate run reports %.0f/s, more than the client could serve", open.rate)
	}
}

func hasFlag(args []string, f string) bool {
	for _, a := range args {
		if a == f || strings.HasPrefix(a, f+"=") {
			return true
		}
	}
	return false
}
