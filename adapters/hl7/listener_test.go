package hl7

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"contactpoint/app/intake"
	"contactpoint/domain/record"
)

// recorder is an in-memory intake.Submitter: it keeps what it is given and
// answers as told.
type recorder struct {
	mu          sync.Mutex
	records     []submission
	quarantined []submission
	status      string // outcome of SubmitRecord; "" means accepted
	errs        []record.FieldError
	fail        error // returned by every call when set
	delay       time.Duration
}

type submission struct {
	origin  intake.Origin
	raw     []byte
	rec     *record.Record
	reasons []record.FieldError
	merge   *Merge
}

func (r *recorder) SubmitRecord(ctx context.Context, o intake.Origin, raw []byte, rec *record.Record) (intake.Outcome, error) {
	if r.delay > 0 {
		time.Sleep(r.delay)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return intake.Outcome{}, r.fail
	}
	r.records = append(r.records, submission{origin: o, raw: bytes.Clone(raw), rec: rec})
	if r.status == intake.StatusQuarantined {
		return intake.Outcome{Status: r.status, Errors: r.errs}, nil
	}
	return intake.Outcome{Status: intake.StatusAccepted, RecordID: rec.Source.RecordID}, nil
}

func (r *recorder) Quarantine(ctx context.Context, o intake.Origin, raw []byte, reasons []record.FieldError) (intake.Outcome, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return intake.Outcome{}, r.fail
	}
	r.quarantined = append(r.quarantined, submission{origin: o, raw: bytes.Clone(raw), reasons: reasons})
	return intake.Outcome{Status: intake.StatusQuarantined, Errors: reasons}, nil
}

func (r *recorder) counts() (int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.records), len(r.quarantined)
}

// mergingRecorder also takes A40 merges.
type mergingRecorder struct{ *recorder }

func (m mergingRecorder) SubmitMerge(ctx context.Context, o intake.Origin, raw []byte, mg Merge) (intake.Outcome, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.records = append(m.records, submission{origin: o, raw: bytes.Clone(raw), merge: &mg})
	return intake.Outcome{Status: intake.StatusAccepted}, nil
}

type server struct {
	addr string
	logs *syncBuffer
	stop func()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startServer(t *testing.T, cfg Config, sub intake.Submitter) *server {
	t.Helper()
	if cfg.DefaultSystem == "" && cfg.Systems == nil {
		cfg.DefaultSystem = "royal-infirmary-pas"
	}
	if cfg.Peers == nil && !cfg.InsecureOpen {
		cfg.Peers = localPeers(cfg)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	l := NewListener(cfg, sub, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Serve(ctx, ln) }()
	s := &server{addr: ln.Addr().String(), logs: logs}
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Serve: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Error("Serve did not return after cancel")
			}
		})
	}
	t.Cleanup(s.stop)
	return s
}

// localPeers allows the test's own host to send for every configured system.
func localPeers(cfg Config) []Peer {
	var peers []Peer
	if cfg.DefaultSystem != "" {
		peers = append(peers, Peer{System: cfg.DefaultSystem, Addresses: []string{"127.0.0.1", "::1"}})
	}
	for _, sys := range cfg.Systems {
		peers = append(peers, Peer{System: sys, Addresses: []string{"127.0.0.1", "::1"}})
	}
	return peers
}

type client struct {
	conn net.Conn
	br   *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{conn: c, br: bufio.NewReader(c)}
}

// send writes one framed message and returns the parsed ACK.
func (c *client) send(t *testing.T, msg []byte) *Message {
	t.Helper()
	_ = c.conn.SetDeadline(time.Now().Add(5 * time.Second))
	if err := WriteFrame(c.conn, msg); err != nil {
		t.Fatal(err)
	}
	return c.readAck(t)
}

func (c *client) readAck(t *testing.T) *Message {
	t.Helper()
	raw, err := ReadFrame(c.br, 1<<20)
	if err != nil {
		t.Fatalf("read ACK: %v", err)
	}
	m, err := Parse(raw)
	if err != nil {
		t.Fatalf("ACK does not parse: %v (%q)", err, raw)
	}
	return m
}

func msa(m *Message) (code, ref string) {
	s := m.Segment("MSA")
	return s.Get(1, 1, 1), s.Get(2, 1, 1)
}

func TestListenerAcceptsAndSubmits(t *testing.T) {
	rec := &recorder{}
	srv := startServer(t, Config{Systems: map[string]string{"RIH": "royal-infirmary-pas"}}, rec)
	raw := mustRead(t, "a08_v251.hl7")
	ack := dial(t, srv.addr).send(t, raw)
	if code, ref := msa(ack); code != AckAccept || ref != "MSG00001" {
		t.Fatalf("MSA = %s %s", code, ref)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.records) != 1 {
		t.Fatalf("%d records submitted", len(rec.records))
	}
	got := rec.records[0]
	want := intake.Origin{Agency: "health", System: "royal-infirmary-pas", Format: "hl7v2", Channel: "mllp"}
	if got.origin != want {
		t.Errorf("origin = %+v", got.origin)
	}
	if !bytes.Equal(got.raw, raw) {
		t.Error("original bytes not passed through unchanged")
	}
	mustValidate(t, got.rec)
	for _, personal := range []string{"Hughes", "Olivia", "9434765919", "LS6", "Asthma"} {
		if strings.Contains(srv.logs.String(), personal) {
			t.Errorf("log carries personal data %q:\n%s", personal, srv.logs.String())
		}
	}
	if !strings.Contains(srv.logs.String(), "control_id=MSG00001") {
		t.Errorf("log lacks the control id:\n%s", srv.logs.String())
	}
}

func TestListenerOutcomes(t *testing.T) {
	valid := []byte(msg("A08", pidA))
	tests := []struct {
		name           string
		cfg            Config
		sub            func() *recorder
		merger         bool
		msg            []byte
		wantAck        string
		wantRef        string
		wantRecords    int
		wantQuarantine int
		wantRule       string // first quarantine reason's rule
		wantErrCode    string // ERR-3.1 of the first ERR
		wantText       string // in MSA-3 or ERR-8
	}{
		{name: "accepted", msg: valid, wantAck: AckAccept, wantRef: "C1", wantRecords: 1},
		{name: "duplicate is accepted", sub: func() *recorder { return &recorder{status: intake.StatusDuplicate} }, msg: valid, wantAck: AckAccept, wantRef: "C1", wantRecords: 1},
		{name: "quarantined by the hub", sub: func() *recorder {
			return &recorder{status: intake.StatusQuarantined, errs: []record.FieldError{{Field: "/child/birth_date", Rule: "format:child-birth-date", Message: "too old"}}}
		}, msg: valid, wantAck: AckError, wantRef: "C1", wantRecords: 1, wantErrCode: "102", wantText: "too old"},
		{name: "hub unavailable", sub: func() *recorder { return &recorder{fail: errors.New("jetstream down")} }, msg: valid, wantAck: AckReject, wantRef: "C1", wantErrCode: "207", wantText: "hub unavailable, resend"},
		{name: "mapping error quarantined", msg: []byte(msg("A08", "PID|1||M1^^^^MR||Lee^Ann\r")), wantAck: AckError, wantRef: "C1", wantQuarantine: 1, wantRule: "required", wantErrCode: "101"},
		{name: "not ADT rejected", msg: []byte(strings.Replace(string(valid), "ADT^A08", "ORU^R01", 1)), wantAck: AckReject, wantRef: "C1", wantQuarantine: 1, wantRule: "unsupported-message", wantErrCode: "200"},
		{name: "no MSH rejected", msg: []byte("this is not HL7"), wantAck: AckReject, wantQuarantine: 1, wantRule: "hl7-syntax", wantErrCode: "100"},
		{name: "merge as a canonical record", msg: mustRead(t, "a40_v251.hl7"), wantAck: AckAccept, wantRef: "MSG00040", wantRecords: 1},
		{name: "merge with merger", merger: true, msg: mustRead(t, "a40_v251.hl7"), wantAck: AckAccept, wantRef: "MSG00040", wantRecords: 1},
		{name: "quarantine unavailable", sub: func() *recorder { return &recorder{fail: errors.New("down")} }, msg: []byte("garbage"), wantAck: AckReject, wantText: "hub unavailable, resend"},
		{name: "unknown facility", cfg: Config{Systems: map[string]string{"OTHER": "other-pas"}}, msg: valid, wantAck: AckReject, wantRef: "C1", wantErrCode: "207"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			if tt.sub != nil {
				rec = tt.sub()
			}
			var sub intake.Submitter = rec
			if tt.merger {
				sub = mergingRecorder{rec}
			}
			srv := startServer(t, tt.cfg, sub)
			ack := dial(t, srv.addr).send(t, tt.msg)
			code, ref := msa(ack)
			if code != tt.wantAck || ref != tt.wantRef {
				t.Errorf("MSA = %s %q, want %s %q", code, ref, tt.wantAck, tt.wantRef)
			}
			nr, nq := rec.counts()
			if nr != tt.wantRecords || nq != tt.wantQuarantine {
				t.Errorf("records/quarantined = %d/%d, want %d/%d", nr, nq, tt.wantRecords, tt.wantQuarantine)
			}
			if tt.wantRule != "" && nq > 0 {
				if got := rec.quarantined[0].reasons[0].Rule; got != tt.wantRule {
					t.Errorf("quarantine rule = %q, want %q", got, tt.wantRule)
				}
				if !bytes.Equal(rec.quarantined[0].raw, tt.msg) {
					t.Error("quarantined bytes differ from what was sent")
				}
			}
			if tt.wantErrCode != "" {
				err := ack.Segment("ERR")
				if err == nil {
					t.Fatalf("no ERR segment")
				}
				if got := err.Get(3, 1, 1); got != tt.wantErrCode {
					t.Errorf("ERR-3 = %q, want %q", got, tt.wantErrCode)
				}
			}
			if tt.wantText != "" {
				text := ack.Segment("MSA").Get(3, 1, 1)
				for _, e := range ack.All("ERR") {
					text += " " + e.Get(8, 1, 1)
				}
				if !strings.Contains(text, tt.wantText) {
					t.Errorf("ACK text %q lacks %q", text, tt.wantText)
				}
			}
			if strings.Contains(tt.name, "canonical") && nr == 1 {
				r := rec.records[0].rec
				if r == nil || r.Operation != record.OpMerge || r.Child != nil || r.Merge == nil ||
					r.Source.RecordID != "M0048213" || r.Merge.AbsorbedRecordID != "M0099999" ||
					r.Source.Version == "" || r.Source.UpdatedAt == nil {
					t.Errorf("merge record = %+v", r)
				}
			}
			if tt.merger && nr == 1 {
				m := rec.records[0].merge
				if m == nil || m.Survivor.RecordID != "M0048213" || m.Absorbed.RecordID != "M0099999" {
					t.Errorf("merge = %+v", m)
				}
			}
		})
	}
}

func TestListenerConcurrentConnections(t *testing.T) {
	rec := &recorder{delay: 5 * time.Millisecond}
	srv := startServer(t, Config{}, rec)
	const conns, each = 16, 5
	var wg sync.WaitGroup
	errs := make(chan error, conns*each)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", srv.addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(c)
			for j := range each {
				id := fmt.Sprintf("C%d-%d", i, j)
				if err := WriteFrame(c, []byte(strings.Replace(msg("A08", pidA), "|C1|", "|"+id+"|", 1))); err != nil {
					errs <- err
					return
				}
				raw, err := ReadFrame(br, 1<<20)
				if err != nil {
					errs <- err
					return
				}
				m, err := Parse(raw)
				if err != nil {
					errs <- err
					return
				}
				if code, ref := msa(m); code != AckAccept || ref != id {
					errs <- fmt.Errorf("ACK %s %s for %s", code, ref, id)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n, _ := rec.counts(); n != conns*each {
		t.Errorf("%d records, want %d", n, conns*each)
	}
}

func TestListenerSlowPeerDoesNotStallOthers(t *testing.T) {
	rec := &recorder{}
	srv := startServer(t, Config{ReadTimeout: 300 * time.Millisecond, IdleTimeout: 5 * time.Second}, rec)

	slow := dial(t, srv.addr)
	// Half a frame, then silence.
	if _, err := slow.conn.Write(append([]byte{StartBlock}, []byte("MSH|^~\\&|PAS|RIH")...)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ack := dial(t, srv.addr).send(t, []byte(msg("A08", pidA)))
	if code, _ := msa(ack); code != AckAccept {
		t.Fatalf("fast peer got %s", code)
	}
	if d := time.Since(start); d > 250*time.Millisecond {
		t.Errorf("fast peer waited %v behind a slow one", d)
	}
	// The slow peer is cut off once its read timeout passes.
	_ = slow.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := slow.br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("slow peer: read = %v, want EOF from the server closing", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("slow peer held for %v", d)
	}
}

func TestListenerIdleTimeout(t *testing.T) {
	srv := startServer(t, Config{IdleTimeout: 200 * time.Millisecond}, &recorder{})
	c := dial(t, srv.addr)
	_ = c.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("idle peer: read = %v, want EOF", err)
	}
}

func TestListenerOversizeFrame(t *testing.T) {
	rec := &recorder{}
	srv := startServer(t, Config{MaxMessageBytes: 1024}, rec)
	c := dial(t, srv.addr)
	big := []byte(msg("A08", pidA) + "NTE|1||" + strings.Repeat("x", 5000) + "\r")
	ack := c.send(t, big)
	if code, ref := msa(ack); code != AckReject || ref != "C1" {
		t.Errorf("oversize: MSA = %s %s, want AR C1", code, ref)
	}
	if !strings.Contains(ack.Segment("ERR").Get(8, 1, 1), "exceeds 1024 bytes") {
		t.Errorf("ERR = %q", ack.Segment("ERR").Raw(8))
	}
	// The connection stays in step: the next message is read whole.
	ack = c.send(t, []byte(strings.Replace(msg("A08", pidA), "|C1|", "|C2|", 1)))
	if code, ref := msa(ack); code != AckAccept || ref != "C2" {
		t.Errorf("after oversize: MSA = %s %s", code, ref)
	}
	if n, q := rec.counts(); n != 1 || q != 0 {
		t.Errorf("records/quarantined = %d/%d", n, q)
	}
}

func TestListenerConnectionCap(t *testing.T) {
	srv := startServer(t, Config{MaxConns: 2}, &recorder{})
	a, b := dial(t, srv.addr), dial(t, srv.addr)
	// A round trip on each proves both are being served.
	for _, c := range []*client{a, b} {
		if code, _ := msa(c.send(t, []byte(msg("A08", pidA)))); code != AckAccept {
			t.Fatalf("got %s", code)
		}
	}
	extra := dial(t, srv.addr)
	_ = extra.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	var ne net.Error
	if _, err := extra.br.ReadByte(); err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("third connection over the cap: read = %v, want it closed", err)
	}
	a.conn.Close()
	// A freed slot is usable again.
	deadline := time.Now().Add(3 * time.Second)
	for {
		c, err := net.Dial("tcp", srv.addr)
		if err != nil {
			t.Fatal(err)
		}
		cl := &client{conn: c, br: bufio.NewReader(c)}
		_ = c.SetDeadline(time.Now().Add(time.Second))
		if WriteFrame(c, []byte(msg("A08", pidA))) == nil {
			if raw, err := ReadFrame(cl.br, 1<<20); err == nil && bytes.Contains(raw, []byte("MSA|AA")) {
				c.Close()
				break
			}
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("slot never freed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestListenerShutdownClosesIdleConnections(t *testing.T) {
	srv := startServer(t, Config{IdleTimeout: time.Hour}, &recorder{})
	c := dial(t, srv.addr)
	if code, _ := msa(c.send(t, []byte(msg("A08", pidA)))); code != AckAccept {
		t.Fatal("not accepted")
	}
	start := time.Now()
	srv.stop()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shutdown took %v", d)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		cfg Config
		ok  bool
	}{
		{Config{DefaultSystem: "pas", InsecureOpen: true}, true},
		{Config{DefaultSystem: "pas", Peers: []Peer{{System: "pas", Addresses: []string{"10.1.2.0/24"}}}}, true},
		{Config{Systems: map[string]string{"RIH": "ri-pas"}, Peers: []Peer{{System: "ri-pas", Addresses: []string{"10.1.2.3", "2001:db8::/32"}}}}, true},
		{Config{}, false},
		{Config{DefaultSystem: "Bad System", InsecureOpen: true}, false},
		{Config{Systems: map[string]string{"RIH": "feeds.x"}, InsecureOpen: true}, false},
		// Anonymous senders.
		{Config{DefaultSystem: "pas"}, false},
		{Config{Systems: map[string]string{"RIH": "ri-pas"}}, false},
		// A peer bound to nothing, to no known system, to a bad address.
		{Config{DefaultSystem: "pas", Peers: []Peer{{System: "pas"}}}, false},
		{Config{DefaultSystem: "pas", Peers: []Peer{{System: "other-pas", Addresses: []string{"10.1.2.3"}}}}, false},
		{Config{DefaultSystem: "pas", Peers: []Peer{{System: "pas", Addresses: []string{"10.1.2.300"}}}}, false},
		{Config{DefaultSystem: "pas", Peers: []Peer{{System: "pas", Addresses: []string{"any"}}}}, false},
		{Config{DefaultSystem: "pas", Peers: []Peer{{System: "pas", Addresses: []string{"10.1.2.3"}, Applications: []string{" "}}}}, false},
		// Certificate names without a client CA to verify them.
		{Config{DefaultSystem: "pas", Peers: []Peer{{System: "pas", CertificateNames: []string{"pas.example"}}}}, false},
		// TLS files that do not exist, or half of them.
		{Config{DefaultSystem: "pas", InsecureOpen: true, TLS: TLSFiles{CertFile: "missing.pem", KeyFile: "missing.key"}}, false},
		{Config{DefaultSystem: "pas", InsecureOpen: true, TLS: TLSFiles{CertFile: "missing.pem"}}, false},
	}
	for _, tt := range tests {
		if err := tt.cfg.Validate(); (err == nil) != tt.ok {
			t.Errorf("Validate(%+v) = %v", tt.cfg, err)
		}
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	if err := NewListener(Config{}, &recorder{}, nil).Serve(context.Background(), ln); err == nil {
		t.Error("Serve with no systems configured returned nil")
	}
	if err := NewListener(Config{DefaultSystem: "pas"}, &recorder{}, nil).Serve(context.Background(), ln); !errors.Is(err, ErrAnonymousSenders) {
		t.Errorf("Serve open to anonymous senders: %v, want ErrAnonymousSenders", err)
	}
}
