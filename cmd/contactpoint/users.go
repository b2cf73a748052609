package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	auditadapter "contactpoint/adapters/audit"
	"contactpoint/adapters/auth"
	"contactpoint/adapters/natsjs"
	"contactpoint/adapters/postgres"
	"contactpoint/domain/audit"
	"contactpoint/domain/registry"
)

// registerSession is the register opened from the command line, with the
// audit trail its changes are recorded in.
type registerSession struct {
	reg   *auth.Registry
	audit *auditadapter.Writer
	close func()
}

// openRegister opens the database and event log. With the embedded event
// log, run it while the hub is stopped; with an external cluster, any time.
func openRegister(ctx context.Context, v *viper.Viper) (*registerSession, error) {
	cfg := hubConfig(v)
	pool, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	nc, err := natsjs.Open(ctx, natsjs.Config{URL: cfg.NATSURL, DataDir: cfg.DataDir}, logger(v))
	if err != nil {
		pool.Close()
		return nil, err
	}
	if err := natsjs.EnsureAuthStreams(ctx, nc.JS); err != nil {
		nc.Close()
		pool.Close()
		return nil, err
	}
	reg := auth.NewRegistry(nc.JS, pool)
	if err := reg.CatchUp(ctx); err != nil {
		nc.Close()
		pool.Close()
		return nil, err
	}
	return &registerSession{reg: reg, audit: auditadapter.NewWriter(nc.JS), close: func() { nc.Close(); pool.Close() }}, nil
}

// withRegister opens the register, runs fn and records the change in the audit
// trail as made from the command line.
func withRegister(v *viper.Viper, fn func(context.Context, *auth.Registry) (subject string, err error)) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		s, err := openRegister(cmd.Context(), v)
		if err != nil {
			return err
		}
		defer s.close()
		subject, err := fn(cmd.Context(), s.reg)
		if err != nil {
			return err
		}
		if subject != "-" {
			return s.audit.Record(cmd.Context(), audit.Entry{Action: audit.ActRegistry, Route: "cli " + cmd.CommandPath(), Subject: subject})
		}
		return nil
	}
}

func changeFlags(fs *pflag.FlagSet) {
	fs.String("name", "", "full name")
	fs.String("organisation", "", "employing organisation")
	fs.String("job-role", "", "job role, e.g. Health visitor")
	fs.String("email", "", "work email")
	fs.StringSlice("roles", nil, "hub roles: "+strings.Join(registry.Roles, ", "))
	fs.String("vetting-type", "enhanced-dbs", "security check type")
	fs.String("vetted-on", "", "date of the security check (YYYY-MM-DD)")
	fs.String("vetting-expires", "", "date the check expires (YYYY-MM-DD)")
	fs.String("trained-on", "", "date training was completed (YYYY-MM-DD)")
	fs.String("training-expires", "", "date training expires (YYYY-MM-DD)")
	fs.String("reason", "", "why (kept in the register's history)")
}

func parseChange(cmd *cobra.Command) (auth.Change, error) {
	fs := cmd.Flags()
	var c auth.Change
	str := func(name string, dst **string) {
		if fs.Changed(name) {
			s, _ := fs.GetString(name)
			*dst = &s
		}
	}
	str("name", &c.Name)
	str("organisation", &c.Organisation)
	str("job-role", &c.JobRole)
	str("email", &c.Email)
	if fs.Changed("roles") {
		r, _ := fs.GetStringSlice("roles")
		c.Roles = &r
	}
	c.Reason, _ = fs.GetString("reason")
	day := func(name string) (time.Time, bool, error) {
		if !fs.Changed(name) {
			return time.Time{}, false, nil
		}
		s, _ := fs.GetString(name)
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return t, false, fmt.Errorf("--%s must be YYYY-MM-DD", name)
		}
		return t, true, nil
	}
	on, ok1, err := day("vetted-on")
	if err != nil {
		return c, err
	}
	exp, ok2, err := day("vetting-expires")
	if err != nil {
		return c, err
	}
	if ok1 != ok2 {
		return c, fmt.Errorf("give --vetted-on and --vetting-expires together")
	}
	if ok1 {
		typ, _ := fs.GetString("vetting-type")
		c.Vetting = auth.NewVetting(typ, on, exp)
	}
	on, ok1, err = day("trained-on")
	if err != nil {
		return c, err
	}
	exp, ok2, err = day("training-expires")
	if err != nil {
		return c, err
	}
	if ok1 != ok2 {
		return c, fmt.Errorf("give --trained-on and --training-expires together")
	}
	if ok1 {
		c.Training = auth.NewTraining(on, exp)
	}
	return c, nil
}

func printCredentials(c auth.Credentials) {
	fmt.Printf("username:     %s\npassword:     %s\ntotp secret:  %s\ntotp url:     %s\n", c.Username, c.Password, c.TOTPSecret, c.TOTPURL)
	fmt.Println("Give these to the practitioner privately; they are not shown again.")
}

// usersCmd manages the practitioner register from the command line.
func usersCmd(v *viper.Viper) *cobra.Command {
	cmd := &cobra.Command{Use: "users", Short: "Manage the practitioner register (with the embedded event log, while the hub is stopped)"}

	add := &cobra.Command{
		Use:   "add USERNAME",
		Short: "Register a practitioner and print their first credentials",
		Args:  cobra.ExactArgs(1),
	}
	changeFlags(add.Flags())
	add.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := parseChange(cmd)
		if err != nil {
			return err
		}
		return withRegister(v, func(ctx context.Context, r *auth.Registry) (string, error) {
			p, cred, err := r.Create(ctx, args[0], "cli", c)
			if err != nil {
				return "", err
			}
			fmt.Printf("registered %s (%s)\n", p.Username, p.ID)
			printCredentials(cred)
			return p.ID, nil
		})(cmd, args)
	}

	update := &cobra.Command{Use: "update USERNAME", Short: "Change details, roles, vetting or training", Args: cobra.ExactArgs(1)}
	changeFlags(update.Flags())
	update.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := parseChange(cmd)
		if err != nil {
			return err
		}
		return withRegister(v, func(ctx context.Context, r *auth.Registry) (string, error) {
			return applyTo(ctx, r, args[0], c)
		})(cmd, args)
	}

	status := func(use, short string, st registry.Status) *cobra.Command {
		c := &cobra.Command{Use: use + " USERNAME", Short: short, Args: cobra.ExactArgs(1)}
		c.Flags().String("reason", "", "why (kept in the register's history)")
		c.RunE = func(cmd *cobra.Command, args []string) error {
			reason, _ := cmd.Flags().GetString("reason")
			s := string(st)
			return withRegister(v, func(ctx context.Context, r *auth.Registry) (string, error) {
				return applyTo(ctx, r, args[0], auth.Change{Status: &s, Reason: reason})
			})(cmd, args)
		}
		return c
	}

	reset := &cobra.Command{Use: "reset USERNAME", Short: "Issue new credentials (password and TOTP) and clear a lockout", Args: cobra.ExactArgs(1)}
	reset.RunE = func(cmd *cobra.Command, args []string) error {
		return withRegister(v, func(ctx context.Context, r *auth.Registry) (string, error) {
			p, err := r.ByUsername(ctx, args[0])
			if err != nil {
				return "", fmt.Errorf("%s: %w", args[0], err)
			}
			cred, err := r.IssueCredentials(ctx, p.ID, "cli")
			if err != nil {
				return "", err
			}
			printCredentials(cred)
			return p.ID, nil
		})(cmd, args)
	}

	list := &cobra.Command{Use: "list", Short: "List the register", Args: cobra.NoArgs}
	list.Flags().Bool("json", false, "print JSON")
	list.RunE = func(cmd *cobra.Command, args []string) error {
		asJSON, _ := cmd.Flags().GetBool("json")
		return withRegister(v, func(ctx context.Context, r *auth.Registry) (string, error) {
			ps, err := r.List(ctx)
			if err != nil {
				return "", err
			}
			if asJSON {
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				return "-", enc.Encode(ps)
			}
			now := time.Now()
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "USERNAME\tSTATUS\tROLES\tORGANISATION\tELIGIBLE")
			for _, p := range ps {
				el := "yes"
				if err := registry.Eligible(p, now); err != nil {
					el = "no: " + err.Error()
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Username, p.Status, strings.Join(p.Roles, ","), p.Organisation, el)
			}
			return "-", tw.Flush()
		})(cmd, args)
	}

	cmd.AddCommand(add, update, list, reset,
		status("suspend", "Suspend a practitioner: refused at once, sessions included", registry.StatusSuspended),
		status("reinstate", "Make a suspended practitioner active again", registry.StatusActive),
		status("leave", "Record that a practitioner has left", registry.StatusLeft),
		keysCmd(v))
	hubFlags(cmd.PersistentFlags())
	return cmd
}

func applyTo(ctx context.Context, r *auth.Registry, username string, c auth.Change) (string, error) {
	p, err := r.ByUsername(ctx, username)
	if err != nil {
		return "", fmt.Errorf("%s: %w", username, err)
	}
	if p, err = r.Apply(ctx, p.ID, "cli", c); err != nil {
		return "", err
	}
	fmt.Printf("%s: %s, roles %s\n", p.Username, p.Status, strings.Join(p.Roles, ","))
	return p.ID, nil
}

// keysCmd manages agency systems' API keys (contactpoint users keys ...).
func keysCmd(v *viper.Viper) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Manage agency systems' API keys for HTTP intake"}
	add := &cobra.Command{Use: "add AGENCY SYSTEM", Short: "Issue a key; it is printed once", Args: cobra.ExactArgs(2)}
	add.RunE = func(cmd *cobra.Command, args []string) error {
		return withRegister(v, func(ctx context.Context, r *auth.Registry) (string, error) {
			key, k, err := r.IssueKey(ctx, args[0], args[1], "cli")
			if err != nil {
				return "", err
			}
			fmt.Printf("key id: %s\nkey:    %s\nSend it as X-API-Key (or Authorization: Bearer) to POST /v1/feeds/%s/records; it is not shown again.\n", k.ID, key, k.Agency)
			return k.ID, nil
		})(cmd, args)
	}
	revoke := &cobra.Command{Use: "revoke KEY-ID", Short: "Revoke a key at once", Args: cobra.ExactArgs(1)}
	revoke.RunE = func(cmd *cobra.Command, args []string) error {
		return withRegister(v, func(ctx context.Context, r *auth.Registry) (string, error) {
			return args[0], r.RevokeKey(ctx, args[0], "cli")
		})(cmd, args)
	}
	list := &cobra.Command{Use: "list", Short: "List keys (never the secrets)", Args: cobra.NoArgs}
	list.RunE = func(cmd *cobra.Command, args []string) error {
		return withRegister(v, func(ctx context.Context, r *auth.Registry) (string, error) {
			ks, err := r.Keys(ctx)
			if err != nil {
				return "", err
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tAGENCY\tSYSTEM\tCREATED\tREVOKED")
			for _, k := range ks {
				rev := ""
				if k.RevokedAt != nil {
					rev = k.RevokedAt.Format(time.DateTime)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Agency, k.System, k.CreatedAt.Format(time.DateTime), rev)
			}
			return "-", tw.Flush()
		})(cmd, args)
	}
	cmd.AddCommand(add, revoke, list)
	return cmd
}
