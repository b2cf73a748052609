package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"contactpoint/adapters/postgres"
	"contactpoint/projections/directory"
)

func linksCmd(v *viper.Viper) *cobra.Command {
	cmd := &cobra.Command{Use: "links", Short: "Source record to child links, for data stewards and auditors"}
	export := &cobra.Command{
		Use:   "export",
		Short: "Write agency, system, source record id and child id of every source record as CSV",
		RunE: func(cmd *cobra.Command, _ []string) error {
			pool, err := postgres.Open(cmd.Context(), v.GetString("database-url"))
			if err != nil {
				return err
			}
			defer pool.Close()
			var w io.Writer = os.Stdout
			if out := v.GetString("out"); out != "" {
				f, err := os.Create(out)
				if err != nil {
					return fmt.Errorf("links export: %w", err)
				}
				defer f.Close()
				w = f
			}
			n, err := directory.NewStore(pool).ExportLinks(cmd.Context(), w, false)
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "%d source records\n", n)
			return nil
		},
	}
	export.Flags().String("database-url", postgres.DefaultURL, "PostgreSQL URL")
	export.Flags().String("out", "", "file to write (default standard output)")
	cmd.AddCommand(export)
	return cmd
}
