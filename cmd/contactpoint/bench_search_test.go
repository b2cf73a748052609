package main

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/spf13/viper"

	"contactpoint/adapters/postgres/pgtest"
)

// TestBenchSearchRuns runs the search benchmark on a small area so that
// the command keeps working; CONTACTPOINT_BENCH_SEARCH_ARGS runs it with
// other flags (e.g. "--children 1000000 --duration 30s").
func TestBenchSearchRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("benchmark")
	}
	args := []string{"--children", "3000", "--duration", "500ms", "--queries", "300", "--clients", "4"}
	if a := os.Getenv("CONTACTPOINT_BENCH_SEARCH_ARGS"); a != "" {
		args = strings.Fields(a)
	}
	cmd := benchSearchCmd(viper.New())
	if !hasFlag(args, "--bench-database-url") {
		args = append(args, "--bench-database-url", pgtest.NewDatabase(t))
	}
	cmd.SetArgs(args)
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
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
