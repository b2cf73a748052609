package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"contactpoint/app/quarantine"
	"contactpoint/domain/access"
	"contactpoint/domain/audit"
)

// maxCorrection bounds a resubmitted record: it is one record or message.
const maxCorrection = 1 << 20

func (s *Server) quarantineStore(w http.ResponseWriter) (*quarantine.Store, bool) {
	if s.Feeds == nil || s.Feeds.Quarantine == nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the quarantine is not available on this hub")
		return nil, false
	}
	return s.Feeds.Quarantine, true
}

func seqParam(w http.ResponseWriter, r *http.Request) (uint64, bool) {
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil || seq == 0 {
		writeError(w, http.StatusBadRequest, "invalid-seq", "seq must be a quarantine sequence number")
		return 0, false
	}
	return seq, true
}

// listQuarantine lists refused input without its bytes: the list shows
// why, not what, so that reading it does not spread personal data.
func (s *Server) listQuarantine(w http.ResponseWriter, r *http.Request) {
	qs, ok := s.quarantineStore(w)
	if !ok {
		return
	}
	q := r.URL.Query()
	f := quarantine.Filter{Agency: q.Get("agency"), System: q.Get("system"), IncludeResolved: q.Get("resolved") == "true"}
	var err error
	if v := q.Get("limit"); v != "" {
		if f.Limit, err = strconv.Atoi(v); err != nil || f.Limit < 1 {
			writeError(w, http.StatusBadRequest, "invalid-limit", "limit must be a positive number")
			return
		}
	}
	if v := q.Get("after"); v != "" {
		if f.After, err = strconv.ParseUint(v, 10, 64); err != nil {
			writeError(w, http.StatusBadRequest, "invalid-after", "after must be a quarantine sequence number")
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	page, err := qs.List(ctx, f)
	if err != nil {
		s.Log.Error("quarantine list failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the quarantine could not be read; try again")
		return
	}
	if !s.audited(w, r, audit.Entry{Action: audit.ActSearch, Status: http.StatusOK,
		Criteria: map[string]string{"quarantine_agency": f.Agency, "quarantine_system": f.System}}) {
		return
	}
	writeJSON(w, http.StatusOK, page)
}

type quarantineEntry struct {
	quarantine.Entry
	// Original is the bytes as received, as text when they are UTF-8.
	Original       *string `json:"original,omitempty"`
	OriginalBase64 []byte  `json:"original_base64,omitempty"`
}

// getQuarantine returns one entry with its bytes, for a steward to fix.
func (s *Server) getQuarantine(w http.ResponseWriter, r *http.Request) {
	qs, ok := s.quarantineStore(w)
	if !ok {
		return
	}
	seq, ok := seqParam(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	e, raw, err := qs.Get(ctx, seq)
	if errors.Is(err, quarantine.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not-found", "no quarantine entry with that sequence")
		return
	}
	if err != nil {
		s.Log.Error("quarantine read failed", "seq", seq, "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the quarantine could not be read; try again")
		return
	}
	if !s.audited(w, r, audit.Entry{Action: audit.ActView, Subject: "quarantine/" + strconv.FormatUint(seq, 10), Status: http.StatusOK}) {
		return
	}
	out := quarantineEntry{Entry: e}
	if utf8.Valid(raw) {
		text := string(raw)
		out.Original = &text
	} else {
		out.OriginalBase64 = raw
	}
	writeJSON(w, http.StatusOK, out)
}

// resubmitQuarantine sends a corrected record through intake; accepted, the
// entry is marked resolved. A correction that is still invalid is answered
// 422 with its errors and stores nothing.
func (s *Server) resubmitQuarantine(w http.ResponseWriter, r *http.Request) {
	qs, ok := s.quarantineStore(w)
	if !ok {
		return
	}
	seq, ok := seqParam(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCorrection))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		writeError(w, http.StatusRequestEntityTooLarge, "body-too-large", "a corrected record is at most 1 MiB")
		return
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "unreadable-body", "could not read the request body")
		return
	}
	by := ""
	if v, ok := access.ViewerFrom(r.Context()); ok {
		by = v.ID
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	res, err := qs.Resubmit(ctx, seq, body, by)
	subject := "quarantine/" + strconv.FormatUint(seq, 10)
	switch {
	case errors.Is(err, quarantine.ErrNotFound):
		writeError(w, http.StatusNotFound, "not-found", "no quarantine entry with that sequence")
		return
	case errors.Is(err, quarantine.ErrResolved):
		writeError(w, http.StatusConflict, "already-resolved", "this entry was already resolved")
		return
	case errors.Is(err, quarantine.ErrNotResubmit), errors.Is(err, quarantine.ErrEmptyCorrection):
		writeError(w, http.StatusUnprocessableEntity, "cannot-resubmit", err.Error())
		return
	case err != nil:
		s.Log.Error("quarantine resubmit failed", "seq", seq, "err", err)
		writeError(w, http.StatusServiceUnavailable, "event-log-unavailable", "the event log did not confirm; resubmitting again is safe")
		return
	}
	status, outcome := http.StatusOK, audit.OK
	if len(res.Errors) > 0 {
		status, outcome = http.StatusUnprocessableEntity, audit.Refused
	}
	if err := s.recordRead(r, audit.Entry{Action: audit.ActStewardDec, Outcome: outcome, Subject: subject, Status: status}); err != nil {
		// The correction is stored; only its audit entry is missing, which the log says.
		s.Log.Error("audit of quarantine resubmission not written", "seq", seq)
	}
	writeJSON(w, status, res)
}
