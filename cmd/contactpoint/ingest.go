package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"contactpoint/adapters/csvfeed"
	"contactpoint/adapters/natsjs"
	"contactpoint/app/fileimport"
	"contactpoint/app/intake"
	"contactpoint/domain/record"
	"contactpoint/schemas"
)

func ingestCmd(v *viper.Viper) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ingest --agency A --system S --format ctf|csv [--mapping mapping.yaml] FILE",
		Short: "Import a CTF or CSV file into the event log and report accepted, duplicate and quarantined records",
		Long: `Streams FILE through its parser into intake, as an agency upload would, and prints
the report. It opens the event log itself: with the embedded log run it while the hub is
stopped, or point --nats-url at the NATS server the hub uses.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return ingest(cmd.Context(), v, args[0])
		},
	}
	hubFlags(cmd.Flags())
	cmd.Flags().String("agency", "", "agency the file comes from: "+strings.Join(record.Agencies, ", "))
	cmd.Flags().String("system", "", "the hub's name for the sending system (feeds.<agency>.<system>)")
	cmd.Flags().String("format", "", "ctf or csv")
	cmd.Flags().String("mapping", "", "CSV mapping file; default: the system's entry under csv-mappings in the configuration")
	cmd.Flags().Bool("json", false, "print the report as JSON")
	return cmd
}

// eventLog opens the event log and an intake of its own, as the hub does.
func eventLog(ctx context.Context, v *viper.Viper, log *slog.Logger) (*natsjs.Conn, *intake.Service, error) {
	cfg := hubConfig(v)
	nc, err := natsjs.Open(ctx, natsjs.Config{URL: cfg.NATSURL, DataDir: cfg.DataDir}, log)
	if err != nil {
		return nil, nil, err
	}
	val, err := schemas.NewValidator(nil)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	js, err := nc.Publisher(32768)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, intake.New(js, val), nil
}

func ingest(ctx context.Context, v *viper.Viper, path string) error {
	agency, system, format := v.GetString("agency"), v.GetString("system"), v.GetString("format")
	if !record.IsAgency(agency) {
		return fmt.Errorf("--agency must be one of %s", strings.Join(record.Agencies, ", "))
	}
	if system == "" {
		return errors.New("--system is required: the hub's name for the sending system")
	}
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	var size int64 = -1
	if fi, err := file.Stat(); err == nil {
		size = fi.Size()
	}
	bar := newByteBar(size, "importing "+filepath.Base(path))
	defer bar.Finish() //nolint:errcheck // drawing only
	// The reader draws the file's progress as the import reads it.
	f := io.TeeReader(file, bar)
	var src fileimport.Source
	switch format {
	case "ctf":
		if agency != "education" {
			return errors.New("CTF files come from the education agency: use --agency education")
		}
		src = fileimport.CTF(f, system)
	case "csv":
		mp := v.GetString("mapping")
		if mp == "" {
			files := v.GetStringMapString("csv-mappings")
			if mp = files[agency+"/"+system]; mp == "" {
				mp = files[system]
			}
		}
		if mp == "" {
			return fmt.Errorf("no CSV mapping for %s: pass --mapping FILE or configure csv-mappings", system)
		}
		m, err := csvfeed.LoadMapping(mp)
		if err != nil {
			return err
		}
		src = fileimport.CSV(f, m, agency, system)
	default:
		return errors.New("--format must be ctf or csv")
	}
	log := logger(v)
	nc, in, err := eventLog(ctx, v, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	rep, err := fileimport.Import(ctx, in, intake.Origin{Agency: agency, System: system, Format: format, Channel: "file"}, src, fileimport.Options{})
	if rep != nil {
		printReport(rep, v.GetBool("json"))
	}
	return err
}

func printReport(rep *fileimport.Report, asJSON bool) {
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
		return
	}
	fmt.Printf("%s/%s %s: %d records in %s: %d accepted, %d duplicates, %d quarantined\n",
		rep.Agency, rep.System, rep.Format, rep.Records, rep.Elapsed.Round(1e6), rep.Accepted, rep.Duplicates, rep.Quarantined)
	for _, r := range rep.Reasons {
		fmt.Printf("  %6d  %-28s %-32s e.g. %s", r.Count, r.Rule, r.Field, strings.Join(r.RecordIDs, " "))
		if len(r.QuarantineSeqs) > 0 {
			fmt.Printf("  (quarantine %v)", r.QuarantineSeqs)
		}
		fmt.Println()
	}
	if rep.Error != "" {
		fmt.Printf("stopped early: %s\n", rep.Error)
	}
}
