package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"contactpoint/app/quarantine"
	"contactpoint/domain/access"
	"contactpoint/domain/audit"
	"contactpoint/projections/directory"
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
	shielded, err := s.quarantineShielded(ctx, r, page.Entries)
	if err != nil {
		s.Log.Error("quarantine shielding failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the quarantine could not be read; try again")
		return
	}
	out := struct {
		Entries []any  `json:"entries"`
		Next    uint64 `json:"next,omitempty"`
	}{Entries: make([]any, 0, len(page.Entries)), Next: page.Next}
	for _, e := range page.Entries {
		if id, ok := shielded[e.Seq]; ok {
			out.Entries = append(out.Entries, withheldEntry(e, id))
			continue
		}
		out.Entries = append(out.Entries, e)
	}
	writeJSON(w, http.StatusOK, out)
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
	if !access.SeesShielded(viewer(r)) {
		id, restricted, err := s.quarantineAbout(ctx, e, raw)
		if err != nil {
			s.Log.Error("quarantine shielding failed", "seq", seq, "err", err)
			writeError(w, http.StatusServiceUnavailable, "unavailable", "the quarantine could not be read; try again")
			return
		}
		if restricted {
			writeJSON(w, http.StatusOK, withheldEntry(e, id))
			return
		}
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

// shieldedQuarantine is a quarantine entry about a restricted child as a
// viewer without the shield role sees it: which entry, when, how it came and
// that it is shielded, with whom to contact; never its source system, record
// id, reasons or bytes. A shield officer can read and fix it.
type shieldedQuarantine struct {
	Seq      uint64                 `json:"seq"`
	Agency   string                 `json:"agency"`
	Time     time.Time              `json:"time"`
	Format   string                 `json:"format"`
	Channel  string                 `json:"channel"`
	ChildID  string                 `json:"child_id"`
	Shielded bool                   `json:"shielded"`
	Message  string                 `json:"message"`
	Resolved *quarantine.Resolution `json:"resolved,omitempty"`
}

func withheldEntry(e quarantine.Entry, child uuid.UUID) shieldedQuarantine {
	return shieldedQuarantine{Seq: e.Seq, Agency: e.Agency, Time: e.Time, Format: e.Format, Channel: e.Channel,
		ChildID: child.String(), Shielded: true, Resolved: e.Resolved,
		Message: "This entry is about a shielded record: its details are withheld. A shield officer can read and correct it."}
}

// quarantineShielded finds, for a viewer without the shield role, which
// listed entries are about a restricted child: those whose source record
// belongs to one.
func (s *Server) quarantineShielded(ctx context.Context, r *http.Request, es []quarantine.Entry) (map[uint64]uuid.UUID, error) {
	out := map[uint64]uuid.UUID{}
	if access.SeesShielded(viewer(r)) || len(es) == 0 {
		return out, nil
	}
	keys := make([]directory.SourceKey, 0, len(es))
	for _, e := range es {
		if e.RecordID != "" {
			keys = append(keys, directory.SourceKey{Agency: e.Agency, System: e.System, RecordID: e.RecordID})
		}
	}
	found, err := s.Store.RestrictedSources(ctx, keys)
	if err != nil {
		return nil, err
	}
	for _, e := range es {
		if id, ok := found[directory.SourceKey{Agency: e.Agency, System: e.System, RecordID: e.RecordID}]; ok && e.RecordID != "" {
			out[e.Seq] = id
		}
	}
	return out, nil
}

// quarantineAbout says whether one entry is about a restricted child: its
// source record belongs to one, or the identifiers it carries name one.
func (s *Server) quarantineAbout(ctx context.Context, e quarantine.Entry, raw []byte) (uuid.UUID, bool, error) {
	if e.RecordID != "" {
		found, err := s.Store.RestrictedSources(ctx, []directory.SourceKey{{Agency: e.Agency, System: e.System, RecordID: e.RecordID}})
		if err != nil {
			return uuid.Nil, false, err
		}
		for _, id := range found {
			return id, true, nil
		}
	}
	var probe struct {
		Child struct {
			Identifiers struct {
				NHS string `json:"nhs_number"`
				UPN string `json:"upn"`
			} `json:"identifiers"`
		} `json:"child"`
	}
	if json.Unmarshal(raw, &probe) != nil {
		return uuid.Nil, false, nil
	}
	nhs := strings.ReplaceAll(probe.Child.Identifiers.NHS, " ", "")
	return s.Store.RestrictedByIdentifier(ctx, nhs, strings.TrimSpace(probe.Child.Identifiers.UPN))
}
