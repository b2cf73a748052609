package hl7

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue makes a leaf certificate; server certificates name 127.0.0.1.
func (ca *testCA) issue(t *testing.T, cn string, dns []string, server bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, DNSNames: dns,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// writeFiles writes a certificate and its key as PEM files.
func writeFiles(t *testing.T, dir, name string, c tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	kb, err := x509.MarshalECPrivateKey(c.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// exchange sends one message on conn and returns MSA-1 of the answer, or ""
// when the listener closed the connection (or refused the handshake)
// without one.
func exchange(t *testing.T, conn net.Conn, m []byte) string {
	t.Helper()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if err := WriteFrame(conn, m); err != nil {
		return ""
	}
	raw, err := ReadFrame(bufio.NewReader(conn), 1<<20)
	if err != nil {
		return ""
	}
	ack, err := Parse(raw)
	if err != nil {
		t.Fatalf("answer does not parse: %v", err)
	}
	return ack.Segment("MSA").Get(1, 1, 1)
}

// TestUnknownPeersAreRefused: a host that is not a configured peer gets AR
// and nothing it sends is stored, not even in the quarantine.
func TestUnknownPeersAreRefused(t *testing.T) {
	rec := &recorder{}
	srv := startServer(t, Config{Systems: map[string]string{"RIH": "royal-infirmary-pas"},
		Peers: []Peer{{System: "royal-infirmary-pas", Addresses: []string{"10.20.30.0/24"}}}}, rec)
	for _, m := range [][]byte{mustRead(t, "a08_v251.hl7"), []byte("not HL7 at all")} {
		c := dial(t, srv.addr)
		if code := exchange(t, c.conn, m); code != AckReject {
			t.Errorf("unknown peer: MSA-1 %q, want AR", code)
		}
		// The connection is closed after the refusal.
		_ = c.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, err := c.br.ReadByte(); err == nil {
			t.Error("connection left open after refusing an unknown peer")
		}
	}
	if n, q := rec.counts(); n != 0 || q != 0 {
		t.Fatalf("records/quarantined = %d/%d from an unknown peer, want 0/0", n, q)
	}
	if strings.Contains(srv.logs.String(), "Hughes") {
		t.Error("the refusal logged personal data")
	}
}

// TestSenderSpeaksOnlyForItsFacility: a known peer's messages must name a
// facility (MSH-4) of its own system, and a sending application (MSH-3) it
// is allowed, or they are refused and nothing is stored.
func TestSenderSpeaksOnlyForItsFacility(t *testing.T) {
	rec := &recorder{}
	srv := startServer(t, Config{
		Systems: map[string]string{"RIH": "royal-infirmary-pas", "SJH": "st-james-pas"},
		Peers: []Peer{
			{System: "royal-infirmary-pas", Applications: []string{"PAS"}, Addresses: []string{"127.0.0.1", "::1"}},
			{System: "st-james-pas", Addresses: []string{"10.0.0.0/8"}},
		},
	}, rec)
	valid := msg("A08", pidA) // MSH-3 PAS, MSH-4 RIH
	for _, tc := range []struct {
		name, msg, want, field string
	}{
		{"own facility", valid, AckAccept, ""},
		{"another system's facility", strings.Replace(valid, "|PAS|RIH|", "|PAS|SJH|", 1), AckReject, "MSH-4"},
		{"an application it may not send as", strings.Replace(valid, "|PAS|RIH|", "|LAB|RIH|", 1), AckReject, "MSH-3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n0, q0 := rec.counts()
			ack := dial(t, srv.addr).send(t, []byte(tc.msg))
			if code, _ := msa(ack); code != tc.want {
				t.Fatalf("MSA-1 %s, want %s", code, tc.want)
			}
			n, q := rec.counts()
			if tc.want == AckAccept {
				if n != n0+1 || rec.records[n-1].origin.System != "royal-infirmary-pas" {
					t.Fatalf("accepted message not submitted as royal-infirmary-pas")
				}
				return
			}
			if n != n0 || q != q0 {
				t.Errorf("a refused message was stored (%d records, %d quarantined)", n-n0, q-q0)
			}
			if got := ack.Segment("ERR").Get(2, 1, 1) + "-" + ack.Segment("ERR").Get(2, 3, 1); got != tc.field {
				t.Errorf("ERR-2 %q, want %s", got, tc.field)
			}
		})
	}
}

// TestTLSClientCertificates: over TLS with a client CA, a sender whose
// certificate names a configured peer is accepted; no certificate, one from
// another CA, one with an unknown name, and plain TCP are not, and nothing
// they send is stored.
func TestTLSClientCertificates(t *testing.T) {
	dir := t.TempDir()
	ca, other := newCA(t, "Test MLLP CA"), newCA(t, "Someone else's CA")
	certFile, keyFile := writeFiles(t, dir, "server", ca.issue(t, "hub.test", nil, true))
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	srv := startServer(t, Config{
		Systems: map[string]string{"RIH": "royal-infirmary-pas"},
		TLS:     TLSFiles{CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile},
		Peers:   []Peer{{System: "royal-infirmary-pas", CertificateNames: []string{"pas.rih.example"}}},
	}, rec)
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	dialTLS := func(certs ...tls.Certificate) net.Conn {
		t.Helper()
		raw, err := net.DialTimeout("tcp", srv.addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { raw.Close() })
		c := tls.Client(raw, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", Certificates: certs, MinVersion: tls.VersionTLS12})
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_ = c.Handshake() // TLS 1.3 reports a refused client certificate on the first read
		return c
	}
	m := mustRead(t, "a08_v251.hl7")

	for _, tc := range []struct {
		name string
		conn func() net.Conn
	}{
		{"no client certificate", func() net.Conn { return dialTLS() }},
		{"another CA's certificate", func() net.Conn { return dialTLS(other.issue(t, "pas.rih.example", nil, false)) }},
		{"a certificate for another name", func() net.Conn { return dialTLS(ca.issue(t, "lab.rih.example", nil, false)) }},
		{"plain TCP", func() net.Conn { return dial(t, srv.addr).conn }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code := exchange(t, tc.conn(), m); code == AckAccept || code == AckError {
				t.Fatalf("MSA-1 %s: the message was taken", code)
			}
		})
	}
	if n, q := rec.counts(); n != 0 || q != 0 {
		t.Fatalf("records/quarantined = %d/%d from refused senders, want 0/0", n, q)
	}

	for _, good := range []tls.Certificate{
		ca.issue(t, "pas.rih.example", nil, false),                             // by subject CN
		ca.issue(t, "Royal Infirmary PAS", []string{"pas.rih.example"}, false), // by DNS SAN
	} {
		if code := exchange(t, dialTLS(good), m); code != AckAccept {
			t.Fatalf("peer with a good certificate: MSA-1 %q, want AA", code)
		}
	}
	if n, _ := rec.counts(); n != 2 || rec.records[0].origin.System != "royal-infirmary-pas" {
		t.Fatalf("%d records from the good peer", n)
	}
}
