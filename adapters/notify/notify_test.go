package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"contactpoint/adapters/notify"
	"contactpoint/adapters/notify/smtptest"
)

func notice() notify.Notice {
	return notify.Notice{ID: "n-1", Kind: "involvement", ChildID: "0190a000-0000-7000-8000-000000000001",
		To:      notify.Recipient{Key: "p-2", Name: "Sam Carer", Email: "sam.carer@school.example"},
		Subject: "A practitioner is now involved with a child you work with",
		Body:    "Alex Worker (Leeds Health) indicated involvement.\nPhone: 0113 496 0000\n"}
}

func TestSMTPDeliversToTheRecipient(t *testing.T) {
	srv := smtptest.Start(t)
	s, err := notify.NewSMTP(notify.SMTPConfig{Addr: srv.Addr, TLS: notify.TLSNone, From: "hub@contactpoint.example"})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Accepts(notice().To) || s.Accepts(notify.Recipient{Phone: "0113"}) {
		t.Fatal("smtp accepts exactly the recipients with an email")
	}
	if err := s.Send(context.Background(), notice()); err != nil {
		t.Fatal(err)
	}
	m := srv.WaitFor(t, 1, 5*time.Second)[0]
	if len(m.To) != 1 || m.To[0] != "sam.carer@school.example" || m.From != "hub@contactpoint.example" {
		t.Fatalf("envelope: from %q to %v", m.From, m.To)
	}
	if m.Subject != notice().Subject || !strings.Contains(m.Body, "Alex Worker (Leeds Health) indicated involvement.") {
		t.Fatalf("subject %q body %q", m.Subject, m.Body)
	}
	if m.Header.Get("X-Contactpoint-Notification") != "n-1" || !strings.Contains(m.Header.Get("Message-Id"), "n-1@contactpoint") {
		t.Fatalf("notification id headers: %v", m.Header)
	}
}

func TestSMTPFailureSaysNothingOfTheRecipient(t *testing.T) {
	srv := smtptest.Start(t)
	s, err := notify.NewSMTP(notify.SMTPConfig{Addr: srv.Addr, TLS: notify.TLSNone, From: "hub@contactpoint.example"})
	if err != nil {
		t.Fatal(err)
	}
	srv.RefuseNext(1)
	err = s.Send(context.Background(), notice())
	var ne *notify.Error
	if !errors.As(err, &ne) || ne.Code != 451 || !ne.Temp || ne.Reason != "rejected" {
		t.Fatalf("temporary refusal: %v", err)
	}
	if strings.Contains(err.Error(), "sam.carer") || strings.Contains(err.Error(), "try again later") {
		t.Fatalf("error text carries the address or the server's words: %q", err)
	}
	srv.RefuseAll(true)
	if err := s.Send(context.Background(), notice()); !errors.As(err, &ne) || ne.Code != 554 || ne.Temp {
		t.Fatalf("permanent refusal: %v", err)
	}
	// A closed port is a dial failure.
	s2, _ := notify.NewSMTP(notify.SMTPConfig{Addr: "127.0.0.1:1", TLS: notify.TLSNone, From: "hub@contactpoint.example", Timeout: time.Second})
	if err := s2.Send(context.Background(), notice()); !errors.As(err, &ne) || ne.Reason != "dial" {
		t.Fatalf("closed port: %v", err)
	}
	if len(srv.Mails()) != 0 {
		t.Fatal("a refused message arrived")
	}
}

func TestSMTPStartTLSIsRequired(t *testing.T) {
	// The test server offers no STARTTLS: a hub configured for it must not
	// fall back to sending in clear.
	srv := smtptest.Start(t)
	s, err := notify.NewSMTP(notify.SMTPConfig{Addr: srv.Addr, From: "hub@contactpoint.example"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), notice()); err == nil {
		t.Fatal("sent without TLS although starttls is required")
	}
	if len(srv.Mails()) != 0 {
		t.Fatal("a message arrived in clear")
	}
}

func TestSMTPConfigIsChecked(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []notify.SMTPConfig{
		{Addr: "mail.example", From: "a@b"},
		{Addr: "mail.example:x", From: "a@b"},
		{Addr: "mail.example:25", TLS: "maybe", From: "a@b"},
		{Addr: "mail.example:25", TLS: notify.TLSNone},
		{Addr: "mail.example:25", TLS: notify.TLSNone, From: "a@b", Username: "u", Password: "p"},
		{Addr: "mail.example:25", From: "a@b", CAFile: "/nonexistent/ca.pem"},
		{Addr: "mail.example:25", From: "a@b", CAFile: notPEM},
		{Addr: "mail.example:25", TLS: notify.TLSNone, From: "a@b", CAFile: notPEM},
	} {
		if _, err := notify.NewSMTP(c); err == nil {
			t.Errorf("accepted %+v", c)
		}
	}
}

func TestWebhookSignsTheBody(t *testing.T) {
	const secret = "a-shared-secret-of-some-length"
	var got notify.Notice
	var status = http.StatusNoContent
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts, _ := strconv.ParseInt(r.Header.Get(notify.HeaderTimestamp), 10, 64)
		if !notify.Verify(secret, ts, body, r.Header.Get(notify.HeaderSignature)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if r.Header.Get(notify.HeaderID) != "n-1" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "headers", http.StatusBadRequest)
			return
		}
		_ = json.Unmarshal(body, &got)
		w.WriteHeader(status)
	}))
	defer srv.Close()
	w, err := notify.NewWebhook(notify.WebhookConfig{URL: srv.URL, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Send(context.Background(), notice()); err != nil {
		t.Fatal(err)
	}
	if got.ID != "n-1" || got.To.Email != "sam.carer@school.example" || got.Body != notice().Body {
		t.Fatalf("received %+v", got)
	}

	// A receiver with another secret refuses, and the failure is a status.
	w2, _ := notify.NewWebhook(notify.WebhookConfig{URL: srv.URL, Secret: "another-secret-entirely"})
	var ne *notify.Error
	if err := w2.Send(context.Background(), notice()); !errors.As(err, &ne) || ne.Code != 401 || ne.Temp {
		t.Fatalf("wrong secret: %v", err)
	}
	status = http.StatusServiceUnavailable
	if err := w.Send(context.Background(), notice()); !errors.As(err, &ne) || ne.Code != 503 || !ne.Temp {
		t.Fatalf("503: %v", err)
	}
}

func TestWebhookConfigIsChecked(t *testing.T) {
	for _, c := range []notify.WebhookConfig{
		{URL: "http://messaging.example/hook", Secret: "0123456789abcdef"}, // clear text off the host
		{URL: "https://messaging.example/hook", Secret: "short"},
		{URL: "/hook", Secret: "0123456789abcdef"},
	} {
		if _, err := notify.NewWebhook(c); err == nil {
			t.Errorf("accepted %+v", c)
		}
	}
	if _, err := notify.NewWebhook(notify.WebhookConfig{URL: "http://127.0.0.1:9/hook", Secret: "0123456789abcdef"}); err != nil {
		t.Errorf("loopback http refused: %v", err)
	}
}

// TestSMTPOverTLS sends through a server that offers each TLS mode, with
// and without a login, and checks the message arrived encrypted (and
// authenticated) or, where the hub must not trust the server, did not
// arrive at all.
func TestSMTPOverTLS(t *testing.T) {
	const user, pass = "hub", "s3cret-for-the-test"
	cases := []struct {
		name     string
		server   smtptest.Options
		client   func(*smtptest.Server) notify.SMTPConfig
		reason   string // "" when it must arrive
		wantUser string
	}{
		{"starttls, trusted CA", smtptest.Options{TLS: smtptest.TLSStartTLS},
			func(s *smtptest.Server) notify.SMTPConfig {
				return notify.SMTPConfig{Addr: s.Addr, TLS: notify.TLSStartTLS, TLSConfig: s.ClientTLS()}
			}, "", ""},
		{"implicit tls, trusted CA", smtptest.Options{TLS: smtptest.TLSImplicit},
			func(s *smtptest.Server) notify.SMTPConfig {
				return notify.SMTPConfig{Addr: s.Addr, TLS: notify.TLSImplicit, TLSConfig: s.ClientTLS()}
			}, "", ""},
		{"starttls with login", smtptest.Options{TLS: smtptest.TLSStartTLS, User: user, Password: pass},
			func(s *smtptest.Server) notify.SMTPConfig {
				return notify.SMTPConfig{Addr: s.Addr, TLS: notify.TLSStartTLS, TLSConfig: s.ClientTLS(), Username: user, Password: pass}
			}, "", user},
		{"implicit tls with login", smtptest.Options{TLS: smtptest.TLSImplicit, User: user, Password: pass},
			func(s *smtptest.Server) notify.SMTPConfig {
				return notify.SMTPConfig{Addr: s.Addr, TLS: notify.TLSImplicit, TLSConfig: s.ClientTLS(), Username: user, Password: pass}
			}, "", user},
		{"ca file", smtptest.Options{TLS: smtptest.TLSStartTLS},
			func(s *smtptest.Server) notify.SMTPConfig {
				return notify.SMTPConfig{Addr: s.Addr, TLS: notify.TLSStartTLS, CAFile: writeCA(t, s)}
			}, "", ""},
		{"starttls, server not trusted", smtptest.Options{TLS: smtptest.TLSStartTLS},
			func(s *smtptest.Server) notify.SMTPConfig {
				return notify.SMTPConfig{Addr: s.Addr, TLS: notify.TLSStartTLS}
			}, "tls", ""},
		{"implicit tls, server not trusted", smtptest.Options{TLS: smtptest.TLSImplicit},
			func(s *smtptest.Server) notify.SMTPConfig {
				return notify.SMTPConfig{Addr: s.Addr, TLS: notify.TLSImplicit}
			}, "tls", ""},
		{"wrong host name", smtptest.Options{TLS: smtptest.TLSStartTLS},
			func(s *smtptest.Server) notify.SMTPConfig {
				c := s.ClientTLS()
				c.ServerName = "mail.elsewhere.example"
				return notify.SMTPConfig{Addr: s.Addr, TLS: notify.TLSStartTLS, TLSConfig: c}
			}, "tls", ""},
		{"wrong password", smtptest.Options{TLS: smtptest.TLSStartTLS, User: user, Password: pass},
			func(s *smtptest.Server) notify.SMTPConfig {
				return notify.SMTPConfig{Addr: s.Addr, TLS: notify.TLSStartTLS, TLSConfig: s.ClientTLS(), Username: user, Password: "guess"}
			}, "any", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := smtptest.StartWith(t, c.server)
			cfg := c.client(srv)
			cfg.From, cfg.Timeout = "hub@contactpoint.example", 5*time.Second
			s, err := notify.NewSMTP(cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = s.Send(context.Background(), notice())
			if c.reason != "" {
				var ne *notify.Error
				if !errors.As(err, &ne) {
					t.Fatalf("sent to a server the hub must not use: %v", err)
				}
				if c.reason != "any" && ne.Reason != c.reason {
					t.Fatalf("reason %q, want %q (%v)", ne.Reason, c.reason, err)
				}
				if strings.Contains(err.Error(), "sam.carer") || strings.Contains(err.Error(), pass) {
					t.Fatalf("error names the recipient or the password: %q", err)
				}
				if len(srv.Mails()) != 0 {
					t.Fatal("a message arrived although the send failed")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m := srv.WaitFor(t, 1, 5*time.Second)[0]
			if !m.TLS {
				t.Fatal("the message arrived over a plain connection")
			}
			if m.User != c.wantUser {
				t.Fatalf("authenticated as %q, want %q", m.User, c.wantUser)
			}
			if m.Subject != notice().Subject {
				t.Fatalf("subject %q", m.Subject)
			}
		})
	}
}

// writeCA writes the test server's CA certificate as PEM, as an operator
// would give the hub a council relay's CA.
func writeCA(t *testing.T, s *smtptest.Server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, s.CAPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
