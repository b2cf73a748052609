package hl7

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"contactpoint/app/intake"
	"contactpoint/domain/record"
)

// Defaults for Config fields left zero.
const (
	DefaultMaxMessageBytes  = 1 << 20
	DefaultReadTimeout      = 30 * time.Second
	DefaultIdleTimeout      = 5 * time.Minute
	DefaultWriteTimeout     = 10 * time.Second
	DefaultSubmitTimeout    = 30 * time.Second
	DefaultMaxConns         = 64
	DefaultHandshakeTimeout = 10 * time.Second
)

// Config configures the MLLP listener.
type Config struct {
	// Systems maps the sending facility (MSH-4.1) to the hub's name for the
	// system; DefaultSystem is used for any other facility. With neither, a
	// message is refused: the hub must know whose feed it is.
	Systems       map[string]string `mapstructure:"systems" yaml:"systems" json:"systems"`
	DefaultSystem string            `mapstructure:"default_system" yaml:"default_system" json:"default_system"`

	MaxMessageBytes int           `mapstructure:"max_message_bytes" yaml:"max_message_bytes" json:"max_message_bytes"`
	ReadTimeout     time.Duration `mapstructure:"read_timeout" yaml:"read_timeout" json:"read_timeout"`       // to receive one frame once it has begun
	IdleTimeout     time.Duration `mapstructure:"idle_timeout" yaml:"idle_timeout" json:"idle_timeout"`       // between frames
	WriteTimeout    time.Duration `mapstructure:"write_timeout" yaml:"write_timeout" json:"write_timeout"`    // to send an ACK
	SubmitTimeout   time.Duration `mapstructure:"submit_timeout" yaml:"submit_timeout" json:"submit_timeout"` // for the hub to store one message
	MaxConns        int           `mapstructure:"max_conns" yaml:"max_conns" json:"max_conns"`

	// Application and Facility name the hub in ACKs to senders that did not
	// say whom they were sending to.
	Application string `mapstructure:"application" yaml:"application" json:"application"`
	Facility    string `mapstructure:"facility" yaml:"facility" json:"facility"`

	// Peers are the senders the listener accepts, each bound to the system
	// it speaks for; a connection that matches none is refused.
	Peers []Peer `mapstructure:"peers" yaml:"peers" json:"peers"`
	// TLS, when its files are set, makes the listener speak MLLP over TLS,
	// and with a client CA require a client certificate.
	TLS TLSFiles `mapstructure:"tls" yaml:"tls" json:"tls"`
	// InsecureOpen accepts any sender, unbound, for local development: the
	// listener otherwise refuses to start without Peers.
	InsecureOpen bool `mapstructure:"insecure_open" yaml:"insecure_open" json:"insecure_open"`
	// HandshakeTimeout bounds a TLS handshake.
	HandshakeTimeout time.Duration `mapstructure:"handshake_timeout" yaml:"handshake_timeout" json:"handshake_timeout"`

	// Location is the zone of timestamps sent without an offset; nil means Europe/London.
	Location *time.Location `mapstructure:"-" yaml:"-" json:"-"`
	// Now is the clock for ACK timestamps; nil means time.Now.
	Now func() time.Time `mapstructure:"-" yaml:"-" json:"-"`
}

var systemRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

// Validate reports configuration that would make every message fail.
func (c Config) Validate() error {
	if c.DefaultSystem != "" && !systemRE.MatchString(c.DefaultSystem) {
		return fmt.Errorf("hl7 config: default system %q must be lower-case letters, digits and hyphens", c.DefaultSystem)
	}
	for fac, sys := range c.Systems {
		if !systemRE.MatchString(sys) {
			return fmt.Errorf("hl7 config: system %q for facility %q must be lower-case letters, digits and hyphens", sys, fac)
		}
	}
	if c.DefaultSystem == "" && len(c.Systems) == 0 {
		return errors.New("hl7 config: no systems configured: set default_system or systems")
	}
	tc, err := c.TLS.serverTLS()
	if err != nil {
		return err
	}
	return c.validatePeers(tc != nil && tc.ClientAuth == tls.RequireAndVerifyClientCert)
}

func (c Config) withDefaults() Config {
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.SubmitTimeout <= 0 {
		c.SubmitTimeout = DefaultSubmitTimeout
	}
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.Application == "" {
		c.Application = "CONTACTPOINT"
	}
	if c.Location == nil {
		c.Location = london
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// SystemFor returns the hub's system name for a sending facility, or "".
func (c Config) SystemFor(facility string) string {
	if s, ok := c.Systems[facility]; ok {
		return s
	}
	return c.DefaultSystem
}

// Merger is implemented by submitters that take an A40 merge in its own
// form. Any other submitter gets the merge as a canonical record of
// operation "merge" through SubmitRecord.
type Merger interface {
	SubmitMerge(ctx context.Context, o intake.Origin, original []byte, m Merge) (intake.Outcome, error)
}

// Listener receives HL7 v2 messages over MLLP and hands them to the hub.
type Listener struct {
	cfg    Config
	sub    intake.Submitter
	log    *slog.Logger
	sem    chan struct{}
	seq    atomic.Uint64
	prefix string

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// NewListener makes a listener; zero Config fields take the defaults above.
func NewListener(cfg Config, sub intake.Submitter, logger *slog.Logger) *Listener {
	if logger == nil {
		logger = slog.Default()
	}
	cfg = cfg.withDefaults()
	cfg.Peers = cfg.compiledPeers()
	return &Listener{
		cfg:    cfg,
		sub:    sub,
		log:    logger.With("component", "hl7-mllp"),
		sem:    make(chan struct{}, cfg.MaxConns),
		prefix: "CP" + strconv.FormatInt(time.Now().Unix(), 36),
		conns:  map[net.Conn]struct{}{},
	}
}

// Serve accepts connections on ln until ctx is done, then stops accepting,
// lets messages already being stored finish and acknowledges them, and
// returns nil once every connection has closed. Each connection is served
// by its own goroutine with its own deadlines, so a slow or silent peer
// holds up nobody else.
func (l *Listener) Serve(ctx context.Context, ln net.Listener) error {
	if err := l.cfg.Validate(); err != nil {
		return err
	}
	tc, err := l.cfg.TLS.serverTLS()
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		l.mu.Lock()
		for c := range l.conns {
			// Wakes a connection waiting for its next frame; one being
			// processed still gets its ACK out under its write deadline.
			_ = c.SetReadDeadline(time.Now())
		}
		l.mu.Unlock()
	})
	defer stop()
	var tempDelay time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				l.wg.Wait()
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Out of file descriptors and the like: back off rather than spin.
				tempDelay = min(max(2*tempDelay, 5*time.Millisecond), time.Second)
				time.Sleep(tempDelay)
				continue
			}
			l.wg.Wait()
			return fmt.Errorf("hl7 listener: accept: %w", err)
		}
		tempDelay = 0
		select {
		case l.sem <- struct{}{}:
		default:
			l.log.Warn("connection refused: at connection limit", "remote", conn.RemoteAddr().String(), "limit", l.cfg.MaxConns)
			conn.Close()
			continue
		}
		l.track(conn, true)
		if ctx.Err() != nil {
			_ = conn.SetReadDeadline(time.Now())
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer func() { <-l.sem }()
			defer l.track(conn, false)
			defer conn.Close()
			l.serveConn(ctx, conn, tc)
		}()
	}
}

func (l *Listener) track(c net.Conn, add bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if add {
		l.conns[c] = struct{}{}
	} else {
		delete(l.conns, c)
	}
}

func (l *Listener) serveConn(ctx context.Context, conn net.Conn, tc *tls.Config) {
	remote := conn.RemoteAddr().String()
	var state *tls.ConnectionState
	if tc != nil {
		// The handshake runs on the connection's own goroutine under its
		// own deadline, so a peer that never finishes it holds up nobody.
		tconn := tls.Server(conn, tc)
		_ = conn.SetDeadline(time.Now().Add(l.cfg.HandshakeTimeout))
		if err := tconn.HandshakeContext(ctx); err != nil {
			l.log.Warn("connection refused: TLS handshake failed", "remote", remote, "reason", err.Error())
			return
		}
		_ = conn.SetDeadline(time.Time{})
		st := tconn.ConnectionState()
		state = &st
		conn = tconn
	}
	from := l.cfg.sender(conn.RemoteAddr(), state)
	if !from.Known() {
		l.refusePeer(conn, remote, from)
		return
	}
	br := bufio.NewReaderSize(conn, 32<<10)
	for ctx.Err() == nil {
		_ = conn.SetReadDeadline(time.Now().Add(l.cfg.IdleTimeout))
		var outside int
		frame, err := readFrame(br, l.cfg.MaxMessageBytes, func() {
			_ = conn.SetReadDeadline(time.Now().Add(l.cfg.ReadTimeout))
		}, &outside)
		if outside > 0 {
			// Bytes outside framing are never dropped unremarked: the count
			// (never the bytes, which may be personal data) is logged, and
			// a sender that stopped after them, or sent only them, gets AR
			// in a frame saying why nothing it sent was stored.
			l.log.Warn("bytes outside MLLP framing", "remote", remote, "bytes", outside)
			if errors.Is(err, ErrUnframed) || errors.Is(err, ErrNoFrame) {
				_ = conn.SetWriteDeadline(time.Now().Add(l.cfg.WriteTimeout))
				if werr := WriteFrame(conn, l.ack(nil, AckReject, "not MLLP framed", []Problem{{Code: CodeApplicationError,
					Message: "bytes arrived outside MLLP framing (<VT> message <FS><CR>): nothing was stored"}})); werr != nil || errors.Is(err, ErrNoFrame) {
					return
				}
				continue
			}
		}
		var ack []byte
		switch {
		case errors.Is(err, ErrFrameTooLarge):
			msg, _ := Parse(frame) // the header is in the first bytes: answer against its control id
			ack = l.ack(msg, AckReject, "message too large", []Problem{{Code: CodeApplicationError,
				Message: fmt.Sprintf("message exceeds %d bytes", l.cfg.MaxMessageBytes)}})
			l.log.Warn("message refused: too large", "remote", remote, "control_id", controlID(msg), "outcome", "AR")
		case err != nil:
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				l.log.Info("connection closed: timed out", "remote", remote)
			} else if !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) {
				l.log.Info("connection closed", "remote", remote, "reason", err.Error())
			}
			return
		default:
			ack = l.Handle(ctx, from, frame)
		}
		_ = conn.SetWriteDeadline(time.Now().Add(l.cfg.WriteTimeout))
		if err := WriteFrame(conn, ack); err != nil {
			l.log.Info("connection closed: ACK not sent", "remote", remote, "reason", err.Error())
			return
		}
	}
}

// refusePeer answers the first message of a connection that matches no
// peer with AR and closes it. Nothing it sends is stored, not even in the
// quarantine: an unknown host must not be able to fill the hub's log.
func (l *Listener) refusePeer(conn net.Conn, remote string, from Sender) {
	l.log.Warn("connection refused: sender is not a configured peer", "remote", remote, "certificate_names", len(from.Names))
	br := bufio.NewReaderSize(conn, 32<<10)
	_ = conn.SetReadDeadline(time.Now().Add(l.cfg.ReadTimeout))
	frame, err := readFrame(br, l.cfg.MaxMessageBytes, nil, nil)
	if err != nil && !errors.Is(err, ErrFrameTooLarge) {
		return
	}
	msg, _ := Parse(frame)
	ack := l.ack(msg, AckReject, "sender not authorised", []Problem{{Code: CodeApplicationError,
		Message: "this connection's address or certificate is not a configured sender: nothing was stored"}})
	_ = conn.SetWriteDeadline(time.Now().Add(l.cfg.WriteTimeout))
	_ = WriteFrame(conn, ack)
}

// Handle processes one message from an authenticated sender and returns the
// ACK to send. It is exported so that other transports (a file drop, an
// HTTP endpoint) can share it once they have authenticated their sender.
func (l *Listener) Handle(ctx context.Context, from Sender, raw []byte) []byte {
	// A message being stored when shutdown begins is finished, not abandoned:
	// abandoning it would make the sender resend what may already be stored.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.cfg.SubmitTimeout)
	defer cancel()
	origin := intake.Origin{Agency: Agency, System: l.cfg.DefaultSystem, Format: "hl7v2", Channel: "mllp"}

	msg, perr := Parse(raw)
	application := ""
	if msg != nil && msg.Header() != nil {
		origin.System = l.cfg.SystemFor(msg.Header().Get(4, 1, 1))
		application = msg.Header().Get(3, 1, 1)
	} else if sys := from.onlySystem(); sys != "" {
		// No readable header: the bytes are kept under the one system the
		// sender is bound to, not the default.
		origin.System = sys
	}
	code, event := "", ""
	if msg != nil {
		code, event = msg.Type()
	}
	logAttrs := []any{"control_id", controlID(msg), "type", code, "event", event}
	if msg == nil || msg.Header() == nil {
		// Without an MSH nothing says who sent it or what it is: the answer
		// is AR for that reason, whatever else is wrong with the bytes. It
		// is quarantined when the connection speaks for one system only.
		he := &Error{Ack: AckReject, Code: CodeSegmentSequenceError, Errors: []record.FieldError{{Field: "MSH", Rule: "hl7-syntax",
			Message: "no MSH segment: an HL7 v2 message begins with its MSH header"}}}
		if origin.System == "" {
			l.log.Warn("message refused: no MSH segment", append(logAttrs, "outcome", AckReject)...)
			return l.ack(nil, AckReject, "no MSH segment", Problems(he.Code, he.Errors))
		}
		return l.refuse(sctx, nil, origin, raw, he, logAttrs)
	}
	if origin.System == "" {
		l.log.Warn("message refused: unknown sending facility", logAttrs...)
		return l.ack(msg, AckReject, "sending facility not configured", []Problem{{Field: "MSH-4", Code: CodeApplicationError,
			Message: "the hub has no system configured for this sending facility"}})
	}
	if ok, field := from.permits(origin.System, application); !ok {
		// Refused, not quarantined: the message speaks for a system this
		// sender is not, and keeping it under that system would let a
		// steward's resubmission speak for it too.
		l.log.Warn("message refused: sender not bound to its facility", append(logAttrs, "field", field, "outcome", AckReject)...)
		return l.ack(msg, AckReject, "sender not bound to this facility", []Problem{{Field: field, Code: CodeApplicationError,
			Message: "this connection may not send for the sending application or facility the message names: nothing was stored"}})
	}
	if perr != nil {
		var pe *ParseError
		fe := record.FieldError{Field: "", Rule: "hl7-syntax", Message: perr.Error()}
		if errors.As(perr, &pe) {
			fe = record.FieldError{Field: pe.Field, Rule: "hl7-syntax", Message: pe.Message}
		}
		return l.refuse(sctx, msg, origin, raw, &Error{Ack: AckReject, Code: CodeDataTypeError, Errors: []record.FieldError{fe}}, logAttrs)
	}
	res, err := Map(msg, MapOptions{System: origin.System, Location: l.cfg.Location})
	if err != nil {
		var he *Error
		if !errors.As(err, &he) {
			he = &Error{Ack: AckError, Code: CodeApplicationError, Errors: []record.FieldError{{Rule: "mapping", Message: err.Error()}}}
		}
		return l.refuse(sctx, msg, origin, raw, he, logAttrs)
	}

	var out intake.Outcome
	if mg, ok := l.sub.(Merger); ok && res.Merge != nil {
		out, err = mg.SubmitMerge(sctx, origin, raw, *res.Merge)
	} else {
		out, err = l.sub.SubmitRecord(sctx, origin, raw, res.Canonical())
	}
	if err != nil {
		l.log.Error("message not stored: hub unavailable", append(logAttrs, "outcome", AckReject, "error", err.Error())...)
		return l.unavailable(msg)
	}
	switch out.Status {
	case intake.StatusAccepted, intake.StatusDuplicate:
		l.log.Info("message stored", append(logAttrs, "outcome", out.Status)...)
		return l.ack(msg, AckAccept, "", nil)
	default:
		l.log.Info("message quarantined", append(logAttrs, "outcome", out.Status, "errors", len(out.Errors))...)
		return l.ack(msg, AckError, "quarantined: see ERR", Problems(CodeApplicationError, out.Errors))
	}
}

// refuse quarantines a message the hub could not turn into a record, and
// answers with the refusal's own code, unless the quarantine itself failed.
func (l *Listener) refuse(ctx context.Context, msg *Message, o intake.Origin, raw []byte, he *Error, logAttrs []any) []byte {
	if _, err := l.sub.Quarantine(ctx, o, raw, he.Errors); err != nil {
		l.log.Error("message not quarantined: hub unavailable", append(logAttrs, "outcome", AckReject, "error", err.Error())...)
		return l.unavailable(msg)
	}
	rules := make([]string, 0, len(he.Errors))
	for _, fe := range he.Errors {
		rules = append(rules, fe.Rule)
	}
	l.log.Info("message quarantined", append(logAttrs, "outcome", he.Ack, "rules", rules)...)
	text := "quarantined: see ERR"
	if he.Ack == AckReject {
		text = "rejected: see ERR"
	}
	return l.ack(msg, he.Ack, text, Problems(he.Code, he.Errors))
}

func (l *Listener) unavailable(msg *Message) []byte {
	return l.ack(msg, AckReject, "hub unavailable, resend", []Problem{{Code: CodeApplicationError, Message: "hub unavailable, resend"}})
}

func (l *Listener) ack(msg *Message, code, text string, problems []Problem) []byte {
	return BuildAck(msg, AckInfo{
		Code:        code,
		ControlID:   l.prefix + "-" + strconv.FormatUint(l.seq.Add(1), 10),
		Time:        l.cfg.Now(),
		Text:        text,
		Problems:    problems,
		Application: l.cfg.Application,
		Facility:    l.cfg.Facility,
	})
}

// controlID is the sender's control id, cut short: it goes into logs, and a
// sender could put anything in it.
func controlID(m *Message) string {
	if m == nil || m.Header() == nil {
		return ""
	}
	return truncate(m.ControlID(), 40)
}
