package main

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"contactpoint/adapters/natsjs"
	"contactpoint/app/hub"
	"contactpoint/projections/directory"
	"contactpoint/synth"
)

func benchReplayCmd(v *viper.Viper) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Fill a fresh hub with a synthetic area, then rebuild the directory beside the live one while the hub serves; report CHILDREN events/s, the switch and peak memory",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return benchReplay(cmd.Context(), v)
		},
	}
	cmd.Flags().Int("children", 80000, "children in the synthetic area")
	cmd.Flags().Uint64("seed", 1, "random seed")
	cmd.Flags().Int("runs", 3, "rebuilds to time (each on the filled hub)")
	cmd.Flags().String("projection", directory.Name, "the projection to rebuild: "+strings.Join(replayable, ", "))
	cmd.Flags().String("cpuprofile", "", "write a CPU profile of the rebuilds to this file")
	benchHubFlags(cmd)
	return cmd
}

func benchReplay(ctx context.Context, v *viper.Viper) error {
	pop := synth.Generate(synth.Config{Children: v.GetInt("children"), Seed: v.GetUint64("seed")})
	feeds := pop.Feeds()
	h, stopHub, err := benchHub(ctx, v, hub.FeedsConfig{}, false)
	if err != nil {
		return err
	}
	defer stopHub()
	fill := time.Now()
	if _, err := sendFeeds(ctx, feeds, loadOptions{BaseURL: "http://" + h.Addr(), KeyFor: benchKeys(ctx, h)}); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Minute)
	defer cancel()
	if err := h.WaitProjected(wctx); err != nil {
		return err
	}
	head, err := natsjs.LastSeq(ctx, h.NATS.JS, natsjs.StreamChildren)
	if err != nil {
		return err
	}
	n, s, err := directory.NewStore(h.DB).Count(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("filled in %s: %d CHILDREN messages, %d children, %d source records; host: %d CPUs, load %s\n",
		time.Since(fill).Round(time.Second), head, n, s, runtime.NumCPU(), loadAverage())
	// How fast the stream alone is read, as a rebuild reads it (an ordered
	// consumer, batches of 20,000): the bound on any load phase.
	read := time.Now()
	var got int
	if err := natsjs.Follow(ctx, h.NATS.JS, natsjs.StreamChildren, 1, head, 20_000, func(msgs []jetstream.Msg) error {
		got += len(msgs)
		return nil
	}); err != nil {
		return err
	}
	fmt.Printf("read %d CHILDREN messages in %s (%.0f messages/s)\n", got, time.Since(read).Round(time.Millisecond), float64(got)/time.Since(read).Seconds())
	stopProfile, err := startCPUProfile(v.GetString("cpuprofile"))
	if err != nil {
		return err
	}
	defer stopProfile()
	for i := 0; i < v.GetInt("runs"); i++ {
		runtime.GC()
		resetPeakRSS()
		st, err := h.RebuildProjection(ctx, v.GetString("projection"))
		if err != nil {
			return err
		}
		build := st.Load + st.Indexes + st.CatchUp + st.Switch
		fmt.Printf("run %d (%s): %d events; load %s (%.0f events/s; of it reading and folding %s), indexes %s, catch-up %s, switch %s; whole rebuild %.0f events/s; peak memory %s\n",
			i+1, v.GetString("projection"), st.Events, st.Load.Round(time.Millisecond), float64(st.Events)/st.Load.Seconds(), st.Fold.Round(time.Millisecond),
			st.Indexes.Round(time.Millisecond), st.CatchUp.Round(time.Millisecond), st.Switch.Round(time.Millisecond),
			float64(st.Events)/build.Seconds(), peakRSS())
	}
	return nil
}
