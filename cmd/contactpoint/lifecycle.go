package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"contactpoint/app/hub"
)

// lifecycleCmd runs the records' lifecycle once: archive at the law's day,
// erase six years on (domain/retention). With the embedded event log run it
// while the hub is stopped; the running hub does the same daily.
func lifecycleCmd(v *viper.Viper) *cobra.Command {
	cmd := &cobra.Command{Use: "lifecycle", Short: "Archive and erase children's records when the law says"}
	var dry bool
	run := &cobra.Command{
		Use:   "run",
		Short: "Apply what is due today (--dry-run lists it and changes nothing)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := hubConfig(v)
			cfg.HTTPAddr, cfg.LifecycleEvery = "", -1
			ctx := cmd.Context()
			h, err := hub.Start(ctx, cfg, logger(v))
			if err != nil {
				return err
			}
			defer h.Close()
			// The linker must have rebuilt its index and the directory
			// caught up, so the plan sees today's children.
			wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
			defer cancel()
			if err := h.WaitProjected(wctx); err != nil {
				return fmt.Errorf("lifecycle: waiting for the directory: %w", err)
			}
			stop := spin("lifecycle run")
			rep, err := runWhenReady(wctx, h, dry)
			stop()
			if err != nil {
				return err
			}
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(rep)
		},
	}
	run.Flags().BoolVar(&dry, "dry-run", false, "list what is due without doing it")
	hubFlags(run.Flags())
	cmd.AddCommand(run)
	return cmd
}

// runWhenReady retries while the linker is still rebuilding its index.
func runWhenReady(ctx context.Context, h *hub.Hub, dry bool) (any, error) {
	for {
		rep, err := h.Retention.Run(ctx, dry)
		if err != nil {
			return nil, fmt.Errorf("lifecycle: %w", err)
		}
		retry := false
		for _, it := range rep.Items {
			if it.Error == "linker-not-ready" {
				retry = true
			}
		}
		if !retry {
			return rep, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// backupCmd copies what the hub keeps: the embedded event log's store and
// a pg_dump of the database (hub.Backup). Run it with the hub stopped.
func backupCmd(v *viper.Viper) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "backup --out DIR",
		Short: "Copy the embedded event log and dump the database into DIR (hub stopped)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("backup: --out is required")
			}
			if v.GetString("nats-url") != "" {
				return fmt.Errorf("backup: an external NATS cluster is backed up with its own tools (nats stream backup); this copies the embedded store")
			}
			return hub.Backup(cmd.Context(), v.GetString("data-dir"), v.GetString("database-url"), out)
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "directory to write the backup to")
	hubFlags(cmd.Flags())
	return cmd
}
