package main

import (
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
	return cfg
}
