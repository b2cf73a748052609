package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"

	"contactpoint/app/intake"
	"contactpoint/domain/access"
	"contactpoint/domain/audit"
	"contactpoint/domain/record"
)

type intakeResult struct {
	Index int `json:"index"`
	intake.Outcome
}

type intakeResponse struct {
	Accepted    int            `json:"accepted"`
	Duplicates  int            `json:"duplicates"`
	Quarantined int            `json:"quarantined"`
	Results     []intakeResult `json:"results"`
}

// postRecords takes one JSON record (application/json) or many, one per line
// (application/x-ndjson). Each record stands alone: valid ones are appended
// even when others in the same request are refused, and the response names
// every refused record with its field errors.
func (s *Server) postRecords(w http.ResponseWriter, r *http.Request) {
	agency := r.PathValue("agency")
	if !record.IsAgency(agency) {
		writeError(w, http.StatusNotFound, "unknown-agency", fmt.Sprintf("agency must be one of %v", record.Agencies))
		return
	}
	// The API key, not the request, says which agency and system is sending.
	system := r.URL.Query().Get("system")
	if sys, ok := access.AgencySystemFrom(r.Context()); ok {
		if err := sys.MayFeed(agency); err != nil || (system != "" && system != sys.System) {
			_ = s.audited(w, r, audit.Entry{Action: audit.ActRefused, Outcome: audit.Refused, Reason: "wrong-agency", Status: http.StatusForbidden})
			writeError(w, http.StatusForbidden, "wrong-agency", "this API key is for another agency or system")
			return
		}
		system = sys.System
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "application/json" && mt != "application/x-ndjson") {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported-media-type",
			"Content-Type must be application/json (one record) or application/x-ndjson (one record per line)")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.MaxBody))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		writeError(w, http.StatusRequestEntityTooLarge, "body-too-large",
			fmt.Sprintf("request body exceeds %d bytes; send smaller batches", s.MaxBody))
		return
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "unreadable-body", "could not read the request body")
		return
	}
	var raws [][]byte
	if mt == "application/json" {
		raws = [][]byte{bytes.TrimSpace(body)}
	} else {
		raws, err = splitLines(body, s.MaxBatch)
		if err != nil {
			writeError(w, http.StatusRequestEntityTooLarge, "batch-too-large", err.Error())
			return
		}
	}
	if len(raws) == 0 || (len(raws) == 1 && len(raws[0]) == 0) {
		writeError(w, http.StatusBadRequest, "empty-body", "no records in the request body")
		return
	}
	o := intake.Origin{Agency: agency, System: system, Format: "json", Channel: "http"}
	ctx, cancel := context.WithTimeout(r.Context(), 60*time.Second)
	defer cancel()
	outs, err := s.Intake.SubmitJSON(ctx, o, raws)
	if err != nil && s.intakeRefused(w, err, "http") {
		return
	}
	if err != nil {
		s.Log.Error("intake failed", "agency", agency, "records", len(raws), "err", err)
		writeError(w, http.StatusServiceUnavailable, "event-log-unavailable",
			"the event log did not confirm the records; nothing is lost by resending the whole request")
		return
	}
	resp := intakeResponse{Results: make([]intakeResult, len(outs))}
	for i, o := range outs {
		resp.Results[i] = intakeResult{i, o}
		switch o.Status {
		case intake.StatusAccepted:
			resp.Accepted++
		case intake.StatusDuplicate:
			resp.Duplicates++
		case intake.StatusQuarantined:
			resp.Quarantined++
		}
	}
	status := http.StatusAccepted
	if resp.Quarantined > 0 {
		status = http.StatusUnprocessableEntity
	}
	writeJSON(w, status, resp)
}

// splitLines cuts an NDJSON body into records, skipping blank lines.
func splitLines(body []byte, max int) ([][]byte, error) {
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), len(body)+1)
	var out [][]byte
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if len(out) == max {
			return nil, fmt.Errorf("batch has more than %d records; split it", max)
		}
		// The scanner reuses its buffer: each record needs its own bytes.
		out = append(out, bytes.Clone(line))
	}
	return out, sc.Err()
}
