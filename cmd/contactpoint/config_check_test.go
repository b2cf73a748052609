package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run runs the command line as main does and returns its error.
func run(t *testing.T, args ...string) error {
	t.Helper()
	root := rootCmd()
	root.SetArgs(args)
	root.SetOut(new(strings.Builder))
	return root.Execute()
}

// TestConfigMistakesStopTheStart checks that a mistyped setting in the
// config file or the environment, or a value that does not parse, stops
// the command in one line naming it, before anything is opened.
func TestConfigMistakesStopTheStart(t *testing.T) {
	dir := t.TempDir()
	file := func(body string) string {
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name, yaml, env, envVal string
		args                    []string
		want                    string
	}{
		{name: "unknown key in the file", yaml: "htp-addr: 127.0.0.1:1\n", want: `unknown setting "htp-addr"`},
		{name: "unknown nested key", yaml: "oidc:\n  issuer-url: x\n", want: `unknown setting "oidc.issuer-url"`},
		{name: "unknown environment variable", env: "CONTACTPOINT_DATABASE_ULR", envVal: "x", want: "CONTACTPOINT_DATABASE_ULR"},
		{name: "not a number", yaml: "stream-replicas: three\n", want: "setting stream-replicas"},
		{name: "not host:port", env: "CONTACTPOINT_HTTP_ADDR", envVal: "nowhere", want: "setting http-addr"},
		{name: "bad log level", args: []string{"--log-level", "loud"}, want: "setting log-level"},
		{name: "bad log format", yaml: "log-format: xml\n", want: "setting log-format"},
		{name: "public URL without a scheme", env: "CONTACTPOINT_PUBLIC_URL", envVal: "hub.leeds.gov.uk", want: "setting public-url"},
		{name: "public URL with a query", yaml: "public-url: https://hub.leeds.gov.uk/?x=1\n", want: "setting public-url"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// A data directory of the test's own: a mistake the check
			// missed would start the hub, which must not write into the
			// source tree.
			args := append([]string{"serve", "--data-dir", t.TempDir(), "--database-url", "postgres://nobody@127.0.0.1:1/x"}, tc.args...)
			if tc.yaml != "" {
				args = append(args, "--config", file(tc.yaml))
			}
			if tc.env != "" {
				t.Setenv(tc.env, tc.envVal)
			}
			err := run(t, args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("want one line naming %q, got %v", tc.want, err)
			}
		})
	}
}

// TestBusyPortAndUnwritableDirAreReportedAtOnce checks the start-up checks
// that run before any store is opened.
func TestBusyPortAndUnwritableDirAreReportedAtOnce(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Log("running as root: the unwritable data directory case is left out")
	}
	l, err := netListen(t)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	err = run(t, "serve", "--http-addr", l.Addr().String(), "--data-dir", t.TempDir(), "--database-url", "postgres://nobody@127.0.0.1:1/x")
	if err == nil || !strings.Contains(err.Error(), "http-addr") {
		t.Fatalf("busy port: %v", err)
	}
	if os.Geteuid() != 0 {
		ro := filepath.Join(t.TempDir(), "ro")
		if err := os.Mkdir(ro, 0o500); err != nil {
			t.Fatal(err)
		}
		err = run(t, "serve", "--http-addr", "127.0.0.1:0", "--data-dir", ro, "--database-url", "postgres://nobody@127.0.0.1:1/x")
		if err == nil || !strings.Contains(err.Error(), "data-dir") {
			t.Fatalf("unwritable data directory: %v", err)
		}
	}
}

func netListen(t *testing.T) (net.Listener, error) {
	t.Helper()
	return net.Listen("tcp", "127.0.0.1:0")
}
