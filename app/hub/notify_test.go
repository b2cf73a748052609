package hub_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"contactpoint/adapters/auth"
	"contactpoint/adapters/httpapi"
	"contactpoint/adapters/notify"
	"contactpoint/adapters/notify/smtptest"
	"contactpoint/app/childlog"
	"contactpoint/app/hub"
	"contactpoint/app/notifier"
	"contactpoint/domain/access"
)

func notifyConfig(t *testing.T, smtpAddr string) hub.Config {
	cfg := newConfig(t)
	cfg.Notify = notifier.Config{
		SMTP:       notify.SMTPConfig{Addr: smtpAddr, TLS: notify.TLSNone, From: "contactpoint@hub.example", Timeout: 5 * time.Second},
		MaxRetries: 2, InitialInterval: 20 * time.Millisecond, MaxInterval: 50 * time.Millisecond,
	}
	return cfg
}

// notifyClient serves the API of h with the test viewers and the parked
// notices.
func notifyClient(t *testing.T, h *hub.Hub) client {
	api := &httpapi.Server{Intake: h.Intake, Store: h.Store, Log: quietLog(), Children: &childlog.Log{JS: h.NATS.JS, NC: h.NATS.NC}}
	if h.Notifier != nil {
		api.Notifications = h.Notifier.Parked
	}
	srv := httptest.NewServer(asViewer(api.Handler()))
	t.Cleanup(srv.Close)
	return client{t, srv.URL}
}

func childID(t *testing.T, c client) string {
	var res struct {
		Results []struct {
			Child map[string]any `json:"child"`
		} `json:"results"`
	}
	_ = json.Unmarshal(c.must("ordinary", "GET", "/v1/children?family=Hughes&birth_date=2015-03-14", nil, 200), &res)
	if len(res.Results) != 1 {
		t.Fatalf("want one child, got %d", len(res.Results))
	}
	return res.Results[0].Child["id"].(string)
}

func notificationRows(t *testing.T, h *hub.Hub) int {
	var n int
	if err := h.DB.QueryRow(context.Background(), "select count(*) from notifications").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// The journey: a practitioner indicates involvement; the hub is stopped
// before the notifier runs; after a restart the social worker on the record
// gets one mail naming the child and the new practitioner's contact, and no
// sensitive service; a further restart sends nothing again.
func TestInvolvementNoticeSurvivesACrashAndIsSentOnce(t *testing.T) {
	mail := smtptest.Start(t)
	cfg := notifyConfig(t, mail.Addr)
	cfg.DeferNotifier = true
	h := startHub(t, cfg)
	c := notifyClient(t, h)
	submit(t, h, "health", example(t, "health"))
	submit(t, h, "social-care", example(t, "social-care"))
	waitProjected(t, h)
	id := childID(t, c)
	c.must("ordinary", "POST", "/v1/children/"+id+"/involvement",
		map[string]any{"service": "Health visiting", "role": "Health visitor", "phone": "0113 496 0500", "email": "pat.practitioner@nhs.example"}, 201)
	waitProjected(t, h)
	h.Close() // the event is in the log; nothing has been sent

	if n := len(mail.Mails()); n != 0 {
		t.Fatalf("%d mails before the notifier ran", n)
	}
	cfg.DeferNotifier = false
	h2 := startHub(t, cfg)
	got := mail.WaitFor(t, 1, 30*time.Second)
	m := got[0]
	if len(m.To) != 1 || m.To[0] != "tom.reid@example.gov.uk" {
		t.Fatalf("sent to %v, want the social worker only", m.To)
	}
	if m.Subject != notifier.SubjectInvolvement {
		t.Fatalf("subject %q", m.Subject)
	}
	for _, want := range []string{"Hughes", "2015-03-14", "Pat Practitioner", "0113 496 0500", "pat.practitioner@nhs.example", "Health visiting", id} {
		if !strings.Contains(m.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, m.Body)
		}
	}
	for _, never := range []string{"Mindmate", "counselling", "mental-health", "0113 496 0400", "LS", "Amira"} {
		if strings.Contains(m.Body, never) || strings.Contains(m.Subject, never) {
			t.Errorf("notice carries %q:\n%s", never, m.Body)
		}
	}
	// The entry follows the send; give the trail a moment.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		n := auditCount(t, h2, "action = $1 and subject like 'contact:%' and $2 = any(children)", notifier.ActNotificationSent, id)
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d notification-sent audit entries for the child, want 1", n)
		}
	}
	h2.Close()

	h3 := startHub(t, cfg)
	defer h3.Close()
	time.Sleep(2 * time.Second)
	if n := len(mail.Mails()); n != 1 {
		t.Fatalf("%d mails after a second restart, want 1", n)
	}
	if n := notificationRows(t, h3); n != 1 {
		t.Fatalf("%d notifications recorded, want 1", n)
	}
}

// For a shielded child the notice says only that a practitioner indicated
// involvement with a shielded record, and whom to contact.
func TestInvolvementNoticeOfAShieldedChildSaysNothingOfIt(t *testing.T) {
	mail := smtptest.Start(t)
	h := startHub(t, notifyConfig(t, mail.Addr))
	defer h.Close()
	c := notifyClient(t, h)
	submit(t, h, "health", example(t, "health"))
	submit(t, h, "social-care", example(t, "social-care"))
	waitProjected(t, h)
	id := childID(t, c)
	shield := map[string]any{"requested_by": "parent", "requested_by_kind": "parent-carer", "reason_category": "domestic-abuse",
		"review_date": time.Now().AddDate(0, 3, 0).Format(time.DateOnly), "contact": "Shielding team, 0113 496 0999"}
	c.must("officer", "POST", "/v1/children/"+id+"/shield", shield, 201)
	c.must("ordinary", "POST", "/v1/children/"+id+"/involvement", map[string]any{"service": "Health visiting", "phone": "0113 496 0500"}, 201)
	m := mail.WaitFor(t, 1, 30*time.Second)[0]
	if m.To[0] != "tom.reid@example.gov.uk" || m.Subject != notifier.SubjectShielded {
		t.Fatalf("to %v subject %q", m.To, m.Subject)
	}
	if !strings.Contains(m.Body, "Shielding team, 0113 496 0999") {
		t.Fatalf("no contact route:\n%s", m.Body)
	}
	for _, never := range []string{"Olivia", "Hughes", "2015", "Pat Practitioner", "0113 496 0500", "Health visiting", id, "Mindmate"} {
		if strings.Contains(m.Body, never) {
			t.Errorf("shielded notice carries %q:\n%s", never, m.Body)
		}
	}
}

// A mail server that refuses: the message is retried, then parked with a
// reason that names no one; an administrator's retry delivers it once.
func TestFailedNoticeIsParkedAndRetried(t *testing.T) {
	mail := smtptest.Start(t)
	mail.RefuseAll(true)
	h := startHub(t, notifyConfig(t, mail.Addr))
	defer h.Close()
	c := notifyClient(t, h)
	submit(t, h, "social-care", example(t, "social-care"))
	waitProjected(t, h)
	id := childID(t, c)
	c.must("ordinary", "POST", "/v1/children/"+id+"/involvement", map[string]any{"service": "Health visiting", "phone": "0113 496 0500"}, 201)

	var list struct {
		Count  int                     `json:"count"`
		Parked []notifier.ParkedNotice `json:"parked"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for list.Count == 0 {
		if time.Now().After(deadline) {
			t.Fatal("nothing parked")
		}
		time.Sleep(100 * time.Millisecond)
		_ = json.Unmarshal(c.must("", "GET", "/v1/notifications/parked", nil, 200), &list)
	}
	p := list.Parked[0]
	if p.Stream != "CHILDREN" || p.Kind != notifier.KindInvolvement || !strings.Contains(p.Reason, "smtp delivery failed: rejected 554") {
		t.Fatalf("parked %+v", p)
	}
	if strings.Contains(p.Reason, "tom.reid") || strings.Contains(p.Reason, "refused for the test") {
		t.Fatalf("reason carries what the server said: %q", p.Reason)
	}
	c.must("", "POST", "/v1/notifications/parked/999999/retry", nil, 404)
	mail.RefuseAll(false)
	c.must("", "POST", "/v1/notifications/parked/"+itoa(p.ID)+"/retry", nil, 202)
	m := mail.WaitFor(t, 1, 30*time.Second)
	if m[0].To[0] != "tom.reid@example.gov.uk" {
		t.Fatalf("retry sent to %v", m[0].To)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		_ = json.Unmarshal(c.must("", "GET", "/v1/notifications/parked", nil, 200), &list)
		if list.Count == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still parked after a successful retry: %+v", list.Parked)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)
	if n := len(mail.Mails()); n != 1 {
		t.Fatalf("%d mails, want 1", n)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// The daily check: shield officers hear of a shield due for review, data
// stewards of a possible match left waiting; each notice names the record
// or task and nothing of the child, goes only to people holding the role
// with an email, and goes once however often the check runs.
func TestDailyNoticesGoOnceToTheRole(t *testing.T) {
	mail := smtptest.Start(t)
	cfg := notifyConfig(t, mail.Addr)
	cfg.Notify.ShieldLead = 200 * 24 * time.Hour
	// A task has waited long enough by the first check. Stewards are told
	// again after each further ReviewAge, by design, so across the restart
	// only the shield notice (once per review date) is held to "once".
	cfg.Notify.ReviewAge = time.Millisecond
	cfg.DeferNotifier = true
	h := startHub(t, cfg)
	ctx := context.Background()
	withEmail := func(username, email string, roles ...string) {
		p, _, err := h.Registry.Enrol(ctx, auth.Enrolment{Username: username, Name: "Test " + username, Organisation: "Test Council",
			JobRole: "Tester", Roles: roles}, "system")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.Registry.Apply(ctx, p.ID, "system", auth.Change{Email: &email}); err != nil {
			t.Fatal(err)
		}
	}
	withEmail("daily-officer", "shield.team@council.example", access.RoleShield)
	withEmail("daily-steward", "data.steward@council.example", access.RoleSteward)
	withEmail("daily-practitioner", "practitioner@council.example", access.RolePractitioner)

	send(t, h, olivia)
	send(t, h, movedOlivia()) // a possible match: a review task
	a := childOf(t, h, "health", "pas", "H1")
	shieldChild(t, h, a)

	h.StartNotifier()
	got := mail.WaitFor(t, 2, 30*time.Second)
	bySubject := map[string]smtptest.Mail{}
	for _, m := range got {
		bySubject[m.Subject] = m
	}
	shield, ok := bySubject[notifier.SubjectShieldReview]
	if !ok || len(shield.To) != 1 || shield.To[0] != "shield.team@council.example" || !strings.Contains(shield.Body, a) {
		t.Fatalf("shield notice: %+v", shield)
	}
	review, ok := bySubject[notifier.SubjectReviewWaiting]
	if !ok || len(review.To) != 1 || review.To[0] != "data.steward@council.example" || !strings.Contains(review.Body, "Review task") {
		t.Fatalf("review notice: %+v", review)
	}
	for _, m := range got {
		for _, never := range []string{"Hughes", "Olivia", "Elm Grove", "LS6 2AB", "Stanmore", "Sarah", "domestic-abuse"} {
			if strings.Contains(m.Body, never) || strings.Contains(m.Subject, never) {
				t.Errorf("%q carries %q:\n%s", m.Subject, never, m.Body)
			}
		}
	}
	h.Close()
	// A restart runs the check again: nothing is sent twice.
	cfg.DeferNotifier = false
	h2 := startHub(t, cfg)
	defer h2.Close()
	time.Sleep(2 * time.Second)
	shields := 0
	for _, m := range mail.Mails() {
		if m.Subject == notifier.SubjectShieldReview {
			shields++
		}
	}
	if shields != 1 {
		t.Fatalf("%d shield notices after the check ran again, want 1", shields)
	}
}
