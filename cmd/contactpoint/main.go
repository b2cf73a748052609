// Command contactpoint runs the ContactPoint hub and its tools.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"contactpoint/adapters/postgres"
	"contactpoint/app/hub"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := rootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "contactpoint:", err)
		os.Exit(1)
	}
}

func rootCmd() *cobra.Command {
	v := viper.New()
	root := &cobra.Command{
		Use:           "contactpoint",
		Short:         "ContactPoint hub: one place to find a child and the practitioners working with them",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := loadConfig(v, cmd); err != nil {
				return err
			}
			return checkConfig(v, cmd)
		},
	}
	root.PersistentFlags().String("config", "", "config file (YAML, TOML or JSON); default ./contactpoint.yaml if present")
	root.PersistentFlags().String("log-level", "info", "debug, info, warn or error")
	root.PersistentFlags().String("log-format", "text", "text or json (one JSON object a line, for a log collector)")
	root.AddCommand(versionCmd())
	root.AddCommand(serveCmd(v), replayCmd(v), seedCmd(v), demoCmd(v), benchCmd(v), usersCmd(v), ingestCmd(v), quarantineCmd(v), linksCmd(v), linkageCmd(v), healthcheckCmd(),
		lifecycleCmd(v), backupCmd(v))
	return root
}

// hubFlags are the flags of every command that opens the hub's stores.
func hubFlags(fs *pflag.FlagSet) { hubFlagsWith(fs, "./data", postgres.DefaultURL) }

func hubFlagsWith(fs *pflag.FlagSet, dataDir, dbURL string) {
	fs.String("http-addr", "127.0.0.1:8080", "HTTP listen address")
	fs.String("data-dir", dataDir, "data directory (the embedded event log lives here)")
	fs.String("database-url", dbURL, "PostgreSQL URL")
	fs.String("nats-url", "", "external NATS server or cluster URL; empty embeds one")
	fs.String("nats-listen", "", "embedded NATS only: host:port to accept agency publishers on")
	fs.String("linkage-weights", "", "linkage rules file written by `linkage train` (default: the built-in weights and thresholds)")
}

// loadConfig layers flags over CONTACTPOINT_* environment over the config
// file over defaults.
func loadConfig(v *viper.Viper, cmd *cobra.Command) error {
	v.SetEnvPrefix("CONTACTPOINT")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()
	if err := v.BindPFlags(cmd.Flags()); err != nil {
		return err
	}
	if err := v.BindPFlags(cmd.PersistentFlags()); err != nil {
		return err
	}
	if f := v.GetString("config"); f != "" {
		v.SetConfigFile(f)
		if err := v.ReadInConfig(); err != nil {
			return fmt.Errorf("read config %s: %w", f, err)
		}
	} else {
		v.SetConfigName("contactpoint")
		v.AddConfigPath(".")
		if err := v.ReadInConfig(); err != nil {
			if _, ok := err.(viper.ConfigFileNotFoundError); !ok {
				return fmt.Errorf("read config: %w", err)
			}
		}
	}
	return nil
}

func logger(v *viper.Viper) *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(v.GetString("log-level"))); err != nil {
		lvl = slog.LevelInfo
	}
	if v.GetString("log-format") == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

func hubConfig(v *viper.Viper) hub.Config {
	return hub.Config{
		HTTPAddr:    v.GetString("http-addr"),
		DataDir:     v.GetString("data-dir"),
		DatabaseURL: v.GetString("database-url"),
		NATSURL:     v.GetString("nats-url"),
		NATSListen:  v.GetString("nats-listen"),
		NATSUsers:   natsUsers(v),
		Auth:        authConfig(v),
		Feeds:       feedsConfig(v),
		HTTPTLSCert: v.GetString("http-tls-cert"),
		HTTPTLSKey:  v.GetString("http-tls-key"),
		Notify:      notifyConfig(v),
		// The linkage rules in force: a file `linkage train` wrote.
		LinkageRules:        v.GetString("linkage-weights"),
		StreamReplicas:      v.GetInt("stream-replicas"),
		ReadyMaxLag:         v.GetUint64("ready-max-lag"),
		IntakeMaxBacklog:    v.GetUint64("intake-max-backlog"),
		LinkerSnapshotEvery: v.GetUint64("linker-snapshot-every"),
		LeaseGrace:          v.GetDuration("lease-grace"),
	}
}

func serveCmd(v *viper.Viper) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the hub: intake, linker, projections and the HTTP API",
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := logger(v)
			h, err := hub.Start(cmd.Context(), hubConfig(v), log)
			if err != nil {
				return err
			}
			defer h.Close()
			log.Info("hub listening", "http", h.URL(), "mllp", h.MLLPAddr())
			<-cmd.Context().Done()
			log.Info("shutting down")
			return nil
		},
	}
	hubFlags(cmd.Flags())
	feedFlags(cmd.Flags())
	serveSecurityFlags(cmd.Flags())
	cmd.Flags().Int("stream-replicas", 1, "copies of each stream on a NATS cluster (3 on a three-node cluster); every instance must say the same")
	cmd.Flags().Uint64("ready-max-lag", hub.DefaultReadyMaxLag, "GET /readyz answers not ready while a writer this instance runs is more messages than this behind its stream")
	cmd.Flags().Duration("lease-grace", 2*time.Second, "how long an instance waits after taking a writer's lease before running it, so that the last holder has stopped")
	cmd.Flags().Uint64("linker-snapshot-every", hub.DefaultLinkerSnapshotEvery, "the instance holding the linker's lease writes its index to data-dir/linker/index.snap after this many CHILDREN messages, so that a restart reads the snapshot and the messages after it; 0 only after a start, an erasure and on shutdown")
	cmd.Flags().Uint64("intake-max-backlog", 1_000_000, "intake refuses records (HTTP 429 with Retry-After, MLLP AR) while the linker is more FEEDS messages than this behind; 0 never refuses")
	return cmd
}

func replayCmd(v *viper.Viper) *cobra.Command {
	cmd := &cobra.Command{
		Use:       "replay directory|audit|feed_arrivals|quarantine_arrivals",
		Short:     "Rebuild a projection from its stream beside the live one and switch to it (the hub keeps serving)",
		Args:      cobra.ExactArgs(1),
		ValidArgs: replayable,
		RunE: func(cmd *cobra.Command, args []string) error {
			return replayProjection(cmd.Context(), v, args[0])
		},
	}
	hubFlags(cmd.Flags())
	return cmd
}
