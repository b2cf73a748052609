package hub_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"contactpoint/adapters/hl7"
	"contactpoint/adapters/natsjs"
	"contactpoint/app/hub"
)

// pki is a CA and the certificates a test issues with it.
type pki struct {
	ca    *x509.Certificate
	key   *ecdsa.PrivateKey
	roots *x509.CertPool
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test hospital CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	return &pki{ca: ca, key: key, roots: roots}
}

func (p *pki) issue(t *testing.T, cn string, server bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// files writes the CA and a server certificate and key as PEM files.
func (p *pki) files(t *testing.T) hl7.TLSFiles {
	t.Helper()
	dir := t.TempDir()
	srv := p.issue(t, "hub.test", true)
	kb, err := x509.MarshalECPrivateKey(srv.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	f := hl7.TLSFiles{CertFile: filepath.Join(dir, "hub.pem"), KeyFile: filepath.Join(dir, "hub.key"), ClientCAFile: filepath.Join(dir, "ca.pem")}
	for path, block := range map[string]*pem.Block{
		f.CertFile:     {Type: "CERTIFICATE", Bytes: srv.Certificate[0]},
		f.KeyFile:      {Type: "EC PRIVATE KEY", Bytes: kb},
		f.ClientCAFile: {Type: "CERTIFICATE", Bytes: p.ca.Raw},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// ackOver sends one message on conn and returns MSA-1, or "" when no
// answer came.
func ackOver(t *testing.T, conn net.Conn, msg []byte) string {
	t.Helper()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := hl7.WriteFrame(conn, msg); err != nil {
		return ""
	}
	frame, err := hl7.ReadFrame(bufio.NewReader(conn), 1<<20)
	if err != nil {
		return ""
	}
	ack, err := hl7.Parse(frame)
	if err != nil {
		t.Fatalf("ACK does not parse: %v", err)
	}
	return ack.Segment("MSA").Get(1, 1, 1)
}

// TestMLLPSendersAreAuthenticated runs the hub's MLLP listener over TLS
// with client certificates: a raw TCP client without credentials, and a TLS
// client without a certificate, get no AA and store nothing; a client with a
// certificate the peer list names is accepted into FEEDS.
func TestMLLPSendersAreAuthenticated(t *testing.T) {
	p := newPKI(t)
	cfg := feedsConfig(t)
	cfg.Feeds.HL7.TLS = p.files(t)
	cfg.Feeds.HL7.Peers = []hl7.Peer{{System: "ri-pas", CertificateNames: []string{"pas.rih.example"}}}
	h := startHub(t, cfg)
	defer h.Close()
	msg := adt("T1", "A08", "PID|1||M0048213^^^RIH^MR~943 476 5919^^^NHS^NH||Hughes^Olivia^Grace||20150314|F|||14 Elm Grove^^Leeds^^LS6 2AB")

	raw, err := net.DialTimeout("tcp", h.MLLPAddr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if code := ackOver(t, raw, msg); code == hl7.AckAccept {
		t.Fatal("a raw TCP client without credentials got AA")
	}
	dialTLS := func(certs ...tls.Certificate) net.Conn {
		t.Helper()
		c, err := net.DialTimeout("tcp", h.MLLPAddr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		tc := tls.Client(c, &tls.Config{RootCAs: p.roots, ServerName: "127.0.0.1", Certificates: certs, MinVersion: tls.VersionTLS12})
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		_ = tc.Handshake()
		return tc
	}
	if code := ackOver(t, dialTLS(), msg); code == hl7.AckAccept {
		t.Fatal("a TLS client without a certificate got AA")
	}
	if code := ackOver(t, dialTLS(p.issue(t, "lab.rih.example", false)), msg); code == hl7.AckAccept {
		t.Fatal("a certificate for another sender got AA")
	}
	if f, q := streamMsgs(t, h, natsjs.StreamFeeds), streamMsgs(t, h, natsjs.StreamQuarantine); f != 0 || q != 0 {
		t.Fatalf("unauthenticated senders left %d records in FEEDS and %d in QUARANTINE", f, q)
	}

	if code := ackOver(t, dialTLS(p.issue(t, "pas.rih.example", false)), msg); code != hl7.AckAccept {
		t.Fatalf("the configured sender: MSA-1 %q, want AA", code)
	}
	if f := streamMsgs(t, h, natsjs.StreamFeeds); f != 1 {
		t.Fatalf("FEEDS holds %d records, want the configured sender's one", f)
	}
	waitProjected(t, h)
	if c, _ := sourceState(t, h, "health", "ri-pas", "M0048213"); c == "" {
		t.Fatal("the accepted message is not in the directory")
	}
}

// TestMLLPRefusesToStartOpen: a listener with neither peers nor the
// explicit insecure setting does not start, and the hub says why.
func TestMLLPRefusesToStartOpen(t *testing.T) {
	cfg := feedsConfig(t)
	cfg.Feeds.HL7.Peers = nil
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h, err := hub.Start(ctx, cfg, quietLog())
	if err == nil {
		h.Close()
		t.Fatal("the hub started an MLLP listener open to anonymous senders")
	}
	if !errors.Is(err, hl7.ErrAnonymousSenders) {
		t.Fatalf("error %v, want hl7.ErrAnonymousSenders", err)
	}

	cfg.Feeds.HL7.InsecureOpen = true
	h = startHub(t, cfg)
	defer h.Close()
	c := dialMLLP(t, h.MLLPAddr())
	if code, _ := c.send(t, adt("O1", "A08", "PID|1||M1^^^RIH^MR||Lee^Ann||20160102|F|||1 High St^^Leeds^^LS1 1AA")); code != hl7.AckAccept {
		t.Fatalf("with mllp-insecure-open: MSA-1 %s", code)
	}
}
