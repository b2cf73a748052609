package hub_test

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"golang.org/x/crypto/bcrypt"

	"contactpoint/adapters/natsjs"
	"contactpoint/app/intake"
	"contactpoint/app/quarantine"
)

// TestHostileReplySubjects: an agency system signed in as its own NATS user
// names reply subjects that would make the hub publish into a stream,
// JetStream's API or another agency's inbox. The hub answers none of them,
// quarantines each request with the reason, appends nothing to FEEDS or
// CHILDREN, and goes on serving.
func TestHostileReplySubjects(t *testing.T) {
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

	nc, err := nats.Connect(h.NATS.Embedded().ClientURL(), nats.UserInfo(agency+"."+system, password),
		nats.CustomInboxPrefix(natsjs.InboxPrefix(agency, system)))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	child := uuid.NewString()
	hostile := []string{
		"feeds.health.x",
		"feeds." + agency + "." + system,
		"children." + child,
		"$JS.API.STREAM.DELETE.FEEDS",
		"_INBOX.other.sys.x",
		"_INBOX.education.sims.x",
		"_INBOX." + agency + "." + system + ".*",
	}
	// The hub's connection watches every hostile subject: were a reply
	// published to one, it would be seen here.
	var watches []*nats.Subscription
	for _, s := range hostile {
		sub, err := h.NATS.NC.SubscribeSync(s)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe() //nolint:errcheck
		watches = append(watches, sub)
	}
	if err := h.NATS.NC.Flush(); err != nil {
		t.Fatal(err)
	}
	feeds, children := streamMsgs(t, h, natsjs.StreamFeeds), streamMsgs(t, h, natsjs.StreamChildren)

	for _, reply := range hostile {
		m := nats.NewMsg("intake." + agency + "." + system)
		m.Reply = reply
		m.Data = example(t, agency)
		if err := nc.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var page quarantine.Page
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if page, err = h.Feeds.Quarantine.List(ctx, quarantine.Filter{Agency: agency, System: system}); err != nil {
			t.Fatal(err)
		}
		if len(page.Entries) >= len(hostile) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(page.Entries) != len(hostile) {
		t.Fatalf("%d quarantine entries, want one per hostile request (%d)", len(page.Entries), len(hostile))
	}
	for _, e := range page.Entries {
		if len(e.Reasons) != 1 || e.Reasons[0].Field != "reply" || e.Reasons[0].Rule != intake.RuleReplySubject || e.Channel != "nats" {
			t.Errorf("entry %d: channel %s reasons %+v", e.Seq, e.Channel, e.Reasons)
		}
		if e.RecordID != "RI-0048213" {
			t.Errorf("entry %d keeps record id %q", e.Seq, e.RecordID)
		}
	}
	if f, c := streamMsgs(t, h, natsjs.StreamFeeds), streamMsgs(t, h, natsjs.StreamChildren); f != feeds || c != children {
		t.Fatalf("hostile requests changed the log: FEEDS %d→%d, CHILDREN %d→%d", feeds, f, children, c)
	}

	// The hub still serves the same sender on its own inbox.
	msg, err := nc.Request("intake."+agency+"."+system, example(t, agency), 10*time.Second)
	if err != nil {
		t.Fatalf("honest request: %v", err)
	}
	var out intake.Outcome
	if err := json.Unmarshal(msg.Data, &out); err != nil || out.Status != intake.StatusAccepted {
		t.Fatalf("honest reply %s (%v)", msg.Data, err)
	}
	waitProjected(t, h)
	if f := streamMsgs(t, h, natsjs.StreamFeeds); f != feeds+1 {
		t.Fatalf("FEEDS grew by %d, want only the accepted record", f-feeds)
	}
	if res := search(t, h, url.Values{"family": {"hughes"}, "birth_date": {"2015-03-14"}}); res.Count != 1 {
		t.Fatalf("accepted record not in the directory: %+v", res)
	}

	for i, sub := range watches {
		for {
			m, err := sub.NextMsg(100 * time.Millisecond)
			if err != nil {
				break
			}
			// The honest record's append to FEEDS is the only message a
			// watched subject may carry; it is a record, not an outcome.
			if hostile[i] == "feeds."+agency+"."+system {
				var probe map[string]any
				if json.Unmarshal(m.Data, &probe) == nil && probe["schema"] != nil && probe["status"] == nil {
					continue
				}
			}
			t.Errorf("the hub published %d bytes to %s", len(m.Data), m.Subject)
		}
	}
}
