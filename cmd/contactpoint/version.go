package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"contactpoint/adapters/buildinfo"
)

func versionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the build: version (set with -ldflags), revision and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			i := buildinfo.Get()
			if asJSON {
				b, _ := json.Marshal(i)
				fmt.Fprintln(cmd.OutOrStdout(), string(b))
				return nil
			}
			mod := ""
			if i.Modified {
				mod = " (modified)"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "contactpoint %s revision %s%s %s %s\n", i.Version, orNone(i.Revision), mod, i.Time, i.GoVersion)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

func orNone(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
