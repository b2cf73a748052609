package intake_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"golang.org/x/crypto/bcrypt"

	"contactpoint/adapters/natsjs"
	"contactpoint/app/intake"
	"contactpoint/domain/record"
	"contactpoint/schemas"
)

func TestReplyAllowed(t *testing.T) {
	const agency, system = "health", "royal-infirmary-pas"
	for _, tc := range []struct {
		reply string
		ok    bool
	}{
		{"_INBOX.health.royal-infirmary-pas.Xk3v9.1", true},
		{"_INBOX.health.royal-infirmary-pas.Xk3v9", true},
		{"_INBOX.health.royal-infirmary-pas", false},
		{"_INBOX.health.royal-infirmary-pas.", false},
		{"_INBOX.health.royal-infirmary-pas..1", false},
		{"_INBOX.health.royal-infirmary-pas.*", false},
		{"_INBOX.health.royal-infirmary-pas.>", false},
		{"_INBOX.health.royal-infirmary-pas.a.*", false},
		{"_INBOX.health.royal-infirmary-pas.a b", false},
		{"_INBOX.health.royal-infirmary-pas.a\x00", false},
		{"_INBOX.health.royal-infirmary-pasx.1", false},
		{"_INBOX.health.other-pas.1", false},
		{"_INBOX.education.sims.1", false},
		{"_INBOX.abc123", false},
		{"feeds.health.royal-infirmary-pas", false},
		{"feeds.health.x", false},
		{"children." + uuid.NewString(), false},
		{"$JS.API.STREAM.DELETE.FEEDS", false},
		{"$JS.ACK.FEEDS.x.1.1.1.1.0", false},
		{"intake.health.royal-infirmary-pas", false},
		{"", false},
	} {
		if got := intake.ReplyAllowed(agency, system, tc.reply); got != tc.ok {
			t.Errorf("ReplyAllowed(%q) = %v, want %v", tc.reply, got, tc.ok)
		}
	}
}

// natsIntake is an embedded server that listens, with one agency user, and
// NATS intake serving it.
type natsIntake struct {
	conn              *natsjs.Conn
	url, user, secret string
}

func startNATSIntake(t *testing.T, agency, system string) *natsIntake {
	t.Helper()
	const password = "agency-secret-0123"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	conn, err := natsjs.Open(ctx, natsjs.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0",
		Agencies: []natsjs.AgencyUser{{Agency: agency, System: system, PasswordHash: string(hash)}}}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); conn.Close() })
	v, err := schemas.NewValidator(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := intake.SubscribeNATS(ctx, conn.NC, intake.New(conn.JS, v), log); err != nil {
		t.Fatal(err)
	}
	return &natsIntake{conn: conn, url: conn.Embedded().ClientURL(), user: agency + "." + system, secret: password}
}

func (n *natsIntake) msgs(t *testing.T, stream string) uint64 {
	t.Helper()
	st, err := n.conn.JS.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func healthRecord(t *testing.T, system, id string) []byte {
	t.Helper()
	raw, err := schemas.FS.ReadFile("examples/health.json")
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	src := rec["source"].(map[string]any)
	src["system"], src["record_id"] = system, id
	b, _ := json.Marshal(rec)
	return b
}

// TestForeignReplySubjectsAreRefused: an agency system that names a reply
// subject other than its own inbox gets no reply anywhere; its record is
// quarantined with the reason and nothing reaches FEEDS, and intake goes on
// serving honest requests.
func TestForeignReplySubjectsAreRefused(t *testing.T) {
	const agency, system = "health", "royal-infirmary-pas"
	n := startNATSIntake(t, agency, system)

	// The hub's own connection may subscribe to anything: it watches every
	// subject a hostile reply names, so a reply published there is seen.
	watch, err := n.conn.NC.SubscribeSync(">")
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Unsubscribe() //nolint:errcheck
	if err := n.conn.NC.Flush(); err != nil {
		t.Fatal(err)
	}

	nc, err := nats.Connect(n.url, nats.UserInfo(n.user, n.secret), nats.CustomInboxPrefix(natsjs.InboxPrefix(agency, system)))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	hostile := []string{
		"feeds." + agency + "." + system,
		"feeds.health.x",
		"children." + uuid.NewString(),
		"$JS.API.STREAM.PURGE.FEEDS",
		"_INBOX.education.sims.x",
		"_INBOX.health.other-pas.x",
		"_INBOX." + agency + "." + system, // the prefix alone
		"_INBOX." + agency + "." + system + ".*",
		"_INBOX." + agency + "." + system + ".>",
		"quarantine.resolved.1",
	}
	for i, reply := range hostile {
		m := nats.NewMsg("intake." + agency + "." + system)
		m.Reply = reply
		m.Data = healthRecord(t, system, "HOSTILE-"+string(rune('A'+i)))
		if err := nc.PublishMsg(m); err != nil {
			t.Fatalf("publish with reply %s: %v", reply, err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	// Wait until every hostile request has been dealt with: each becomes a
	// quarantine entry.
	deadline := time.Now().Add(10 * time.Second)
	for n.msgs(t, natsjs.StreamQuarantine) < uint64(len(hostile)) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	q := n.msgs(t, natsjs.StreamQuarantine)
	if q != uint64(len(hostile)) {
		t.Fatalf("QUARANTINE holds %d entries, want one per hostile request (%d)", q, len(hostile))
	}
	if f := n.msgs(t, natsjs.StreamFeeds); f != 0 {
		t.Fatalf("FEEDS holds %d records after requests with foreign reply subjects", f)
	}

	// Every quarantine entry names the reply rule and keeps the bytes sent.
	st, err := n.conn.JS.Stream(context.Background(), natsjs.StreamQuarantine)
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= q; seq++ {
		msg, err := st.GetMsg(context.Background(), seq)
		if err != nil {
			t.Fatal(err)
		}
		var reasons []record.FieldError
		if err := json.Unmarshal([]byte(msg.Header.Get(natsjs.HeaderReason)), &reasons); err != nil {
			t.Fatal(err)
		}
		if len(reasons) != 1 || reasons[0].Field != "reply" || reasons[0].Rule != intake.RuleReplySubject {
			t.Errorf("entry %d reasons %+v, want field reply, rule %s", seq, reasons, intake.RuleReplySubject)
		}
		if msg.Subject != "quarantine."+agency+"."+system || !strings.HasPrefix(msg.Header.Get(natsjs.HeaderRecordID), "HOSTILE-") {
			t.Errorf("entry %d on %s for record %q", seq, msg.Subject, msg.Header.Get(natsjs.HeaderRecordID))
		}
	}

	// An honest request is still answered on the requester's own inbox.
	reply, err := nc.Request("intake."+agency+"."+system, healthRecord(t, system, "HONEST-1"), 10*time.Second)
	if err != nil {
		t.Fatalf("honest request after the hostile ones: %v", err)
	}
	var out intake.Outcome
	if err := json.Unmarshal(reply.Data, &out); err != nil || out.Status != intake.StatusAccepted {
		t.Fatalf("honest reply %s (%v)", reply.Data, err)
	}
	if f := n.msgs(t, natsjs.StreamFeeds); f != 1 {
		t.Fatalf("FEEDS holds %d records, want the honest one", f)
	}

	// Nothing the hub published went to a hostile subject: every message on
	// a hostile subject is the honest record's append to FEEDS; the rest is
	// the hub's own traffic (JetStream's API, the one honest reply).
	bad := map[string]bool{}
	for _, s := range hostile {
		bad[s] = true
	}
	for {
		m, err := watch.NextMsg(200 * time.Millisecond)
		if err != nil {
			break
		}
		honest := m.Subject == "feeds."+agency+"."+system && strings.Contains(string(m.Data), "HONEST-1")
		if (bad[m.Subject] && !honest) || strings.HasPrefix(m.Subject, "_INBOX.education.") || strings.HasPrefix(m.Subject, "_INBOX.health.other-pas") {
			t.Errorf("the hub published %d bytes to %s", len(m.Data), m.Subject)
		}
	}
}

// TestIntakeSubjectTokensAreChecked: a request on a subject whose agency or
// system token is not a name the hub accepts is quarantined with the reason
// and never answered.
func TestIntakeSubjectTokensAreChecked(t *testing.T) {
	n := startNATSIntake(t, "health", "royal-infirmary-pas")
	for _, tc := range []struct {
		subject, rule string
	}{
		{"intake.council.royal-infirmary-pas", intake.RuleSubjectAgency},
		{"intake.health.Royal_PAS", intake.RuleSubjectSystem},
		{"intake.health.-pas", intake.RuleSubjectSystem},
		{"intake.health." + strings.Repeat("a", 41), intake.RuleSubjectSystem},
	} {
		t.Run(tc.subject, func(t *testing.T) {
			before := n.msgs(t, natsjs.StreamQuarantine)
			// The hub's own connection may publish anywhere; an agency user
			// could not reach these subjects at all.
			_, err := n.conn.NC.Request(tc.subject, healthRecord(t, "royal-infirmary-pas", "X-1"), 500*time.Millisecond)
			if err == nil {
				t.Fatalf("a request on %s was answered", tc.subject)
			}
			deadline := time.Now().Add(5 * time.Second)
			for n.msgs(t, natsjs.StreamQuarantine) == before && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			st, _ := n.conn.JS.Stream(context.Background(), natsjs.StreamQuarantine)
			msg, err := st.GetLastMsgForSubject(context.Background(), "quarantine.>")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(msg.Header.Get(natsjs.HeaderReason), `"rule":"`+tc.rule+`"`) {
				t.Errorf("reason %s, want rule %s", msg.Header.Get(natsjs.HeaderReason), tc.rule)
			}
		})
	}
	if f := n.msgs(t, natsjs.StreamFeeds); f != 0 {
		t.Fatalf("FEEDS holds %d records", f)
	}
}
