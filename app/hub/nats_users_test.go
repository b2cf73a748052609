package hub_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"golang.org/x/crypto/bcrypt"

	"contactpoint/adapters/natsjs"
)

// TestNATSAgencyUsers runs a hub whose embedded server listens, with one
// agency system's user, and checks from outside the process what that user
// may and may not do.
func TestNATSAgencyUsers(t *testing.T) {
	const agency, system, password = "health", "royal-infirmary-pas", "agency-secret-0123"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cfg := newConfig(t)
	cfg.NATSListen = "127.0.0.1:0"
	cfg.NATSUsers = []natsjs.AgencyUser{{Agency: agency, System: system, PasswordHash: string(hash)}}
	h := startHub(t, cfg)
	defer h.Close()
	url := h.NATS.Embedded().ClientURL()

	for name, opts := range map[string][]nats.Option{
		"no credentials": nil,
		"wrong password": {nats.UserInfo(agency+"."+system, "wrong")},
		"hub's name":     {nats.UserInfo(natsjs.HubUser, password)},
	} {
		if nc, err := nats.Connect(url, opts...); err == nil {
			nc.Close()
			t.Errorf("%s: connected", name)
		}
	}

	refused := make(chan error, 16)
	nc, err := nats.Connect(url, nats.UserInfo(agency+"."+system, password),
		nats.CustomInboxPrefix(natsjs.InboxPrefix(agency, system)),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { refused <- err }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	msg, err := nc.Request("intake."+agency+"."+system, example(t, agency), 10*time.Second)
	if err != nil {
		t.Fatalf("request on its own intake subject: %v", err)
	}
	var out map[string]any
	if err := json.Unmarshal(msg.Data, &out); err != nil || out["status"] != "accepted" {
		t.Fatalf("reply %s (%v)", msg.Data, err)
	}

	cases := []struct {
		name, op, subject string
	}{
		{"another agency's intake", "pub", "intake.education.sims"},
		{"another system of its agency", "pub", "intake." + agency + ".other-pas"},
		{"the feed log directly", "pub", "feeds." + agency + "." + system},
		{"a child's events", "pub", "children." + uuid.NewString()},
		{"JetStream's API", "pub", "$JS.API.STREAM.DELETE.FEEDS"},
		{"children's events", "sub", "children.>"},
		{"everything", "sub", ">"},
		{"every reply, the hub's included", "sub", "_INBOX.>"},
		{"the audit trail", "sub", "audit.>"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.op == "pub" {
				if err := nc.Publish(tc.subject, example(t, agency)); err != nil {
					t.Fatal(err)
				}
			} else if _, err := nc.SubscribeSync(tc.subject); err != nil {
				t.Fatal(err)
			}
			_ = nc.Flush()
			select {
			case err := <-refused:
				if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), tc.subject) {
					t.Fatalf("refusal: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%s %s was not refused", tc.op, tc.subject)
			}
		})
	}
	if !nc.IsConnected() {
		t.Fatal("agency connection dropped")
	}
	if n := streamMsgs(t, h, natsjs.StreamFeeds); n != 1 {
		t.Fatalf("FEEDS holds %d records, want only the one sent to the agency's own subject", n)
	}
}
