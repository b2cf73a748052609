package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"contactpoint/app/quarantine"
)

func quarantineCmd(v *viper.Viper) *cobra.Command {
	cmd := &cobra.Command{Use: "quarantine", Short: "List, show and resubmit refused feed input (data stewards)"}
	open := func(cmd *cobra.Command) (*quarantine.Store, func(), error) {
		nc, in, err := eventLog(cmd.Context(), v, logger(v))
		if err != nil {
			return nil, nil, err
		}
		cfg := feedsConfig(v)
		return &quarantine.Store{JS: nc.JS, Intake: in, HL7: cfg.HL7}, nc.Close, nil
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List open quarantine entries (reasons only, never the bytes)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			qs, done, err := open(cmd)
			if err != nil {
				return err
			}
			defer done()
			page, err := qs.List(cmd.Context(), quarantine.Filter{Agency: v.GetString("agency"), System: v.GetString("system"),
				After: v.GetUint64("after"), Limit: v.GetInt("limit"), IncludeResolved: v.GetBool("resolved")})
			if err != nil {
				return err
			}
			for _, e := range page.Entries {
				rules := make([]string, 0, len(e.Reasons))
				for _, r := range e.Reasons {
					rules = append(rules, r.Rule+" "+r.Field)
				}
				state := "open"
				if e.Resolved != nil {
					state = "resolved"
				}
				fmt.Printf("%8d  %s  %-8s %-5s %-9s %-24s %-8s %s\n", e.Seq, e.Time.Format("2006-01-02T15:04:05Z"), e.Format, e.Channel,
					e.Agency, e.System, state, strings.Join(rules, "; "))
			}
			if page.Next != 0 {
				fmt.Printf("more: --after %d\n", page.Next)
			}
			return nil
		},
	}
	list.Flags().String("agency", "", "only this agency")
	list.Flags().String("system", "", "only this system")
	list.Flags().Uint64("after", 0, "entries after this sequence")
	list.Flags().Int("limit", quarantine.DefaultLimit, "entries to list")
	list.Flags().Bool("resolved", false, "include resolved entries")

	show := &cobra.Command{
		Use:   "show SEQ",
		Short: "Print one entry's reasons to stderr and its original bytes to stdout, to fix them",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			seq, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil {
				return fmt.Errorf("SEQ must be a quarantine sequence number")
			}
			qs, done, err := open(cmd)
			if err != nil {
				return err
			}
			defer done()
			e, raw, err := qs.Get(cmd.Context(), seq)
			if err != nil {
				return err
			}
			b, _ := json.MarshalIndent(e, "", "  ")
			fmt.Fprintln(os.Stderr, string(b))
			_, err = os.Stdout.Write(raw)
			return err
		},
	}
	resubmit := &cobra.Command{
		Use:   "resubmit SEQ [FILE]",
		Short: "Resubmit a corrected record (FILE, or stdin) for entry SEQ; accepted, the entry is resolved",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			seq, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil {
				return fmt.Errorf("SEQ must be a quarantine sequence number")
			}
			var body []byte
			if len(args) == 2 {
				body, err = os.ReadFile(args[1])
			} else {
				body, err = io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
			}
			if err != nil {
				return err
			}
			qs, done, err := open(cmd)
			if err != nil {
				return err
			}
			defer done()
			res, err := qs.Resubmit(cmd.Context(), seq, body, v.GetString("by"))
			if err != nil {
				return err
			}
			b, _ := json.MarshalIndent(res, "", "  ")
			fmt.Println(string(b))
			if len(res.Errors) > 0 {
				return fmt.Errorf("the correction was refused (%d errors); entry %d stays open", len(res.Errors), seq)
			}
			return nil
		},
	}
	resubmit.Flags().String("by", "", "steward's practitioner id, recorded on the resolution")
	for _, c := range []*cobra.Command{list, show, resubmit} {
		hubFlags(c.Flags())
		cmd.AddCommand(c)
	}
	return cmd
}
