package main

import (
	"encoding/json"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"contactpoint/adapters/auth"
	"contactpoint/adapters/fhir"
	"contactpoint/adapters/natsjs"
	"contactpoint/app/hub"
	auditproj "contactpoint/projections/audit"
)

// bindNested lets a nested key also come from the environment:
// audit-signals.peer-factor from CONTACTPOINT_AUDIT_SIGNALS_PEER_FACTOR.
// The root command's key replacer maps only dashes, and environment
// variable names cannot hold the dot.
func bindNested(v *viper.Viper, keys ...string) {
	for _, k := range keys {
		env := "CONTACTPOINT_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(k))
		_ = v.BindEnv(k, env)
	}
}

// natsUsers reads nats-users: a list of {agency, system, password-hash} in
// the config file, or the same list as JSON in CONTACTPOINT_NATS_USERS.
func natsUsers(v *viper.Viper) []natsjs.AgencyUser {
	var users []natsjs.AgencyUser
	raw := v.Get("nats-users")
	if raw == nil {
		return nil
	}
	var err error
	if s, ok := raw.(string); ok {
		if strings.TrimSpace(s) == "" {
			return nil
		}
		err = json.Unmarshal([]byte(s), &users)
	} else {
		err = v.UnmarshalKey("nats-users", &users)
	}
	if err != nil {
		// An entry with nothing in it is refused when the hub starts, with
		// a message naming nats-users; the hub never runs on a half-read list.
		return []natsjs.AgencyUser{{}}
	}
	return users
}

// signalThresholds reads audit-signals.*, each key defaulting to
// auditproj.DefaultThresholds; the hub validates the result.
func signalThresholds(v *viper.Viper) auditproj.Thresholds {
	t := auditproj.DefaultThresholds
	keys := map[string]func(){
		"audit-signals.peer-factor":        func() { t.PeerFactor = v.GetFloat64("audit-signals.peer-factor") },
		"audit-signals.min-views-per-hour": func() { t.MinViewsPerHour = v.GetInt("audit-signals.min-views-per-hour") },
		"audit-signals.withheld-attempts":  func() { t.WithheldAttempts = v.GetInt("audit-signals.withheld-attempts") },
		"audit-signals.off-hours-searches": func() { t.OffHoursSearches = v.GetInt("audit-signals.off-hours-searches") },
		"audit-signals.work-start":         func() { t.WorkStart = v.GetInt("audit-signals.work-start") },
		"audit-signals.work-end":           func() { t.WorkEnd = v.GetInt("audit-signals.work-end") },
		"audit-signals.time-zone":          func() { t.TimeZone = v.GetString("audit-signals.time-zone") },
		"audit-signals.unsearched-views":   func() { t.UnsearchedViews = v.GetInt("audit-signals.unsearched-views") },
		"audit-signals.search-lookback-minutes": func() {
			t.SearchLookbackMinutes = v.GetInt("audit-signals.search-lookback-minutes")
		},
	}
	for k, set := range keys {
		bindNested(v, k)
		if v.IsSet(k) {
			set()
		}
	}
	return t
}

// oidcConfig reads oidc.*; without oidc.issuer OpenID Connect is off.
func oidcConfig(v *viper.Viper) auth.OIDCConfig {
	bindNested(v, "oidc.issuer", "oidc.client-id", "oidc.client-secret", "oidc.redirect-url", "oidc.claim", "oidc.match", "oidc.scopes")
	return auth.OIDCConfig{
		Issuer:       v.GetString("oidc.issuer"),
		ClientID:     v.GetString("oidc.client-id"),
		ClientSecret: v.GetString("oidc.client-secret"),
		RedirectURL:  v.GetString("oidc.redirect-url"),
		Claim:        v.GetString("oidc.claim"),
		Match:        v.GetString("oidc.match"),
		Scopes:       v.GetStringSlice("oidc.scopes"),
	}
}

// serveSecurityFlags are the serve flags of sign-in.
func serveSecurityFlags(fs *pflag.FlagSet) {
	fs.String("bootstrap-admin", "admin", "username of the administrator enrolled on an empty register (first start); empty enrols none")
	fs.String("http-tls-cert", "", "serve HTTPS with this certificate (PEM file; with --http-tls-key)")
	fs.String("http-tls-key", "", "private key of --http-tls-cert (PEM file)")
	fs.String("token-key", "", "key that signs sign-in tokens (64 hex digits or more); every instance of a fleet needs the same one; empty: <data-dir>/auth.key")
	fs.Bool("secure-cookies", false, "mark session cookies Secure on every answer (behind a proxy that terminates TLS); they always are over HTTPS")
	fs.StringSlice("trusted-proxies", nil, "addresses or CIDR prefixes of proxies whose X-Forwarded-Proto and X-Forwarded-Host the FHIR facade believes (repeatable)")
	fs.Float64("fhir-rate-limit", 0, "FHIR requests a second per practitioner before 429 (0: no limit)")
	fs.Int("fhir-rate-burst", 0, "FHIR requests a practitioner may make at once before the rate applies (0: the rate)")
	fs.String("public-url", fhir.DefaultPublicURL, "the deployment's public base URL (https://host[/path]); the hub's own FHIR identifier systems derive from it, so set it before identifiers are shared and never change it")
}

// authConfig reads the settings of sign-in and the audit trail. Only serve
// has the bootstrap-admin flag (default admin); other commands enrol nobody
// unless the setting comes from the environment or the config file.
func authConfig(v *viper.Viper) hub.AuthConfig {
	return hub.AuthConfig{Signals: signalThresholds(v), OIDC: oidcConfig(v), BootstrapAdmin: v.GetString("bootstrap-admin"),
		SecureCookie: v.GetBool("secure-cookies"), TokenKey: v.GetString("token-key"), TrustedProxies: v.GetStringSlice("trusted-proxies"),
		FHIRRate: v.GetFloat64("fhir-rate-limit"), FHIRBurst: v.GetInt("fhir-rate-burst"), PublicURL: v.GetString("public-url")}
}
