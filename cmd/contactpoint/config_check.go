package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cast"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"contactpoint/adapters/fhir"
)

// nestedSettings are the settings that live below a section in a config
// file and have no flag of their own.
var nestedSettings = []string{
	"audit-signals.min-views-per-hour", "audit-signals.off-hours-searches", "audit-signals.peer-factor",
	"audit-signals.search-lookback-minutes", "audit-signals.time-zone", "audit-signals.unsearched-views",
	"audit-signals.withheld-attempts", "audit-signals.work-end", "audit-signals.work-start",
	"notify.check-every", "notify.max-age", "notify.max-retries", "notify.retry-initial", "notify.retry-max",
	"notify.review-age", "notify.shield-lead", "notify.smtp.addr", "notify.smtp.ca-file", "notify.smtp.from", "notify.smtp.password",
	"notify.smtp.timeout", "notify.smtp.tls", "notify.smtp.username", "notify.webhook.secret",
	"notify.webhook.timeout", "notify.webhook.url",
	"oidc.claim", "oidc.client-id", "oidc.client-secret", "oidc.issuer", "oidc.match", "oidc.redirect-url", "oidc.scopes",
	"nats-users", "mllp-peers",
}

// mapSettings hold a map whose keys are the operator's own (a CSV mapping
// per agency system).
var mapSettings = []string{"csv-mappings."}

// ignoredEnv are CONTACTPOINT_ variables that are not settings: the test
// suite's, and the compose file's password it interpolates itself.
var ignoredEnv = []string{"CONTACTPOINT_TEST_", "CONTACTPOINT_NATS_PASSWORD"}

// knownSettings is every setting name any command reads: each flag of the
// command tree and the nested ones.
func knownSettings(root *cobra.Command) map[string]*pflag.Flag {
	known := map[string]*pflag.Flag{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		add := func(f *pflag.Flag) { known[f.Name] = f }
		c.Flags().VisitAll(add)
		c.PersistentFlags().VisitAll(add)
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	for _, n := range nestedSettings {
		if _, ok := known[n]; !ok {
			known[n] = nil
		}
	}
	return known
}

func isKnown(known map[string]*pflag.Flag, key string) bool {
	if _, ok := known[key]; ok {
		return true
	}
	for _, p := range mapSettings {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	// A list of records (nats-users, mllp-peers) flattens no further.
	for k := range known {
		if strings.HasPrefix(key, k+".") {
			return true
		}
	}
	return false
}

// checkConfig stops a start on the first unknown setting (in the config
// file or a CONTACTPOINT_ variable) or invalid value, in one line naming
// it: a mistyped setting must not be silently replaced by its default.
func checkConfig(v *viper.Viper, cmd *cobra.Command) error {
	known := knownSettings(cmd.Root())
	if f := v.ConfigFileUsed(); f != "" {
		fv := viper.New()
		fv.SetConfigFile(f)
		if err := fv.ReadInConfig(); err != nil {
			return fmt.Errorf("read config %s: %w", f, err)
		}
		keys := fv.AllKeys()
		sort.Strings(keys)
		for _, k := range keys {
			if !isKnown(known, k) {
				return fmt.Errorf("config %s: unknown setting %q", f, k)
			}
		}
	}
	var envs []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "CONTACTPOINT_") {
			envs = append(envs, name)
		}
	}
	sort.Strings(envs)
env:
	for _, name := range envs {
		for _, p := range ignoredEnv {
			if strings.HasPrefix(name, p) {
				continue env
			}
		}
		key := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(name, "CONTACTPOINT_"), "_", "-"))
		if _, ok := known[key]; !ok {
			return fmt.Errorf("environment: unknown setting %s (no setting %q)", name, key)
		}
	}
	// Every flag of this command whose value came from the file or the
	// environment must parse as its flag would.
	var bad error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if bad != nil || f.Changed || !v.IsSet(f.Name) {
			return
		}
		bad = checkValue(f.Name, f.Value.Type(), v.Get(f.Name))
	})
	if bad != nil {
		return bad
	}
	return checkSemantics(v, cmd)
}

func checkValue(name, typ string, val any) error {
	var err error
	switch typ {
	case "int", "int64", "int32":
		_, err = cast.ToInt64E(val)
	case "uint", "uint64", "uint32":
		_, err = cast.ToUint64E(val)
		if err == nil {
			if n, e := cast.ToInt64E(val); e == nil && n < 0 {
				err = errors.New("negative")
			}
		}
	case "bool":
		_, err = cast.ToBoolE(val)
	case "duration":
		_, err = cast.ToDurationE(val)
	case "float64":
		_, err = cast.ToFloat64E(val)
	}
	if err != nil {
		return fmt.Errorf("setting %s: %v is not a valid %s", name, val, typ)
	}
	return nil
}

// checkSemantics refuses values of the right type that mean nothing.
func checkSemantics(v *viper.Viper, cmd *cobra.Command) error {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(v.GetString("log-level"))); err != nil {
		return fmt.Errorf("setting log-level: %q is not debug, info, warn or error", v.GetString("log-level"))
	}
	if f := v.GetString("log-format"); f != "text" && f != "json" {
		return fmt.Errorf("setting log-format: %q is not text or json", f)
	}
	for _, name := range []string{"http-addr", "mllp-addr", "nats-listen"} {
		if cmd.Flags().Lookup(name) == nil {
			continue
		}
		if a := v.GetString(name); a != "" {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return fmt.Errorf("setting %s: %q is not host:port", name, a)
			}
		}
	}
	if cmd.Flags().Lookup("stream-replicas") != nil {
		if n := v.GetInt("stream-replicas"); n < 1 || n > 5 {
			return fmt.Errorf("setting stream-replicas: %d is not between 1 and 5", n)
		}
	}
	if cmd.Flags().Lookup("public-url") != nil {
		// The hub checks it again when it starts; here it stops the start
		// before any store is opened.
		if _, err := fhir.NewSystems(v.GetString("public-url")); err != nil {
			return fmt.Errorf("setting public-url: %w", err)
		}
	}
	return nil
}
