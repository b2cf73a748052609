package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

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
			keys, err := readKeys(v.GetString("keys"))
			if err != nil {
				return err
			}
			return seed(cmd.Context(), pop, "http://"+v.GetString("http-addr"), keys, os.Stdout)
		},
	}
	seedFlags(cmd)
	cmd.Flags().String("http-addr", "127.0.0.1:8080", "the hub's HTTP address")
	cmd.Flags().String("keys", "", "CSV file of agency,system,api-key lines (issue keys with `contactpoint users keys add AGENCY SYSTEM`)")
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

// readKeys reads agency,system,key lines.
func readKeys(path string) (func(agency, system string) string, error) {
	if path == "" {
		return nil, errors.New("seeding needs the agency systems' API keys: pass --keys FILE (agency,system,key per line)")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keys file: %w", err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("keys file: %w", err)
	}
	keys := map[string]string{}
	for _, r := range rows {
		if len(r) == 3 {
			keys[r[0]+"/"+r[1]] = "Bearer " + r[2]
		}
	}
	return func(agency, system string) string { return keys[agency+"/"+system] }, nil
}

func seed(ctx context.Context, pop *synth.Population, baseURL string, keys func(agency, system string) string, out *os.File) error {
	feeds := pop.Feeds()
	total := 0
	for _, f := range feeds {
		total += f.Len()
	}
	fmt.Fprintf(out, "seeding %d children as %d records from %d agency systems...\n", pop.Len(), total, len(feeds))
	start := time.Now()
	bar := newBar(int64(total), "seeding")
	st, err := sendFeeds(ctx, feeds, loadOptions{BaseURL: baseURL, KeyFor: keys, Progress: func(n int) { _ = bar.Add(n) }})
	_ = bar.Finish()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "sent %d records in %s: %d accepted, %d duplicates, %d quarantined\n",
		st.Sent, time.Since(start).Round(time.Millisecond), st.Accepted, st.Duplicates, st.Quarantined)
	return nil
}
