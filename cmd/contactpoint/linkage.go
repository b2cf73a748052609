package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"contactpoint/adapters/natsjs"
	"contactpoint/adapters/postgres"
	"contactpoint/app/hub"
	"contactpoint/app/linker"
	"contactpoint/domain/match"
)

func linkageCmd(v *viper.Viper) *cobra.Command {
	cmd := &cobra.Command{Use: "linkage", Short: "Duplicate resolution rules: train them on the area's own data, re-score the history under new ones"}
	train := &cobra.Command{
		Use:   "train",
		Short: "Estimate the next version of the linkage rules from the hub's own children and write it as a rules file",
		Long: `Reads CHILDREN into the linker's index (run it while the hub is stopped
when the event log is embedded), estimates u-probabilities from random pairs
of source records, m-probabilities by EM over the candidate pairs blocking
finds, and the share of children bearing each given and family name, and
writes the result as a versioned rules file: the version after the one in
force (linkage-weights, or the built-in defaults), the date, and what it
was trained on. Nothing in the hub changes: put the file in force with the
linkage-weights setting, after a shadow run with 'linkage rescore'.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return linkageTrain(cmd.Context(), v)
		},
	}
	hubFlags(train.Flags())
	train.Flags().String("out", "", "file to write the rules to (required)")
	train.Flags().Int("min-name-count", 10, "fewest children a name must have to be listed in the frequency table")
	train.Flags().Int("iterations", 200, "EM iterations at most")
	cmd.AddCommand(train)
	cmd.AddCommand(rescoreCmd(v))
	return cmd
}

// rulesInForce reads the linkage-weights file, or gives the defaults.
func rulesInForce(v *viper.Viper) (match.Rules, error) {
	if p := v.GetString("linkage-weights"); p != "" {
		return hub.ReadLinkageRules(p)
	}
	return match.DefaultRules(), nil
}

func linkageTrain(ctx context.Context, v *viper.Viper) error {
	out := v.GetString("out")
	if out == "" {
		return fmt.Errorf("linkage train: --out is required")
	}
	prior, err := rulesInForce(v)
	if err != nil {
		return err
	}
	cfg := hubConfig(v)
	nc, err := natsjs.Open(ctx, natsjs.Config{URL: cfg.NATSURL, DataDir: cfg.DataDir}, logger(v))
	if err != nil {
		return err
	}
	defer nc.Close()
	upTo, err := natsjs.LastSeq(ctx, nc.JS, natsjs.StreamChildren)
	if err != nil {
		return err
	}
	start := time.Now()
	idx, err := linker.RebuildIndex(ctx, nc.JS)
	if err != nil {
		return err
	}
	opt := linker.DefaultTrainOptions()
	opt.UpToSeq, opt.MinNameCount, opt.Iterations = upTo, v.GetInt("min-name-count"), v.GetInt("iterations")
	rules := linker.Train(idx, prior, opt)
	if err := writeRules(out, rules); err != nil {
		return err
	}
	t := rules.TrainedOn
	fmt.Printf("rules version %d written to %s in %s: %d children, %d source records, %d candidate pairs; %d given and %d family names in the frequency table\n",
		rules.Version, out, time.Since(start).Round(time.Millisecond), t.Children, t.Sources, t.Pairs, len(rules.Frequencies.Given), len(rules.Frequencies.Family))
	printWeights(prior, rules)
	return nil
}

// writeRules writes a rules file once: a version is never overwritten.
func writeRules(path string, r match.Rules) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("linkage rules: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("linkage rules: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("linkage rules: %w", err)
	}
	return f.Close()
}

// printWeights shows each level's weight under the old rules and the new.
func printWeights(old, now match.Rules) {
	fmt.Printf("%-20s %-9s %8s %8s\n", "field", "level", fmt.Sprintf("v%d", old.Version), fmt.Sprintf("v%d", now.Version))
	for f := match.Field(0); f < match.NumFields; f++ {
		for l := match.Level(1); l < match.NumLevels; l++ {
			a, b := old.Weights.Weight(f, l), now.Weights.Weight(f, l)
			if a == 0 && b == 0 {
				continue
			}
			fmt.Printf("%-20s %-9s %+8.1f %+8.1f\n", f, l, a, b)
		}
	}
}

func rescoreCmd(v *viper.Viper) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rescore",
		Short: "Shadow run: re-score the children under new rules and report which would merge or split; --apply lands the changes",
		Long: `Reads CHILDREN into the linker's index and scores every pair of children
blocking puts together, and every source record against the rest of its
child, under the rules in --weights. Without --apply nothing changes: it
reports the merges and splits the new rules would make, with examples.
With --apply the changes land as ordinary merges and splits by the linker,
their reason "rules version N", so shields, the decision log and the audit
follow as for any merge or split. Run it while the hub is stopped: the
linker is the single writer of linkage, and the hub's own linker reads the
changes from CHILDREN when it starts. Then put the new rules in force with
the linkage-weights setting.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return linkageRescore(cmd.Context(), v)
		},
	}
	hubFlags(cmd.Flags())
	cmd.Flags().String("weights", "", "the rules file to score under (required)")
	cmd.Flags().Bool("apply", false, "land the changes as merges and splits")
	cmd.Flags().Int("examples", 10, "examples of each kind of change to print")
	return cmd
}

func linkageRescore(ctx context.Context, v *viper.Viper) error {
	path := v.GetString("weights")
	if path == "" {
		return fmt.Errorf("linkage rescore: --weights is required")
	}
	rules, err := hub.ReadLinkageRules(path)
	if err != nil {
		return err
	}
	current, err := rulesInForce(v)
	if err != nil {
		return err
	}
	log := logger(v)
	cfg := hubConfig(v)
	pool, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	nc, err := natsjs.Open(ctx, natsjs.Config{URL: cfg.NATSURL, DataDir: cfg.DataDir}, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	l := linker.New(nc.JS, pool, log, linker.DefaultConfig().WithRules(current))
	stop := spin("reading CHILDREN")
	err = l.Load(ctx)
	stop()
	if err != nil {
		return err
	}
	stop = spin("rescoring")
	rep, err := l.Rescore(rules)
	stop()
	if err != nil {
		return err
	}
	fmt.Printf("rules version %d against version %d: %d children, %d pairs and %d source records scored; %d merges and %d splits\n",
		rules.Version, current.Version, rep.Children, rep.PairsScored, rep.SourcesChecked, rep.Merges(), rep.Splits())
	shown := map[string]int{}
	for _, c := range rep.Changes {
		if shown[c.Kind] >= v.GetInt("examples") {
			continue
		}
		shown[c.Kind]++
		e := match.ExplainDecision(c.Decision, rules.Weights)
		if c.Kind == "merge" {
			fmt.Printf("  merge %s and %s: %s\n", c.Child, c.Other, e)
		} else {
			fmt.Printf("  split %s out of %s: %s\n", c.Source, c.Child, e)
		}
	}
	if !v.GetBool("apply") {
		fmt.Println("nothing changed (shadow run); --apply lands these changes")
		return nil
	}
	stop = spin("landing merges and splits")
	n, err := l.ApplyRescore(ctx, rep)
	stop()
	if err != nil {
		return err
	}
	fmt.Printf("%d of %d changes landed as merges and splits, reason \"rules version %d\"\n", n, len(rep.Changes), rules.Version)
	return nil
}
