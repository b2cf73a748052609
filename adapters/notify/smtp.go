package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	mail "github.com/wneessen/go-mail"
)

// TLS modes of the SMTP connection.
const (
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS, required (submission, port 587)
	TLSImplicit = "tls"      // TLS from the first byte (port 465)
	TLSNone     = "none"     // no TLS: a relay on the same host or a test server only
)

// SMTPConfig is how the hub reaches its mail server.
type SMTPConfig struct {
	Addr     string // host:port
	TLS      string // starttls (default), tls, none
	Username string // empty: no authentication
	Password string
	From     string // sender address
	Timeout  time.Duration
	// CAFile names PEM certificates to trust for the server instead of
	// the system roots: a council relay signed by the council's own CA.
	CAFile string
	// TLSConfig overrides the client's TLS settings (a private CA in
	// tests); nil verifies the server against the system roots.
	TLSConfig *tls.Config
}

// SMTP sends notices as plain-text email.
type SMTP struct {
	cfg  SMTPConfig
	host string
	port int
}

// NewSMTP checks the settings; it does not connect.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	host, p, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("smtp server %q: want host:port: %w", cfg.Addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port <= 0 || port > 65535 {
		return nil, fmt.Errorf("smtp server %q: bad port", cfg.Addr)
	}
	switch cfg.TLS {
	case "":
		cfg.TLS = TLSStartTLS
	case TLSStartTLS, TLSImplicit, TLSNone:
	default:
		return nil, fmt.Errorf("smtp tls %q: want starttls, tls or none", cfg.TLS)
	}
	if cfg.From == "" {
		return nil, errors.New("smtp needs a sender address (notify.smtp.from)")
	}
	if cfg.Username != "" && cfg.TLS == TLSNone {
		// A password over a plain connection is readable on the wire.
		return nil, errors.New("smtp authentication needs tls or starttls")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.CAFile != "" {
		if cfg.TLS == TLSNone {
			return nil, errors.New("smtp ca-file needs tls or starttls")
		}
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("smtp ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("smtp ca-file %s: no PEM certificate in it", cfg.CAFile)
		}
		if cfg.TLSConfig == nil {
			cfg.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		cfg.TLSConfig = cfg.TLSConfig.Clone()
		cfg.TLSConfig.RootCAs = pool
	}
	if cfg.TLSConfig != nil {
		// The certificate is checked against the configured host name; a
		// configuration that leaves it out would otherwise be refused by
		// crypto/tls or, worse, be taken to mean any name.
		cfg.TLSConfig = cfg.TLSConfig.Clone()
		if cfg.TLSConfig.ServerName == "" {
			cfg.TLSConfig.ServerName = host
		}
		if cfg.TLSConfig.MinVersion < tls.VersionTLS12 {
			cfg.TLSConfig.MinVersion = tls.VersionTLS12
		}
	}
	return &SMTP{cfg: cfg, host: host, port: port}, nil
}

// Channel implements Sender.
func (s *SMTP) Channel() string { return ChannelSMTP }

// Accepts implements Sender: email needs an address.
func (s *SMTP) Accepts(r Recipient) bool { return r.Email != "" }

// Send implements Sender. One connection per notice: notices are few, and
// a connection held open between them would only go stale.
func (s *SMTP) Send(ctx context.Context, n Notice) error {
	m := mail.NewMsg()
	if err := m.From(s.cfg.From); err != nil {
		return &Error{Channel: ChannelSMTP, Reason: "config", cause: err}
	}
	if err := m.To(n.To.Email); err != nil {
		return &Error{Channel: ChannelSMTP, Reason: "bad-address", cause: err}
	}
	m.Subject(n.Subject)
	m.SetBodyString(mail.TypeTextPlain, n.Body)
	m.SetDate()
	// The notification id in the Message-ID lets a mail server or a
	// reader see that two copies are one notice.
	m.SetMessageIDWithValue(n.ID + "@contactpoint")
	m.SetGenHeader("X-Contactpoint-Notification", n.ID)

	opts := []mail.Option{mail.WithPort(s.port), mail.WithTimeout(s.cfg.Timeout)}
	switch s.cfg.TLS {
	case TLSStartTLS:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case TLSImplicit:
		opts = append(opts, mail.WithSSL())
	case TLSNone:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	}
	if s.cfg.TLSConfig != nil {
		opts = append(opts, mail.WithTLSConfig(s.cfg.TLSConfig))
	}
	if s.cfg.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover),
			mail.WithUsername(s.cfg.Username), mail.WithPassword(s.cfg.Password))
	}
	c, err := mail.NewClient(s.host, opts...)
	if err != nil {
		return &Error{Channel: ChannelSMTP, Reason: "config", cause: err}
	}
	if err := c.DialAndSendWithContext(ctx, m); err != nil {
		return smtpError(ctx, err)
	}
	return nil
}

// smtpError classifies a failure by its kind and reply code only.
func smtpError(ctx context.Context, err error) error {
	e := &Error{Channel: ChannelSMTP, Reason: "dial", cause: err}
	var se *mail.SendError
	var ne net.Error
	var ce *tls.CertificateVerificationError
	var he x509.HostnameError
	var ue x509.UnknownAuthorityError
	switch {
	case errors.As(err, &ce), errors.As(err, &he), errors.As(err, &ue):
		// A certificate the hub cannot trust is a setting to fix (the
		// ca-file, the host name), never a reason to send in clear.
		e.Reason = "tls"
	case errors.As(err, &se):
		e.Reason, e.Code, e.Temp = "rejected", se.ErrorCode(), se.IsTemp()
	case ctx.Err() != nil || (errors.As(err, &ne) && ne.Timeout()):
		e.Reason, e.Temp = "timeout", true
	case errors.Is(err, mail.ErrSMTPAuthMethodIsNil), errors.Is(err, mail.ErrNoSupportedAuthDiscovered):
		e.Reason = "auth"
	}
	return e
}
