package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"contactpoint/adapters/csvfeed"
	"contactpoint/adapters/ctf"
	"contactpoint/app/fileimport"
	"contactpoint/app/intake"
	"contactpoint/app/quarantine"
	"contactpoint/domain/access"
	"contactpoint/domain/audit"
	"contactpoint/domain/record"
)

// DefaultMaxFileBytes bounds one uploaded file. The file is streamed, so
// the bound is about how long one request may hold a connection, not memory.
const DefaultMaxFileBytes = 512 << 20

// Feeds is what file upload and the quarantine routes need.
type Feeds struct {
	// CSVMappings holds the mapping of each system that sends CSV, by
	// "agency/system" or by system alone.
	CSVMappings map[string]csvfeed.Mapping
	Quarantine  *quarantine.Store
	// MaxFileBytes bounds an upload; zero means DefaultMaxFileBytes.
	MaxFileBytes int64
	Import       fileimport.Options
	// UploadTimeout bounds reading and importing one file (default 1 hour):
	// the server's read timeout is meant for small requests.
	UploadTimeout time.Duration
}

// MappingFor returns the CSV mapping configured for a system.
func (f *Feeds) MappingFor(agency, system string) (csvfeed.Mapping, bool) {
	if f == nil {
		return csvfeed.Mapping{}, false
	}
	if m, ok := f.CSVMappings[agency+"/"+system]; ok {
		return m, true
	}
	m, ok := f.CSVMappings[system]
	return m, ok
}

// registerFeeds adds file upload and the quarantine routes.
func (s *Server) registerFeeds(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/feeds/{agency}/files", s.postFile)
	mux.HandleFunc("GET /v1/quarantine", s.listQuarantine)
	mux.HandleFunc("GET /v1/quarantine/{seq}", s.getQuarantine)
	mux.HandleFunc("POST /v1/quarantine/{seq}/resubmit", s.resubmitQuarantine)
}

// postFile imports a whole CTF or CSV file streamed as the request body and
// answers with the import report. The agency and system come from the API
// key, as for record intake.
func (s *Server) postFile(w http.ResponseWriter, r *http.Request) {
	agency := r.PathValue("agency")
	if !record.IsAgency(agency) {
		writeError(w, http.StatusNotFound, "unknown-agency", fmt.Sprintf("agency must be one of %v", record.Agencies))
		return
	}
	sys, ok := access.AgencySystemFrom(r.Context())
	if !ok || sys.MayFeed(agency) != nil {
		_ = s.audited(w, r, audit.Entry{Action: audit.ActRefused, Outcome: audit.Refused, Reason: "wrong-agency", Status: http.StatusForbidden})
		writeError(w, http.StatusForbidden, "wrong-agency", "this API key is for another agency or system")
		return
	}
	if q := r.URL.Query().Get("system"); q != "" && q != sys.System {
		_ = s.audited(w, r, audit.Entry{Action: audit.ActRefused, Outcome: audit.Refused, Reason: "wrong-agency", Status: http.StatusForbidden})
		writeError(w, http.StatusForbidden, "wrong-agency", "this API key is for another agency or system")
		return
	}
	f := s.Feeds
	if f == nil {
		f = &Feeds{}
	}
	maxBytes := f.MaxFileBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxFileBytes
	}
	timeout := f.UploadTimeout
	if timeout <= 0 {
		timeout = time.Hour
	}
	body := http.MaxBytesReader(w, r.Body, maxBytes)
	o := intake.Origin{Agency: agency, System: sys.System, Format: r.URL.Query().Get("format"), Channel: "http-file"}
	var src fileimport.Source
	switch o.Format {
	case "ctf":
		if agency != ctf.Agency {
			writeError(w, http.StatusBadRequest, "unsupported-format", "CTF files are sent by the education agency only")
			return
		}
		src = fileimport.CTF(body, sys.System)
	case "csv":
		m, ok := f.MappingFor(agency, sys.System)
		if !ok {
			writeError(w, http.StatusUnprocessableEntity, "no-mapping",
				"no CSV mapping is configured for this system; the hub's operators add one under csv-mappings")
			return
		}
		src = fileimport.CSV(body, m, agency, sys.System)
	default:
		writeError(w, http.StatusBadRequest, "unsupported-format", "format must be ctf or csv (?format=)")
		return
	}
	// A large file takes longer than the server's timeouts for ordinary
	// requests allow.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(timeout))
	_ = rc.SetWriteDeadline(time.Now().Add(timeout + time.Minute))
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	rep, err := fileimport.Import(ctx, s.Intake, o, src, f.Import)
	var mbe *http.MaxBytesError
	switch {
	case err == nil:
		s.Log.Info("file imported", "agency", agency, "system", sys.System, "format", o.Format,
			"records", rep.Records, "accepted", rep.Accepted, "duplicates", rep.Duplicates, "quarantined", rep.Quarantined)
		writeJSON(w, http.StatusOK, rep)
	case errors.As(err, &mbe):
		rep.Error = fmt.Sprintf("file exceeds %d bytes: the records before that point were stored; split the file", maxBytes)
		writeJSON(w, http.StatusRequestEntityTooLarge, rep)
	case errors.Is(err, fileimport.ErrUnreadable):
		writeJSON(w, http.StatusUnprocessableEntity, rep)
	case s.intakeRefused(w, err, "file"):
	default:
		s.Log.Error("file import failed", "agency", agency, "system", sys.System, "format", o.Format, "records", rep.Records, "err", err)
		writeError(w, http.StatusServiceUnavailable, "event-log-unavailable",
			"the event log did not confirm every record; nothing is lost by sending the whole file again")
	}
}
