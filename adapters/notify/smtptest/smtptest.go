// Package smtptest runs a real SMTP server in the test process (go-smtp)
// and keeps what it receives, so tests check the mail that arrived rather
// than the calls that were made.
package smtptest

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	smtp "github.com/emersion/go-smtp"
)

// Mail is one received message.
type Mail struct {
	From    string
	To      []string
	Subject string
	Header  mail.Header
	Body    string
	// TLS says whether the message came over an encrypted connection;
	// User is who authenticated for it ("" without AUTH).
	TLS  bool
	User string
}

// TLS modes the server can offer, as the hub's notify.smtp.tls names them.
const (
	TLSStartTLS = "starttls" // plain connection, STARTTLS offered
	TLSImplicit = "tls"      // TLS from the first byte
)

// Options choose what the server offers and demands.
type Options struct {
	TLS string // "" (plain only), TLSStartTLS or TLSImplicit
	// User and Password, when set, make AUTH PLAIN required before MAIL,
	// and accepted only over TLS.
	User, Password string
}

// Server is a running SMTP server on the loopback interface.
type Server struct {
	Addr string
	srv  *smtp.Server

	mu      sync.Mutex
	mails   []Mail
	refuse  int  // refuse this many DATA commands before accepting
	always  bool // refuse every DATA
	arrived chan struct{}

	opts   Options
	client *tls.Config // trusts the server's certificate
	caPEM  []byte
}

// Start runs a plain server until the test ends.
func Start(t testing.TB) *Server { return StartWith(t, Options{}) }

// StartWith runs a server with TLS and authentication as opts say. With
// TLS it presents a certificate for 127.0.0.1 and localhost from a CA of
// its own, which ClientTLS trusts and nothing else does.
func StartWith(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{arrived: make(chan struct{}, 1024), opts: opts}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &session{s: s, conn: c}, nil }))
	s.srv.Domain = "localhost"
	s.srv.ReadTimeout, s.srv.WriteTimeout = 10*time.Second, 10*time.Second
	var l net.Listener
	var err error
	if opts.TLS != "" {
		serverCfg, clientCfg, caPEM, err := certificates()
		if err != nil {
			t.Fatal(err)
		}
		s.client, s.caPEM = clientCfg, caPEM
		s.srv.TLSConfig = serverCfg
	}
	l, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if opts.TLS == TLSImplicit {
		l = tls.NewListener(l, s.srv.TLSConfig)
	}
	s.Addr = l.Addr().String()
	go func() { _ = s.srv.Serve(l) }()
	t.Cleanup(func() { _ = s.srv.Close() })
	return s
}

// ClientTLS is a client configuration that trusts the server's
// certificate (nil for a plain server).
func (s *Server) ClientTLS() *tls.Config {
	if s.client == nil {
		return nil
	}
	return s.client.Clone()
}

// CAPEM is the server's CA certificate in PEM (nil for a plain server).
func (s *Server) CAPEM() []byte { return s.caPEM }

// RefuseNext makes the next n messages fail with a temporary 451 reply.
func (s *Server) RefuseNext(n int) { s.mu.Lock(); s.refuse = n; s.mu.Unlock() }

// RefuseAll makes every message fail with a permanent 554 reply until
// called with false.
func (s *Server) RefuseAll(on bool) { s.mu.Lock(); s.always = on; s.mu.Unlock() }

// Mails returns what has arrived so far.
func (s *Server) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// WaitFor waits until at least n messages have arrived, or the timeout.
func (s *Server) WaitFor(t testing.TB, n int, timeout time.Duration) []Mail {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if m := s.Mails(); len(m) >= n {
			return m
		}
		select {
		case <-s.arrived:
		case <-deadline:
			t.Fatalf("smtptest: %d mails arrived in %s, want %d", len(s.Mails()), timeout, n)
		}
	}
}

type session struct {
	s    *Server
	conn *smtp.Conn
	from string
	to   []string
	user string
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }
func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.opts.User != "" && ss.user == "" {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

// AuthMechanisms offers PLAIN only when the server demands a login; the
// go-smtp server refuses AUTH over a plain connection by itself.
func (ss *session) AuthMechanisms() []string {
	if ss.s.opts.User == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != ss.s.opts.User || pass != ss.s.opts.Password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		ss.user = user
		return nil
	}), nil
}
func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s := ss.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.always {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 0, 0}, Message: "refused for the test"}
	}
	if s.refuse > 0 {
		s.refuse--
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 0, 0}, Message: "try again later"}
	}
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return errors.New("unreadable message")
	}
	body, _ := io.ReadAll(m.Body)
	subject := m.Header.Get("Subject")
	if d, err := new(mime.WordDecoder).DecodeHeader(subject); err == nil {
		subject = d
	}
	_, overTLS := ss.conn.TLSConnectionState()
	s.mails = append(s.mails, Mail{From: ss.from, To: append([]string(nil), ss.to...),
		Subject: subject, Header: m.Header, Body: decodeBody(m.Header, body), TLS: overTLS, User: ss.user})
	select {
	case s.arrived <- struct{}{}:
	default:
	}
	return nil
}

// decodeBody undoes the transfer encoding of a single-part body.
func decodeBody(h mail.Header, body []byte) string {
	switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		out, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
		if err == nil {
			return string(out)
		}
	case "base64":
		out, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, bytes.NewReader(bytes.Join(bytes.Fields(body), nil))))
		if err == nil {
			return string(out)
		}
	}
	return string(body)
}
