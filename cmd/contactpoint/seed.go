package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"contactpoint/app/loader"
	"contactpoint/synth"
)

func seedFlags(cmd *cobra.Command) {
	cmd.Flags().Int("children", 80000, "children in the synthetic area")
	cmd.Flags().Uint64("seed", 1, "random seed: the same seed gives the same population")
	cmd.Flags().String("truth", "", "write the ground truth (which source record is which child) to this CSV file; it never enters the hub")
}

func seedCmd(v *viper.Viper) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "seed",
		Short: "Send a synthetic pilot-area population to a running hub through its HTTP intake",
		RunE: func(cmd *cobra.Command, _ []string) error {
			pop := synth.Generate(synth.Config{Children: v.GetInt("children"), Seed: v.GetUint64("seed")})
			if err := writeTruth(pop, v.GetString("truth")); err != nil {
				return err
			}
			return seed(cmd.Context(), pop, "http://"+v.GetString("http-addr"), os.Stdout)
		},
	}
	seedFlags(cmd)
	cmd.Flags().String("http-addr", "127.0.0.1:8080", "the hub's HTTP address")
	return cmd
}

func writeTruth(pop *synth.Population, path string) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("truth file: %w", err)
	}
	defer f.Close()
	if err := pop.WriteTruthCSV(f); err != nil {
		return fmt.Errorf("truth file: %w", err)
	}
	return f.Close()
}

func seed(ctx context.Context, pop *synth.Population, baseURL string, out *os.File) error {
	feeds := pop.Feeds()
	total := 0
	for _, f := range feeds {
		total += f.Len()
	}
	fmt.Fprintf(out, "seeding %d children as %d records from %d agency systems...\n", pop.Len(), total, len(feeds))
	start := time.Now()
	st, err := loader.Send(ctx, feeds, loader.Options{BaseURL: baseURL})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "sent %d records in %s: %d accepted, %d duplicates, %d quarantined\n",
		st.Sent, time.Since(start).Round(time.Millisecond), st.Accepted, st.Duplicates, st.Quarantined)
	return nil
}
