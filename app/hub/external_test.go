package hub_test

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"testing"
	"time"
)

// externalNATS returns the URL of a NATS server outside the process: the one
// named by CONTACTPOINT_TEST_NATS_URL (its hub streams will be used), or a
// fresh nats-server binary from the PATH on a free port with its own store,
// so the shared server on 4222 is never written to.
func externalNATS(t *testing.T) string {
	t.Helper()
	if u := os.Getenv("CONTACTPOINT_TEST_NATS_URL"); u != "" {
		return u
	}
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nats-server"); serr != nil {
			t.Skip("no nats-server binary to run as an external server")
		}
		bin = "/usr/sbin/nats-server"
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "-a", "127.0.0.1", "-p", fmt.Sprint(port), "-js", "-sd", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "nats://" + addr
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("external nats-server did not start")
	return ""
}

// TestExternalNATS runs the same flow against a NATS server in another
// process, proving --nats-url needs no other change (and, with the Debian
// build, that the hub works on the oldest server version it supports).
func TestExternalNATS(t *testing.T) {
	cfg := newConfig(t)
	cfg.NATSURL = externalNATS(t)
	h := startHub(t, cfg)
	defer h.Close()
	if h.NATS.Embedded() != nil {
		t.Fatal("an embedded server was started although a URL was given")
	}
	if code, body := post(t, h, "health", "application/x-ndjson", ndjson(population(200))); code != http.StatusAccepted {
		t.Fatalf("%d %v", code, body)
	}
	waitProjected(t, h)
	if res := search(t, h, url.Values{"family": {"Family5"}, "birth_date": {"2012-01-06"}}); res.Count != 1 {
		t.Fatalf("want the child through the external server, got %+v", res)
	}
	n, _, err := h.Store.Count(t.Context())
	if err != nil || n != 200 {
		t.Fatalf("want 200 children, got %d (%v)", n, err)
	}
}
