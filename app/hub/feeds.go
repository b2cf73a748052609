package hub

import (
	"context"
	"errors"
	"fmt"
	"net"

	"contactpoint/adapters/csvfeed"
	"contactpoint/adapters/hl7"
	"contactpoint/adapters/httpapi"
	"contactpoint/app/quarantine"
	"contactpoint/domain/record"
)

// FeedsConfig configures the agency feeds beyond JSON intake: the HL7 v2
// listener, CSV mappings for file import, and upload limits.
type FeedsConfig struct {
	// MLLPAddr is where the HL7 v2 MLLP listener accepts connections
	// (host:port); empty runs none.
	MLLPAddr string
	// HL7 names the hub's system for each sending facility (MSH-4).
	HL7 hl7.Config
	// CSVMappings is the mapping of each system that sends CSV, by system or
	// "agency/system".
	CSVMappings map[string]csvfeed.Mapping
	// CSVMappingFiles names mapping files (YAML or JSON) the same way; they
	// are read at start, so a mistake in one stops the hub with its reason.
	CSVMappingFiles map[string]string
	// MaxFileBytes bounds one uploaded file; zero is the HTTP default.
	MaxFileBytes int64
}

// Feeds is the running feed adapters.
type Feeds struct {
	MLLP       *hl7.Listener // nil when no MLLP address is configured
	Quarantine *quarantine.Store
	HTTP       *httpapi.Feeds
	mllpLn     net.Listener
}

// MLLPAddr is the MLLP listener's address (useful with port 0), or "".
func (h *Hub) MLLPAddr() string {
	if h.Feeds == nil || h.Feeds.mllpLn == nil {
		return ""
	}
	return h.Feeds.mllpLn.Addr().String()
}

// startFeeds opens the MLLP listener and prepares file upload and the
// quarantine. The listener stops with the hub's consumers: messages being
// stored when Close begins are finished and acknowledged first.
func (h *Hub) startFeeds(runCtx context.Context) error {
	cfg := h.cfg.Feeds
	mappings, err := LoadMappings(cfg.CSVMappings, cfg.CSVMappingFiles)
	if err != nil {
		return err
	}
	cfg.CSVMappings = mappings
	for sys, m := range cfg.CSVMappings {
		if err := m.Validate(); err != nil {
			return fmt.Errorf("csv mapping for %s: %w", sys, err)
		}
	}
	h.Feeds = &Feeds{Quarantine: &quarantine.Store{JS: h.NATS.JS, Intake: h.Intake, HL7: cfg.HL7, SourceHeld: h.sourceHeld}}
	h.Feeds.HTTP = &httpapi.Feeds{CSVMappings: cfg.CSVMappings, Quarantine: h.Feeds.Quarantine, MaxFileBytes: cfg.MaxFileBytes}
	if cfg.MLLPAddr == "" {
		return nil
	}
	if err := cfg.HL7.Validate(); err != nil {
		return fmt.Errorf("mllp listener: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.MLLPAddr)
	if err != nil {
		return fmt.Errorf("mllp listen on %s: %w", cfg.MLLPAddr, err)
	}
	h.Feeds.mllpLn = ln
	h.Feeds.MLLP = hl7.NewListener(cfg.HL7, h.Intake, h.log)
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		if err := h.Feeds.MLLP.Serve(runCtx, ln); err != nil && !errors.Is(err, net.ErrClosed) {
			h.log.Error("mllp listener stopped", "err", err)
		}
	}()
	h.log.Info("hl7 mllp listener", "addr", ln.Addr().String())
	return nil
}

// sourceHeld reports whether the directory holds a source record, so that a
// steward's correction of an entry that named no record id cannot take over
// a record its system already sent.
func (h *Hub) sourceHeld(ctx context.Context, key record.SourceKey) (bool, error) {
	var held bool
	err := h.DB.QueryRow(ctx, `select exists (select 1 from directory_sources where agency = $1 and system = $2 and record_id = $3)`,
		key.Agency, key.System, key.RecordID).Scan(&held)
	if err != nil {
		return false, fmt.Errorf("look up source record: %w", err)
	}
	return held, nil
}

// LoadMappings merges loaded mappings with those read from files.
func LoadMappings(loaded map[string]csvfeed.Mapping, files map[string]string) (map[string]csvfeed.Mapping, error) {
	out := make(map[string]csvfeed.Mapping, len(loaded)+len(files))
	for k, m := range loaded {
		out[k] = m
	}
	for k, path := range files {
		m, err := csvfeed.LoadMapping(path)
		if err != nil {
			return nil, fmt.Errorf("csv mapping for %s: %w", k, err)
		}
		out[k] = m
	}
	return out, nil
}
