package natsjs_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"contactpoint/adapters/natsjs"
)

// TestDeployNATSConfig starts the server with deploy/nats/nats.conf, the
// configuration docker-compose.yml runs, and checks that it takes no
// anonymous client, that the hub's user has JetStream, and that an agency
// user may do only what the README says.
func TestDeployNATSConfig(t *testing.T) {
	opts, err := server.ProcessConfigFile(filepath.Join("..", "..", "deploy", "nats", "nats.conf"))
	if err != nil {
		t.Fatal(err)
	}
	opts.Host, opts.Port, opts.HTTPPort = "127.0.0.1", -1, 0
	opts.StoreDir = t.TempDir()
	opts.NoLog, opts.NoSigs = true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	url := ns.ClientURL()

	if nc, err := nats.Connect(url); err == nil {
		nc.Close()
		t.Fatal("an anonymous client connected")
	}

	hub, err := nats.Connect(url, nats.UserInfo("contactpoint", "example-hub-password-replace-me"))
	if err != nil {
		t.Fatalf("the hub's user: %v", err)
	}
	defer hub.Close()
	js, err := hub.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AccountInfo(); err != nil {
		t.Fatalf("JetStream for the hub: %v", err)
	}
	// The hub answers intake on the agency's own inbox.
	sub, err := hub.Subscribe("intake.*.*", func(m *nats.Msg) { _ = m.Respond([]byte(`{"status":"accepted"}`)) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe() //nolint:errcheck
	_ = hub.Flush()

	refused := make(chan error, 4)
	agency, err := nats.Connect(url, nats.UserInfo("health.royal-infirmary-pas", "example-health-password-replace-me"),
		nats.CustomInboxPrefix(natsjs.InboxPrefix("health", "royal-infirmary-pas")),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { refused <- err }))
	if err != nil {
		t.Fatalf("the agency's user: %v", err)
	}
	defer agency.Close()
	if _, err := agency.Request("intake.health.royal-infirmary-pas", []byte(`{}`), 5*time.Second); err != nil {
		t.Fatalf("request on its own intake subject: %v", err)
	}
	for _, subject := range []string{"intake.education.sims", "feeds.health.royal-infirmary-pas", "$JS.API.STREAM.LIST"} {
		if err := agency.Publish(subject, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		_ = agency.Flush()
		select {
		case err := <-refused:
			if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), subject) {
				t.Fatalf("publish to %s: %v", subject, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("publish to %s was not refused", subject)
		}
	}
}
