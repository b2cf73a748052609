package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"contactpoint/adapters/natsjs"
	"contactpoint/adapters/postgres"
	"contactpoint/app/hub"
	"contactpoint/app/linker"
	"contactpoint/projections/directory"
	"contactpoint/synth"
)

func benchCmd(v *viper.Viper) *cobra.Command {
	cmd := &cobra.Command{Use: "bench", Short: "Benchmarks that print their figures"}
	cmd.AddCommand(benchIngestCmd(v), benchLinkageCmd(v), benchSearchCmd(v), benchMLLPCmd(v), benchCTFCmd(v), benchSubjectsCmd(v), benchReplayCmd(v), benchFEBRLCmd(v))
	return cmd
}

func benchIngestCmd(v *viper.Viper) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "Load a synthetic population through HTTP intake into a fresh hub; report records/s end to end and peak memory",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return benchIngest(cmd.Context(), v)
		},
	}
	cmd.Flags().Int("children", 80000, "children in the synthetic area")
	cmd.Flags().Uint64("seed", 1, "random seed")
	cmd.Flags().Int("batch", 1000, "records per HTTP request")
	cmd.Flags().Int("concurrency", 4, "HTTP requests in flight")
	cmd.Flags().String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	benchHubFlags(cmd)
	return cmd
}

func benchIngest(ctx context.Context, v *viper.Viper) error {
	stopProfile, err := startCPUProfile(v.GetString("cpuprofile"))
	if err != nil {
		return err
	}
	defer stopProfile()
	genStart := time.Now()
	pop := synth.Generate(synth.Config{Children: v.GetInt("children"), Seed: v.GetUint64("seed")})
	feeds := pop.Feeds()
	total := 0
	for _, f := range feeds {
		total += f.Len()
	}
	fmt.Printf("population: %d children, %d feed records in %d systems (generated in %s)\n",
		pop.Len(), total, len(feeds), time.Since(genStart).Round(time.Millisecond))

	h, stopHub, err := benchHub(ctx, v, hub.FeedsConfig{}, false)
	if err != nil {
		return err
	}
	defer stopHub()

	// Sample the stages while loading so the report can say where time goes.
	type mark struct{ linked, projected time.Time }
	var m mark
	stop := make(chan struct{})
	sampled := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(sampled)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			fi, err1 := natsjs.LastSeq(ctx, h.NATS.JS, natsjs.StreamFeeds)
			lk, err2 := postgres.Checkpoint(ctx, h.DB, linker.CheckpointName)
			if err1 == nil && err2 == nil && fi >= uint64(total) && lk >= fi && m.linked.IsZero() {
				m.linked = time.Now()
			}
		}
	}()
	st, err := sendFeeds(ctx, feeds, loadOptions{
		BaseURL: "http://" + h.Addr(), BatchSize: v.GetInt("batch"), Concurrency: v.GetInt("concurrency"), KeyFor: benchKeys(ctx, h),
	})
	accepted := time.Now()
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	if err := h.WaitProjected(wctx); err != nil {
		return err
	}
	m.projected = time.Now()
	close(stop)
	<-sampled
	if m.linked.IsZero() {
		m.linked = m.projected
	}
	n, s, err := directory.NewStore(h.DB).Count(ctx)
	if err != nil {
		return err
	}
	el := m.projected.Sub(start)
	fmt.Printf("records: sent %d, accepted %d, duplicates %d, quarantined %d\n", st.Sent, st.Accepted, st.Duplicates, st.Quarantined)
	fmt.Printf("directory: %d children, %d source records\n", n, s)
	fmt.Printf("intake (all accepted into FEEDS): %8s  %8.0f records/s\n", accepted.Sub(start).Round(time.Millisecond), float64(st.Sent)/accepted.Sub(start).Seconds())
	fmt.Printf("linked (CHILDREN appended):       %8s\n", m.linked.Sub(start).Round(time.Millisecond))
	fmt.Printf("end to end (visible in directory): %7s  %8.0f records/s\n", el.Round(time.Millisecond), float64(st.Sent)/el.Seconds())
	fmt.Printf("peak memory (VmHWM, whole process incl. embedded NATS and generator): %s\n", peakRSS())
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("go heap in use at end: %d MiB, GC cycles: %d\n", ms.HeapInuse>>20, ms.NumGC)
	return nil
}

// peakRSS reads the process's high-water resident set size.
// startCPUProfile profiles the CPU into path (none when path is empty)
// until the returned stop is called; stop may be called more than once.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			pprof.StopCPUProfile()
			f.Close()
		})
	}, nil
}

func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:"))
		}
	}
	return "unknown"
}
