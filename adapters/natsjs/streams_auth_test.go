package natsjs

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// TestAgencyNATSUserPublishesOnlyItsOwnSubject runs a server with an agency
// system's user and checks what it may and may not publish.
func TestAgencyNATSUserPublishesOnlyItsOwnSubject(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true,
		Users: []*server.User{{Username: "hub", Password: "hub-secret"}, AgencyNATSUser("health", "pas", "agency-secret")}})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	hub, err := nats.Connect(ns.ClientURL(), nats.UserInfo("hub", "hub-secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	got := make(chan string, 10)
	if _, err := hub.Subscribe(">", func(m *nats.Msg) { got <- m.Subject }); err != nil {
		t.Fatal(err)
	}
	_ = hub.Flush()

	denied := make(chan error, 10)
	agency, err := nats.Connect(ns.ClientURL(), nats.UserInfo("health.pas", "agency-secret"),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { denied <- err }))
	if err != nil {
		t.Fatal(err)
	}
	defer agency.Close()
	for _, subj := range []string{"intake.health.other", "intake.education.pas", "feeds.health.pas", "$JS.API.STREAM.DELETE.FEEDS", "intake.health.pas"} {
		_ = agency.Publish(subj, []byte("{}"))
	}
	_ = agency.Flush()
	select {
	case s := <-got:
		if s != "intake.health.pas" {
			t.Fatalf("agency user published to %s", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("own subject not delivered")
	}
	select {
	case s := <-got:
		t.Fatalf("agency user also published to %s", s)
	case <-time.After(300 * time.Millisecond):
	}
	select {
	case err := <-denied:
		if !errors.Is(err, nats.ErrPermissionViolation) {
			t.Fatalf("refusal: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no permission violation reported")
	}
	if _, err := nats.Connect(ns.ClientURL(), nats.UserInfo("health.pas", "wrong")); err == nil {
		t.Fatal("wrong password accepted")
	}
}
