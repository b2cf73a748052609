package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"contactpoint/adapters/postgres"
	"contactpoint/domain/child"
	"contactpoint/domain/record"
	"contactpoint/projections/directory"
	"contactpoint/synth"
)

// benchSearchCmd: contactpoint bench search. It loads a synthetic area
// straight into a benchmark database's directory (bypassing the event log,
// which `bench ingest` measures), then runs exact, misspelt and mixed
// name-and-date-of-birth searches from concurrent clients, through the
// directory Store and bare in PostgreSQL, both flat out and at a fixed
// rate, and reports searches/s, latency percentiles and how often the
// right child ranks first.
func benchSearchCmd(v *viper.Viper) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "search",
		Short: "Search throughput, latency and ranking at a given number of children",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return benchSearch(cmd.Context(), cmd)
		},
	}
	f := cmd.Flags()
	f.Int("children", 80000, "children in the directory")
	f.Int("clients", 32, "concurrent searching clients")
	f.Duration("duration", 15*time.Second, "how long each mode runs")
	f.Int("queries", 5000, "distinct queries per mode")
	f.Float64("rate", 500, "searches/s offered in the fixed-rate run, spread over the clients, with latency counted from each search's scheduled start; 0 skips it")
	f.Bool("flat-out", true, "also run each mode with every client searching back to back")
	f.StringSlice("modes", []string{"exact", "misspelt", "mixed"}, "query sets to time: exact, misspelt, mixed (half of each)")
	f.Uint64("seed", 1, "random seed")
	f.String("bench-database-url", "postgres://postgres@127.0.0.1:5432/contactpoint_bench?sslmode=disable", "benchmark database (created if missing; its directory is replaced when the size differs)")
	f.Bool("reload", false, "reload the directory even if it already holds the requested number of children")
	return cmd
}

type benchQuery struct {
	c    directory.Criteria
	want string // child id
}

func benchSearch(ctx context.Context, cmd *cobra.Command) error {
	f := cmd.Flags()
	n, _ := f.GetInt("children")
	clients, _ := f.GetInt("clients")
	dur, _ := f.GetDuration("duration")
	nq, _ := f.GetInt("queries")
	rate, _ := f.GetFloat64("rate")
	flatOut, _ := f.GetBool("flat-out")
	modeNames, _ := f.GetStringSlice("modes")
	seed, _ := f.GetUint64("seed")
	dsn, _ := f.GetString("bench-database-url")
	reload, _ := f.GetBool("reload")
	if clients < 1 || nq < 1 || dur <= 0 || rate < 0 {
		return errors.New("--clients, --queries and --duration must be positive and --rate not negative")
	}
	if !flatOut && rate == 0 {
		return errors.New("nothing to run: --flat-out=false needs a --rate")
	}
	// The pool size goes into the URL, which CREATE DATABASE's connection
	// would refuse, so the database is made first.
	if err := postgres.CreateDatabase(ctx, dsn); err != nil {
		return err
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		dsn += fmt.Sprintf("%spool_max_conns=%d", sep, clients+4)
	}
	pool, err := postgres.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer pool.Close()

	fmt.Fprintf(os.Stderr, "generating %d children...\n", n)
	pop := synth.Generate(synth.Config{Children: n, Seed: seed})
	var have int
	if err := pool.QueryRow(ctx, "select count(*) from directory").Scan(&have); err != nil {
		return fmt.Errorf("count directory: %w", err)
	}
	if have != n || reload {
		if err := loadBench(ctx, pool, pop, n); err != nil {
			return err
		}
	}

	r := rand.New(rand.NewPCG(seed, 7))
	var exact, misspelt, mixed []benchQuery
	for k := range nq {
		i := r.IntN(pop.Len())
		p := pop.Person(i)
		id := benchID(i).String()
		c := directory.Criteria{Family: p.Name.Family, Given: p.Name.Given, BirthDate: p.BirthDate}
		exact = append(exact, benchQuery{c, id})
		m := c
		switch r.IntN(3) {
		case 0:
			m.Family = misspell(r, m.Family)
		case 1:
			m.Given = misspell(r, m.Given)
		default:
			m.Family, m.Given = misspell(r, m.Family), misspell(r, m.Given)
		}
		misspelt = append(misspelt, benchQuery{m, id})
		if k%2 == 0 {
			mixed = append(mixed, benchQuery{c, id})
		} else {
			mixed = append(mixed, benchQuery{m, id})
		}
	}
	sets := map[string][]benchQuery{"exact": exact, "misspelt": misspelt, "mixed": mixed}
	for _, m := range modeNames {
		if sets[m] == nil {
			return fmt.Errorf("unknown mode %q: use exact, misspelt or mixed", m)
		}
	}
	store := directory.NewStore(pool)
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "host: %d CPUs, load average %s at start; client, server and any other work share them\n", runtime.NumCPU(), loadAverage())

	// Ranking is judged on every distinct query once, apart from timing.
	// Run from as many clients as the timed runs, the pass also opens and
	// warms their connections (server caches, prepared statements, the
	// first few planned-per-call executions), so the first timed mode is
	// not penalised for running first.
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "children\tmode\tright child first\tnot first\tnot found\ttoo many\terrors\t\n")
	for _, name := range []string{"exact", "misspelt"} {
		rk := rankAll(ctx, store, sets[name], clients)
		fmt.Fprintf(tw, "%d\t%s\t%.2f%% (%d/%d)\t%d\t%d\t%d\t%d\t\n", n, name, 100*float64(rk.first)/float64(len(sets[name])), rk.first, len(sets[name]),
			rk.other, rk.missing, rk.tooMany, rk.errs)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out)

	// Fixed widths rather than a tabwriter: rows are printed as each mode
	// finishes, which at a million children is minutes apart.
	const row = "%9v %9v %9v %9v %8v %11v %8v %8v %8v %8v %7v\n"
	fmt.Fprintf(out, row, "children", "mode", "path", "load", "clients", "searches/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors")
	var loads []float64
	if flatOut {
		loads = append(loads, 0)
	}
	if rate > 0 {
		loads = append(loads, rate)
	}
	for _, name := range modeNames {
		for _, load := range loads {
			for _, path := range []string{"store", "bare-sql"} {
				do := func(c directory.Criteria) error { return searchOnce(ctx, pool, store, path, c) }
				res := runBench(ctx, do, sets[name], clients, dur, load)
				what := "flat-out"
				if load > 0 {
					what = fmt.Sprintf("%g/s", load)
				}
				fmt.Fprintf(out, row, n, name, path, what, clients, fmt.Sprintf("%.0f", res.rate),
					ms(res.pct(50)), ms(res.pct(95)), ms(res.pct(99)), ms(res.pct(100)), res.errs)
			}
		}
	}
	if rate > 0 {
		// The floor: a round trip that does no work, at the same rate. On a
		// small shared machine much of the tail is waiting for a CPU, and
		// this row shows how much, at the time of the run.
		one := func(directory.Criteria) error {
			_, err := pool.Exec(ctx, "select 1")
			return err
		}
		res := runBench(ctx, one, exact, clients, dur, rate)
		fmt.Fprintf(out, row, n, "floor", "select-1", fmt.Sprintf("%g/s", rate), clients, fmt.Sprintf("%.0f", res.rate),
			ms(res.pct(50)), ms(res.pct(95)), ms(res.pct(99)), ms(res.pct(100)), res.errs)
	}
	fmt.Fprintf(out, "load average %s at end\n", loadAverage())
	return ctx.Err()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d.Microseconds())/1000) }

// loadAverage reads the one-minute load average where the system offers
// it: figures from a shared machine mean little without it.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "unknown"
}

// benchID is the child id of synthetic person i.
func benchID(i int) uuid.UUID {
	return uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "contactpoint-bench-%d", i))
}

func loadBench(ctx context.Context, pool *pgxpool.Pool, pop *synth.Population, n int) error {
	fmt.Fprintf(os.Stderr, "loading %d children into the directory...\n", n)
	start := time.Now()
	if _, err := pool.Exec(ctx, "truncate directory, directory_sources"); err != nil {
		return fmt.Errorf("bench load: %w", err)
	}
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	const chunk = 5000
	for lo := 0; lo < n; lo += chunk {
		states := make([]*child.State, 0, chunk)
		for i := lo; i < min(lo+chunk, n); i++ {
			p := pop.Person(i)
			a := p.Address
			st := child.NewState(benchID(i).String())
			st.Apply(child.Batch{Events: []child.Event{{Type: child.TypeStated, At: at, Stated: &child.Stated{
				Source: record.Source{Agency: "health", System: "bench-pas", RecordID: fmt.Sprint(i)},
				Child: record.Child{Identifiers: &record.Identifiers{NHSNumber: p.NHSNumber, UPN: p.UPN}, Name: p.Name,
					BirthDate: p.BirthDate, Gender: p.Gender, Address: &a},
			}}}})
			states = append(states, st)
		}
		if err := directory.BulkLoad(ctx, pool, states, nil); err != nil {
			return err
		}
	}
	// VACUUM as well as ANALYZE: a live directory is vacuumed by autovacuum
	// long before it is searched at this size, and without the visibility
	// map a freshly copied table would be measured at its worst.
	if _, err := pool.Exec(ctx, "vacuum analyze directory"); err != nil {
		return fmt.Errorf("bench load: %w", err)
	}
	fmt.Fprintf(os.Stderr, "loaded in %s\n", time.Since(start).Round(time.Second))
	return nil
}

// misspell makes one typing error: a dropped, doubled, swapped or wrong
// letter, never in the first letter (people rarely get that wrong).
func misspell(r *rand.Rand, s string) string {
	b := []byte(s)
	if len(b) < 4 {
		return s
	}
	i := 1 + r.IntN(len(b)-2)
	switch r.IntN(4) {
	case 0:
		return string(append(b[:i:i], b[i+1:]...))
	case 1:
		return string(append(b[:i+1:i+1], b[i:]...))
	case 2:
		b[i], b[i+1] = b[i+1], b[i]
		return string(b)
	default:
		b[i] = "aeiourstnl"[r.IntN(10)]
		return string(b)
	}
}

type ranking struct {
	first, other, missing, tooMany, errs int
}

// rankAll runs every query once through the store and counts where the
// right child came.
func rankAll(ctx context.Context, store *directory.Store, qs []benchQuery, workers int) ranking {
	var next atomic.Int64
	var mu sync.Mutex
	var rk ranking
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var my ranking
			for ctx.Err() == nil {
				k := int(next.Add(1) - 1)
				if k >= len(qs) {
					break
				}
				hits, err := store.Search(ctx, qs[k].c)
				var tm *directory.TooManyError
				switch {
				case errors.As(err, &tm):
					my.tooMany++
				case err != nil:
					my.errs++
				case len(hits) > 0 && hits[0].View.ChildID == qs[k].want:
					my.first++
				case found(hits, qs[k].want):
					my.other++
				default:
					my.missing++
				}
			}
			mu.Lock()
			rk.first += my.first
			rk.other += my.other
			rk.missing += my.missing
			rk.tooMany += my.tooMany
			rk.errs += my.errs
			mu.Unlock()
		})
	}
	wg.Wait()
	return rk
}

func found(hits []directory.Hit, id string) bool {
	for _, h := range hits {
		if h.View.ChildID == id {
			return true
		}
	}
	return false
}

type benchResult struct {
	lat  []time.Duration
	rate float64
	errs int
}

func (b benchResult) pct(p int) time.Duration {
	if len(b.lat) == 0 {
		return 0
	}
	return b.lat[min(len(b.lat)-1, len(b.lat)*p/100)]
}

// runBench times one query set on one path. With rate 0 every client
// searches back to back (closed loop): throughput is the most the machine
// gives, and latency is mostly queueing, about clients ÷ throughput. With
// a rate the searches are scheduled at fixed intervals whatever happens
// (open loop) and each latency runs from the scheduled start, not the
// actual one, so a stall that delays later searches counts against them
// instead of quietly lowering the load (coordinated omission).
func runBench(ctx context.Context, search func(directory.Criteria) error, qs []benchQuery, clients int, dur time.Duration, rate float64) benchResult {
	var next atomic.Int64
	var mu sync.Mutex
	var res benchResult
	start := time.Now()
	deadline := start.Add(dur)
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(time.Second) / rate)
	}
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			var lat []time.Duration
			var errs int
			for ctx.Err() == nil {
				k := next.Add(1) - 1
				t0 := time.Now()
				if rate > 0 {
					t0 = start.Add(time.Duration(k) * interval)
					if !t0.Before(deadline) {
						break
					}
					if d := time.Until(t0); d > 0 {
						time.Sleep(d)
					}
				} else if !t0.Before(deadline) {
					break
				}
				// Queries repeat once the list is used up.
				q := qs[int(k)%len(qs)]
				if err := search(q.c); err != nil {
					var tm *directory.TooManyError
					if !errors.As(err, &tm) {
						errs++
					}
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			res.lat = append(res.lat, lat...)
			res.errs += errs
			mu.Unlock()
		})
	}
	wg.Wait()
	res.rate = float64(len(res.lat)) / time.Since(start).Seconds()
	sort.Slice(res.lat, func(i, j int) bool { return res.lat[i] < res.lat[j] })
	return res
}

// searchOnce runs one search through the store, or its SQL bare, reading
// every row either way.
func searchOnce(ctx context.Context, pool *pgxpool.Pool, store *directory.Store, path string, c directory.Criteria) error {
	if path == "store" {
		_, err := store.Search(ctx, c)
		return err
	}
	sql, args := c.Query()
	rows, err := pool.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	for rows.Next() {
	}
	rows.Close()
	return rows.Err()
}
