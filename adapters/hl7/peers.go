package hl7

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
)

// Peer is one sending system the MLLP listener accepts: where it connects
// from and what its client certificate is called, and which system (of the
// health agency) it speaks for. A connection is bound to every peer it
// matches, and each message must come from a facility (MSH-4) whose system
// is one of them, so a sender can speak only for its own system.
type Peer struct {
	// System is the hub's name of the system this peer feeds: one that
	// Systems or DefaultSystem maps a sending facility to.
	System string `mapstructure:"system" yaml:"system" json:"system"`
	// Applications, when set, are the sending applications (MSH-3.1) the
	// peer may name; empty allows any.
	Applications []string `mapstructure:"applications" yaml:"applications" json:"applications"`
	// Addresses are the IP addresses or CIDR prefixes the peer connects
	// from; empty allows any address (the certificate then names the peer).
	Addresses []string `mapstructure:"addresses" yaml:"addresses" json:"addresses"`
	// CertificateNames are the names one of which the client certificate
	// must carry, as its subject common name or a DNS or URI subject
	// alternative name; empty allows any certificate the client CA signed
	// (the address then names the peer). Needs TLS with a client CA.
	CertificateNames []string `mapstructure:"certificate-names" yaml:"certificate-names" json:"certificate-names"`

	prefixes []netip.Prefix
}

// TLSFiles are the listener's TLS settings. With CertFile and KeyFile the
// listener speaks MLLP over TLS; with ClientCAFile too, every connection
// must present a client certificate signed by that CA.
type TLSFiles struct {
	CertFile     string `mapstructure:"cert-file" yaml:"cert-file" json:"cert-file"`
	KeyFile      string `mapstructure:"key-file" yaml:"key-file" json:"key-file"`
	ClientCAFile string `mapstructure:"client-ca-file" yaml:"client-ca-file" json:"client-ca-file"`
}

// Enabled reports whether TLS is configured.
func (f TLSFiles) Enabled() bool { return f.CertFile != "" || f.KeyFile != "" || f.ClientCAFile != "" }

// ErrAnonymousSenders refuses to start a listener that would store whatever
// any host that can reach the port sends.
var ErrAnonymousSenders = errors.New("hl7 config: the MLLP listener would accept anonymous senders: " +
	"configure mllp-peers (by address, or by certificate name with mllp-tls-client-ca), " +
	"or set mllp-insecure-open for local development only (see README, HL7 v2 ADT over MLLP)")

// serverTLS loads the certificate, key and client CA. It returns nil
// without TLS files.
func (f TLSFiles) serverTLS() (*tls.Config, error) {
	if !f.Enabled() {
		return nil, nil
	}
	if f.CertFile == "" || f.KeyFile == "" {
		return nil, errors.New("hl7 config: mllp TLS needs both a certificate file and a key file")
	}
	cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("hl7 config: mllp TLS certificate: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if f.ClientCAFile != "" {
		pem, err := os.ReadFile(f.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("hl7 config: mllp TLS client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("hl7 config: mllp TLS client CA %s holds no PEM certificate", f.ClientCAFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// validatePeers checks the peer list against the listener's systems and TLS
// settings.
func (c Config) validatePeers(clientAuth bool) error {
	if c.InsecureOpen {
		return nil
	}
	if len(c.Peers) == 0 {
		return ErrAnonymousSenders
	}
	known := map[string]bool{}
	if c.DefaultSystem != "" {
		known[c.DefaultSystem] = true
	}
	for _, s := range c.Systems {
		known[s] = true
	}
	for i, p := range c.Peers {
		name := fmt.Sprintf("mllp-peers entry %d (%s)", i+1, p.System)
		if !known[p.System] {
			return fmt.Errorf("hl7 config: %s: system %q is not the system of any facility (hl7-facility or hl7-default-system)", name, p.System)
		}
		if len(p.Addresses) == 0 && len(p.CertificateNames) == 0 {
			return fmt.Errorf("hl7 config: %s: give addresses or certificate-names, or any host could speak for %s", name, p.System)
		}
		if len(p.CertificateNames) > 0 && !clientAuth {
			return fmt.Errorf("hl7 config: %s: certificate-names need TLS with a client CA (mllp-tls-cert, mllp-tls-key, mllp-tls-client-ca)", name)
		}
		for _, a := range p.Addresses {
			if _, err := parsePrefix(a); err != nil {
				return fmt.Errorf("hl7 config: %s: address %q: %w", name, a, err)
			}
		}
		for _, a := range p.Applications {
			if strings.TrimSpace(a) == "" {
				return fmt.Errorf("hl7 config: %s: an empty sending application", name)
			}
		}
	}
	return nil
}

// compiledPeers is a copy of the peers with their addresses parsed; the
// configuration was validated first.
func (c Config) compiledPeers() []Peer {
	out := make([]Peer, len(c.Peers))
	for i, p := range c.Peers {
		p.prefixes = nil
		for _, a := range p.Addresses {
			if pfx, err := parsePrefix(a); err == nil {
				p.prefixes = append(p.prefixes, pfx)
			}
		}
		out[i] = p
	}
	return out
}

// parsePrefix reads "10.1.2.3" as a one-address prefix and "10.1.2.0/24"
// as it is.
func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Sender is what a connection authenticated as: its address, the names of
// its verified client certificate, and the peers those match.
type Sender struct {
	Addr  netip.Addr
	Names []string // verified client certificate's CN and DNS/URI SANs
	peers []*Peer
	open  bool // InsecureOpen: no binding at all
}

// Known reports whether the sender matched a configured peer (or the
// listener is open to anyone).
func (s Sender) Known() bool { return s.open || len(s.peers) > 0 }

// sender matches a connection against the peers.
func (c *Config) sender(remote net.Addr, state *tls.ConnectionState) Sender {
	var s Sender
	if ap, err := netip.ParseAddrPort(remote.String()); err == nil {
		s.Addr = ap.Addr().Unmap()
	}
	if state != nil && len(state.VerifiedChains) > 0 && len(state.PeerCertificates) > 0 {
		s.Names = certificateNames(state.PeerCertificates[0])
	}
	if c.InsecureOpen {
		s.open = true
		return s
	}
	for i := range c.Peers {
		p := &c.Peers[i]
		if len(p.Addresses) > 0 && !slices.ContainsFunc(p.prefixes, func(pf netip.Prefix) bool { return pf.Contains(s.Addr) }) {
			continue
		}
		if len(p.CertificateNames) > 0 && !slices.ContainsFunc(p.CertificateNames, func(n string) bool {
			return slices.ContainsFunc(s.Names, func(have string) bool { return strings.EqualFold(n, have) })
		}) {
			continue
		}
		s.peers = append(s.peers, p)
	}
	return s
}

func certificateNames(c *x509.Certificate) []string {
	var names []string
	if c.Subject.CommonName != "" {
		names = append(names, c.Subject.CommonName)
	}
	names = append(names, c.DNSNames...)
	for _, u := range c.URIs {
		names = append(names, u.String())
	}
	return names
}

// permits reports whether the sender may send as system from application
// (MSH-3.1), and if not which field says why.
func (s Sender) permits(system, application string) (ok bool, field string) {
	if s.open {
		return true, ""
	}
	field = "MSH-4"
	for _, p := range s.peers {
		if p.System != system {
			continue
		}
		if len(p.Applications) == 0 || slices.Contains(p.Applications, application) {
			return true, ""
		}
		field = "MSH-3"
	}
	return false, field
}

// onlySystem is the one system the sender is bound to, or "" when it is
// bound to several (or to none, or is unbound).
func (s Sender) onlySystem() string {
	sys := ""
	for _, p := range s.peers {
		if sys != "" && p.System != sys {
			return ""
		}
		sys = p.System
	}
	return sys
}
