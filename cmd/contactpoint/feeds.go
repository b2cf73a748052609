package main

import (
	"encoding/json"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"contactpoint/adapters/hl7"
	"contactpoint/app/hub"
)

// feedFlags are the serve flags of the HL7 listener and file import.
func feedFlags(fs *pflag.FlagSet) {
	fs.String("mllp-addr", "", "HL7 v2 MLLP listen address (host:port); empty runs no listener")
	fs.String("hl7-default-system", "", "hub system name for HL7 messages from a facility not in --hl7-facility")
	fs.StringSlice("hl7-facility", nil, "FACILITY=system: hub system name for a sending facility (MSH-4); repeatable")
	fs.String("mllp-tls-cert", "", "MLLP over TLS: the listener's certificate (PEM file)")
	fs.String("mllp-tls-key", "", "MLLP over TLS: the listener's private key (PEM file)")
	fs.String("mllp-tls-client-ca", "", "MLLP over TLS: require client certificates signed by this CA (PEM file)")
	fs.Bool("mllp-insecure-open", false, "accept MLLP messages from any host, unbound to a system (local development only)")
}

// feedsConfig reads the feed settings. Facilities are given as a list of
// FACILITY=system because configuration map keys lose their case, and
// facility codes are case sensitive. csv-mappings maps a system (or
// agency/system) to its mapping file.
func feedsConfig(v *viper.Viper) hub.FeedsConfig {
	cfg := hub.FeedsConfig{
		MLLPAddr:        v.GetString("mllp-addr"),
		HL7:             hl7.Config{DefaultSystem: v.GetString("hl7-default-system"), Systems: map[string]string{}},
		CSVMappingFiles: v.GetStringMapString("csv-mappings"),
	}
	for _, f := range v.GetStringSlice("hl7-facility") {
		fac, sys, ok := strings.Cut(f, "=")
		if !ok {
			// Validate refuses an empty system name with a clear message.
			sys = ""
		}
		cfg.HL7.Systems[strings.TrimSpace(fac)] = strings.TrimSpace(sys)
	}
	if len(cfg.HL7.Systems) == 0 {
		cfg.HL7.Systems = nil
	}
	cfg.HL7.TLS = hl7.TLSFiles{CertFile: v.GetString("mllp-tls-cert"), KeyFile: v.GetString("mllp-tls-key"),
		ClientCAFile: v.GetString("mllp-tls-client-ca")}
	cfg.HL7.InsecureOpen = v.GetBool("mllp-insecure-open")
	cfg.HL7.Peers = mllpPeers(v)
	return cfg
}

// mllpPeers reads mllp-peers: a list of {system, applications, addresses,
// certificate-names} in the config file, or the same list as JSON in
// CONTACTPOINT_MLLP_PEERS.
func mllpPeers(v *viper.Viper) []hl7.Peer {
	raw := v.Get("mllp-peers")
	if raw == nil {
		return nil
	}
	var peers []hl7.Peer
	var err error
	if s, ok := raw.(string); ok {
		if strings.TrimSpace(s) == "" {
			return nil
		}
		err = json.Unmarshal([]byte(s), &peers)
	} else {
		err = v.UnmarshalKey("mllp-peers", &peers)
	}
	if err != nil {
		// An entry bound to nothing is refused when the hub starts, with a
		// message naming mllp-peers; the hub never runs on a half-read list.
		return []hl7.Peer{{}}
	}
	return peers
}
