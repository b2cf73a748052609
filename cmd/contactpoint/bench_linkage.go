package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"contactpoint/adapters/natsjs"
	"contactpoint/adapters/postgres"
	"contactpoint/app/hub"
	"contactpoint/app/linker"
	"contactpoint/domain/record"
	"contactpoint/synth"
)

func benchLinkageCmd(v *viper.Viper) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "linkage",
		Short: "Seed N children with the generator's errors through the real intake and linker, and score the links against the ground truth",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return benchLinkage(cmd.Context(), v)
		},
	}
	cmd.Flags().Int("children", 80000, "children in the synthetic area")
	cmd.Flags().Uint64("seed", 1, "random seed")
	cmd.Flags().String("cpuprofile", "", "write a CPU profile of the linking phase to this file")
	cmd.Flags().String("memprofile", "", "write a heap profile, taken when linking ends, to this file")
	cmd.Flags().Bool("quality", true, "project the directory and score the links against the truth (false: time the linker only)")
	cmd.Flags().String("linkage-weights", "", "link under this rules file (default: the built-in rules)")
	cmd.Flags().String("train-out", "", "after linking, train the next rules version on the area as linked and write it here")
	benchHubFlags(cmd)
	return cmd
}

// pairCounts scores a clustering against the truth by record pairs.
type pairCounts struct{ predicted, truth, both int64 }

func choose2(n int64) int64 { return n * (n - 1) / 2 }

func benchLinkage(ctx context.Context, v *viper.Viper) error {
	pop := synth.Generate(synth.Config{Children: v.GetInt("children"), Seed: v.GetUint64("seed")})
	feeds := pop.Feeds()
	// The truth is keyed by a digest of each source key: a map of plain
	// values that adds nothing to the garbage collector's marking while the
	// linker is timed.
	truth := map[sourceDigest]int{}
	total := 0
	for _, f := range feeds {
		for i := 0; i < f.Len(); i++ {
			tr := f.Truth(i)
			truth[digestSource(tr.Agency, tr.System, tr.RecordID)] = tr.Person
		}
		total += f.Len()
	}
	fmt.Printf("population: %d children, %d feed records\n", pop.Len(), total)

	// Linker and directory wait until FEEDS is full, so the linker can be
	// timed alone; the directory then catches up for the scoring.
	h, stop, err := benchHubWith(ctx, v, hub.Config{DeferLinker: true, DeferDirectory: true, LinkageRules: v.GetString("linkage-weights")})
	if err != nil {
		return err
	}
	defer stop()
	if _, err := sendFeeds(ctx, feeds, loadOptions{BaseURL: "http://" + h.Addr(), KeyFor: benchKeys(ctx, h)}); err != nil {
		return err
	}
	// The generator's population is not the linker's to carry: let it go
	// so that the heap measured while linking is the hub's own.
	pop, feeds = nil, nil
	runtime.GC()
	feedLast, err := natsjs.LastSeq(ctx, h.NATS.JS, natsjs.StreamFeeds)
	if err != nil {
		return err
	}
	// Time the linker alone over a full FEEDS stream.
	stopProfile, err := startCPUProfile(v.GetString("cpuprofile"))
	if err != nil {
		return err
	}
	defer stopProfile()
	var gcBefore, gcAfter runtime.MemStats
	runtime.ReadMemStats(&gcBefore)
	cpuBefore := processCPU()
	start := time.Now()
	h.StartLinker()
	for {
		cp, err := postgres.Checkpoint(ctx, h.DB, linker.CheckpointName)
		if err != nil {
			return err
		}
		if cp >= feedLast {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	linkTime := time.Since(start)
	linkCPU := processCPU() - cpuBefore
	runtime.ReadMemStats(&gcAfter)
	stopProfile()
	if p := v.GetString("memprofile"); p != "" {
		if err := writeHeapProfile(p); err != nil {
			return err
		}
	}
	st := h.Linker.Stats()
	linkReport := func() {
		fmt.Printf("linking: %d records in %s = %.0f records/s (the linker alone over a full FEEDS stream, CHILDREN appends included)\n",
			total, linkTime.Round(time.Millisecond), float64(total)/linkTime.Seconds())
		fmt.Printf("CPU while linking (whole process, embedded NATS included): %s = %.1f µs per record\n",
			linkCPU.Round(time.Millisecond), float64(linkCPU.Microseconds())/float64(total))
		fmt.Printf("blocking: %.2f candidate children scored per record\n", float64(st.Scored)/float64(max(st.Decided, 1)))
		fmt.Printf("garbage collection while linking: %d cycles, %.1f%% of CPU since start, heap in use after %d MiB\n",
			gcAfter.NumGC-gcBefore.NumGC, 100*gcAfter.GCCPUFraction, gcAfter.HeapInuse>>20)
		fmt.Printf("peak memory (VmHWM, whole process incl. embedded NATS): %s\n", peakRSS())
	}
	if !v.GetBool("quality") {
		linkReport()
		// What a restart costs: the index rebuilt from CHILDREN alone.
		start := time.Now()
		idx, err := linker.RebuildIndex(ctx, h.NATS.JS)
		if err != nil {
			return err
		}
		fmt.Printf("index rebuilt from CHILDREN (as on start): %d children in %s\n", idx.Children(), time.Since(start).Round(time.Millisecond))
		// And with the snapshot the linker keeps: its copy (the pause
		// linking sees), its write, and a start that reads it.
		dir, err := os.MkdirTemp("", "linker-snapshot-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		snap, err := idx.Snapshot(ctx, h.NATS.JS, dir)
		if err != nil {
			return err
		}
		fmt.Printf("index snapshot: %d MiB, copied in %s (linking paused), written and synced in %s (beside linking)\n",
			snap.Size>>20, snap.Pause.Round(time.Millisecond), snap.Write.Round(time.Millisecond))
		start = time.Now()
		loaded, tail, why, err := linker.LoadIndex(ctx, h.NATS.JS, dir)
		if err != nil {
			return err
		}
		if why != "" {
			return fmt.Errorf("index snapshot not used: %s", why)
		}
		fmt.Printf("index from the snapshot (as on start): %d children in %s, %d CHILDREN messages after it\n",
			loaded.Children(), time.Since(start).Round(time.Millisecond), tail)
		return nil
	}
	h.StartDirectory()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	if err := h.WaitProjected(wctx); err != nil {
		return err
	}

	// Score the links by record pairs.
	got := map[sourceDigest]uuid.UUID{}
	rows, err := h.DB.Query(ctx, `select agency, system, record_id, child_id from directory_sources`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var k record.SourceKey
		var id uuid.UUID
		if err := rows.Scan(&k.Agency, &k.System, &k.RecordID, &id); err != nil {
			return err
		}
		got[digestSource(k.Agency, k.System, k.RecordID)] = id
	}
	rows.Close()
	byChild := map[uuid.UUID]int64{}
	byPerson := map[int]int64{}
	byBoth := map[[2]any]int64{}
	for k, p := range truth {
		c, ok := got[k]
		if !ok {
			return fmt.Errorf("%d source records were not linked", len(truth)-len(got))
		}
		byChild[c]++
		byPerson[p]++
		byBoth[[2]any{c, p}]++
	}
	var pc pairCounts
	for _, n := range byChild {
		pc.predicted += choose2(n)
	}
	for _, n := range byPerson {
		pc.truth += choose2(n)
	}
	for _, n := range byBoth {
		pc.both += choose2(n)
	}
	precision := float64(pc.both) / float64(max(pc.predicted, 1))
	recall := float64(pc.both) / float64(max(pc.truth, 1))
	f1 := 2 * precision * recall / max(precision+recall, 1e-12)

	// What the review queue holds: how many tasks, and how many of them
	// are true matches, so the figures after stewards' work can be told.
	counts, err := h.Store.ReviewCounts(ctx)
	if err != nil {
		return err
	}
	tasks, err := h.DB.Query(ctx, `select child_id, candidate_id from review_tasks where status = 'open'`)
	if err != nil {
		return err
	}
	personOf := map[uuid.UUID]map[int]bool{}
	for k, c := range got {
		if personOf[c] == nil {
			personOf[c] = map[int]bool{}
		}
		personOf[c][truth[k]] = true
	}
	trueTasks := 0
	for tasks.Next() {
		var a, b uuid.UUID
		if err := tasks.Scan(&a, &b); err != nil {
			return err
		}
		for p := range personOf[a] {
			if personOf[b][p] {
				trueTasks++
				break
			}
		}
	}
	tasks.Close()

	fmt.Printf("children in the directory: %d (true: %d)\n", len(byChild), len(byPerson))
	fmt.Printf("pairwise precision %.5f  recall %.5f  F1 %.5f   (true pairs %d, linked pairs %d, correct %d)\n",
		precision, recall, f1, pc.truth, pc.predicted, pc.both)
	fmt.Printf("automatic-link precision: %.5f (every link above was made by the linker; no steward decisions)\n", precision)
	fmt.Printf("review tasks: %d open (%.2f%% of records), of which %d are true matches\n",
		counts["open"], 100*float64(counts["open"])/float64(total), trueTasks)
	linkReport()
	if out := v.GetString("train-out"); out != "" {
		start := time.Now()
		rules, err := h.Linker.Train(linker.DefaultTrainOptions())
		if err != nil {
			return err
		}
		if err := writeRules(out, rules); err != nil {
			return err
		}
		fmt.Printf("rules version %d trained on %d children, %d candidate pairs in %s, written to %s\n",
			rules.Version, rules.TrainedOn.Children, rules.TrainedOn.Pairs, time.Since(start).Round(time.Millisecond), out)
		printWeights(h.Linker.Rules(), rules)
	}
	// Blocking is measured last, on the population generated again, so
	// that its memory is not counted in the linker's.
	measureCompleteness(synth.Generate(synth.Config{Children: v.GetInt("children"), Seed: v.GetUint64("seed")})).report()
	return nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	runtime.GC()
	return pprof.WriteHeapProfile(f)
}

type sourceDigest [sha256.Size]byte

func digestSource(agency, system, recordID string) sourceDigest {
	return sha256.Sum256([]byte(agency + "\x00" + system + "\x00" + recordID))
}

// processCPU is the user and system CPU time the process has used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
