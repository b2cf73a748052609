package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
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
// which `bench ingest` measures), then runs exact and misspelt
// name-and-date-of-birth searches from concurrent clients, through the
// directory Store and bare in PostgreSQL, and reports searches/s, latency
// percentiles and how often the right child ranks first.
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
	seed, _ := f.GetUint64("seed")
	dsn, _ := f.GetString("bench-database-url")
	reload, _ := f.GetBool("reload")
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
	var exact, misspelt []benchQuery
	for range nq {
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
	}
	store := directory.NewStore(pool)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "children\tmode\tpath\tclients\tsearches/s\tp50 ms\tp95 ms\tp99 ms\tright child first\t\n")
	for _, mode := range []struct {
		name string
		qs   []benchQuery
	}{{"exact", exact}, {"misspelt", misspelt}} {
		for _, path := range []string{"store", "bare-sql"} {
			res := runBench(ctx, pool, store, path, mode.qs, clients, dur)
			first := "-"
			if path == "store" {
				first = fmt.Sprintf("%.2f%% (%d/%d)", 100*float64(res.first)/float64(res.ranked), res.first, res.ranked)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%s\t\n", n, mode.name, path, clients, res.rate,
				ms(res.pct(50)), ms(res.pct(95)), ms(res.pct(99)), first)
		}
	}
	return tw.Flush()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

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
	if _, err := pool.Exec(ctx, "analyze directory"); err != nil {
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

type benchResult struct {
	lat           []time.Duration
	rate          float64
	first, ranked int
}

func (b benchResult) pct(p int) time.Duration {
	if len(b.lat) == 0 {
		return 0
	}
	return b.lat[min(len(b.lat)-1, len(b.lat)*p/100)]
}

func runBench(ctx context.Context, pool *pgxpool.Pool, store *directory.Store, path string, qs []benchQuery, clients int, dur time.Duration) benchResult {
	var next atomic.Int64
	var mu sync.Mutex
	var res benchResult
	deadline := time.Now().Add(dur)
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			var first, ranked int
			for time.Now().Before(deadline) && ctx.Err() == nil {
				k := int(next.Add(1)-1) % len(qs)
				q := qs[k]
				t0 := time.Now()
				if path == "store" {
					hits, err := store.Search(ctx, q.c)
					lat = append(lat, time.Since(t0))
					// Queries repeat once the list is used up: each run of
					// a query counts, which weighs them all alike.
					ranked++
					if err == nil && len(hits) > 0 && hits[0].View.ChildID == q.want {
						first++
					}
					continue
				}
				sql, args := q.c.Query()
				rows, err := pool.Query(ctx, sql, args...)
				if err == nil {
					for rows.Next() {
					}
					rows.Close()
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			res.lat = append(res.lat, lat...)
			res.first += first
			res.ranked += ranked
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.rate = float64(len(res.lat)) / time.Since(start).Seconds()
	sort.Slice(res.lat, func(i, j int) bool { return res.lat[i] < res.lat[j] })
	return res
}
