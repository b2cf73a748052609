package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/viper"

	"contactpoint/adapters/hl7"
)

// serveViper is the configuration serve sees: its flags' defaults, then
// the config file yaml.
func serveViper(t *testing.T, yaml string, args ...string) *viper.Viper {
	t.Helper()
	v := viper.New()
	cmd := serveCmd(v)
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	if err := v.BindPFlags(cmd.Flags()); err != nil {
		t.Fatal(err)
	}
	v.SetConfigType("yaml")
	if err := v.ReadConfig(strings.NewReader(yaml)); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestServeSecuritySettings(t *testing.T) {
	cfg := hubConfig(serveViper(t, ""))
	if cfg.Auth.BootstrapAdmin != "admin" || cfg.Auth.SecureCookie || cfg.HTTPTLSCert != "" {
		t.Errorf("defaults: bootstrap %q, secure cookies %v, TLS cert %q", cfg.Auth.BootstrapAdmin, cfg.Auth.SecureCookie, cfg.HTTPTLSCert)
	}
	cfg = hubConfig(serveViper(t, "secure-cookies: true\nhttp-tls-cert: /etc/hub.pem\n", "--http-tls-key", "/etc/hub.key", "--bootstrap-admin", ""))
	if cfg.Auth.BootstrapAdmin != "" || !cfg.Auth.SecureCookie || cfg.HTTPTLSCert != "/etc/hub.pem" || cfg.HTTPTLSKey != "/etc/hub.key" {
		t.Errorf("set: bootstrap %q, secure cookies %v, TLS %q %q", cfg.Auth.BootstrapAdmin, cfg.Auth.SecureCookie, cfg.HTTPTLSCert, cfg.HTTPTLSKey)
	}
}

func TestMLLPPeersFromConfig(t *testing.T) {
	want := []hl7.Peer{{System: "ri-pas", Addresses: []string{"10.1.2.0/24"}, CertificateNames: []string{"pas.rih.example"}, Applications: []string{"PAS"}}}
	cases := []struct {
		name, yaml, env string
		want            []hl7.Peer
	}{
		{"none", "", "", nil},
		{"config file", "mllp-peers:\n  - system: ri-pas\n    addresses: [10.1.2.0/24]\n    certificate-names: [pas.rih.example]\n    applications: [PAS]\n", "", want},
		{"environment, as JSON", "", `[{"system":"ri-pas","addresses":["10.1.2.0/24"],"certificate-names":["pas.rih.example"],"applications":["PAS"]}]`, want},
		{"unreadable", "", "not json", []hl7.Peer{{}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("CONTACTPOINT_MLLP_PEERS", tc.env)
			}
			v := serveViper(t, tc.yaml, "--mllp-tls-cert", "c.pem", "--mllp-tls-key", "k.pem", "--mllp-tls-client-ca", "ca.pem")
			v.SetEnvPrefix("CONTACTPOINT")
			v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
			v.AutomaticEnv()
			got := feedsConfig(v).HL7
			if !reflect.DeepEqual(got.Peers, tc.want) {
				t.Errorf("peers %+v, want %+v", got.Peers, tc.want)
			}
			if got.TLS != (hl7.TLSFiles{CertFile: "c.pem", KeyFile: "k.pem", ClientCAFile: "ca.pem"}) || got.InsecureOpen {
				t.Errorf("TLS %+v, insecure %v", got.TLS, got.InsecureOpen)
			}
		})
	}
}

func TestHealthcheck(t *testing.T) {
	for _, tc := range []struct {
		status int
		ok     bool
	}{{http.StatusOK, true}, {http.StatusServiceUnavailable, false}} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(tc.status) }))
		cmd := rootCmd()
		cmd.SetArgs([]string{"healthcheck", srv.URL + "/healthz"})
		cmd.SetOut(io.Discard)
		err := cmd.Execute()
		srv.Close()
		if (err == nil) != tc.ok {
			t.Errorf("status %d: healthcheck error %v", tc.status, err)
		}
	}
}
