package main

import (
	"strings"
	"testing"

	"github.com/spf13/viper"

	"contactpoint/adapters/natsjs"
	auditproj "contactpoint/projections/audit"
)

func TestSignalThresholdsFromConfig(t *testing.T) {
	t.Setenv("CONTACTPOINT_AUDIT_SIGNALS_WORK_END", "17")
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(strings.NewReader("audit-signals:\n  peer-factor: 4.5\n  time-zone: Europe/Dublin\n")); err != nil {
		t.Fatal(err)
	}
	got := signalThresholds(v)
	want := auditproj.DefaultThresholds
	want.PeerFactor, want.TimeZone, want.WorkEnd = 4.5, "Europe/Dublin", 17
	if got != want {
		t.Fatalf("thresholds %+v, want %+v", got, want)
	}
}

func TestNATSUsersFromConfig(t *testing.T) {
	hash := "$2a$11$" + strings.Repeat("a", 53)
	cases := []struct {
		name, yaml, env string
		want            []natsjs.AgencyUser
	}{
		{"none", "", "", nil},
		{"config file", "nats-users:\n  - agency: health\n    system: pas\n    password-hash: " + hash + "\n", "",
			[]natsjs.AgencyUser{{Agency: "health", System: "pas", PasswordHash: hash}}},
		{"environment, as JSON", "", `[{"agency":"education","system":"sims","password-hash":"` + hash + `"}]`,
			[]natsjs.AgencyUser{{Agency: "education", System: "sims", PasswordHash: hash}}},
		{"unreadable", "", `not json`, []natsjs.AgencyUser{{}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("CONTACTPOINT_NATS_USERS", tc.env)
			}
			v := viper.New()
			v.SetEnvPrefix("CONTACTPOINT")
			v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
			v.AutomaticEnv()
			v.SetConfigType("yaml")
			if err := v.ReadConfig(strings.NewReader(tc.yaml)); err != nil {
				t.Fatal(err)
			}
			got := natsUsers(v)
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %+v, want %+v", got, tc.want)
				}
			}
		})
	}
}

func TestOIDCFromConfig(t *testing.T) {
	t.Setenv("CONTACTPOINT_OIDC_CLIENT_SECRET", "from-the-environment")
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(strings.NewReader("oidc:\n  issuer: https://login.example\n  client-id: hub\n" +
		"  redirect-url: https://hub.example/v1/auth/oidc/callback\n  claim: sub\n  scopes: [email]\n")); err != nil {
		t.Fatal(err)
	}
	got := oidcConfig(v)
	if got.Issuer != "https://login.example" || got.ClientID != "hub" || got.ClientSecret != "from-the-environment" ||
		got.Claim != "sub" || len(got.Scopes) != 1 || !got.Enabled() || got.Validate() != nil {
		t.Fatalf("oidc config %+v (%v)", got, got.Validate())
	}
	if oidcConfig(viper.New()).Enabled() {
		t.Fatal("OpenID Connect on without an issuer")
	}
}
