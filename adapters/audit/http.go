package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"

	"contactpoint/domain/access"
	"contactpoint/domain/audit"
	auditproj "contactpoint/projections/audit"
)

// Routes serves the auditors' questions. Each question is itself audited
// (an export when the answer is CSV) before it is answered.
type Routes struct {
	Store      *auditproj.Store
	Recorder   audit.Recorder
	Thresholds auditproj.Thresholds
	Log        *slog.Logger
	// Restricted says which of the given child ids are restricted
	// (shielded, or a possible duplicate of a shielded child) now. Nil
	// treats every child named by an entry as restricted.
	Restricted func(ctx context.Context, ids []string) (map[string]bool, error)
}

// Register adds the auditors' routes to mux; each has its line in
// access.Routes.
func (h *Routes) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/audit/children/{id}", h.byChild)
	mux.HandleFunc("GET /v1/audit/practitioners/{id}", h.byPractitioner)
	mux.HandleFunc("GET /v1/audit/signals", h.signals)
}

func (h *Routes) byChild(w http.ResponseWriter, r *http.Request) {
	h.trail(w, r, "child", h.Store.ByChild)
}

func (h *Routes) byPractitioner(w http.ResponseWriter, r *http.Request) {
	h.trail(w, r, "practitioner", h.Store.ByActor)
}

func (h *Routes) trail(w http.ResponseWriter, r *http.Request, about string,
	q func(ctx context.Context, id string, rg auditproj.Range) ([]auditproj.Row, error)) {
	id := r.PathValue("id")
	if uuid.Validate(id) != nil {
		writeError(w, http.StatusBadRequest, "invalid-id", about+" id must be a UUID")
		return
	}
	rg, crit, ok := parseRange(w, r)
	if !ok {
		return
	}
	asCSV := r.URL.Query().Get("format") == "csv"
	if f := r.URL.Query().Get("format"); f != "" && f != "csv" && f != "json" {
		writeError(w, http.StatusBadRequest, "invalid-format", "format must be json or csv")
		return
	}
	rows, err := q(r.Context(), id, rg)
	if err != nil {
		h.Log.Error("audit query failed", "route", r.Pattern, "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the audit trail is unavailable; try again")
		return
	}
	if rows, err = h.shield(r, rows); err != nil {
		h.Log.Error("audit shielding failed", "route", r.Pattern, "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the audit trail is unavailable; try again")
		return
	}
	var body bytes.Buffer
	if asCSV {
		if err := auditproj.WriteCSV(&body, rows); err != nil {
			writeError(w, http.StatusInternalServerError, "internal", "could not write CSV")
			return
		}
	}
	act := audit.ActAuditQuery
	if asCSV {
		act = audit.ActExport
	}
	crit["about"] = about
	if !h.record(w, r, act, id, crit) {
		return
	}
	if asCSV {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="audit-`+about+`-`+id+`.csv"`)
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(body.Bytes())
		return
	}
	if rows == nil {
		rows = []auditproj.Row{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": len(rows), "entries": rows})
}

// shield withholds, for an auditor without the shield role, the criteria of
// an entry that named a restricted child which may have matched a hidden
// field (domain/access.AuditCriteria): a postcode search that returned a
// shielded child would otherwise say where the child lives. The entry
// itself keeps them for a shield-role auditor.
func (h *Routes) shield(r *http.Request, rows []auditproj.Row) ([]auditproj.Row, error) {
	v, _ := access.ViewerFrom(r.Context())
	if access.SeesShielded(v) {
		return rows, nil
	}
	var ids []string
	for _, row := range rows {
		if len(row.Criteria) > 0 {
			ids = append(ids, row.Children...)
		}
	}
	restricted := map[string]bool{}
	if len(ids) > 0 && h.Restricted != nil {
		var err error
		if restricted, err = h.Restricted(r.Context(), ids); err != nil {
			return nil, err
		}
	}
	for i, row := range rows {
		if len(row.Criteria) == 0 {
			continue
		}
		hit := h.Restricted == nil && len(row.Children) > 0
		for _, c := range row.Children {
			hit = hit || restricted[c]
		}
		rows[i].Criteria = access.AuditCriteria(v, row.Roles, hit, row.Criteria)
	}
	return rows, nil
}

func (h *Routes) signals(w http.ResponseWriter, r *http.Request) {
	rg, crit, ok := parseRange(w, r)
	if !ok {
		return
	}
	if rg.From.IsZero() {
		rg.From = time.Now().Add(-7 * 24 * time.Hour)
	}
	sigs, err := h.Store.Signals(r.Context(), h.Thresholds, rg)
	if err != nil {
		h.Log.Error("audit signals failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the audit trail is unavailable; try again")
		return
	}
	if !h.record(w, r, audit.ActAuditQuery, "", crit) {
		return
	}
	if sigs == nil {
		sigs = []auditproj.Signal{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"thresholds": h.Thresholds, "signals": sigs})
}

func (h *Routes) record(w http.ResponseWriter, r *http.Request, action, subject string, crit map[string]string) bool {
	v, _ := access.ViewerFrom(r.Context())
	err := h.Recorder.Record(r.Context(), audit.Entry{Action: action, Actor: v.ID, Roles: v.Roles, Route: r.Pattern, Subject: subject, Criteria: crit})
	if err != nil {
		h.Log.Error("audit not written", "route", r.Pattern, "err", err)
		writeError(w, http.StatusServiceUnavailable, "audit-unavailable", "the audit trail is unavailable; nothing is shown until it is back")
		return false
	}
	return true
}

// parseRange reads from and to (YYYY-MM-DD or RFC 3339); to is exclusive,
// and a date-only to includes that whole day.
func parseRange(w http.ResponseWriter, r *http.Request) (auditproj.Range, map[string]string, bool) {
	var rg auditproj.Range
	crit := map[string]string{}
	for _, k := range []string{"from", "to"} {
		s := r.URL.Query().Get(k)
		if s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			if t, err = time.Parse(time.DateOnly, s); err == nil && k == "to" {
				t = t.AddDate(0, 0, 1)
			}
		}
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid-"+k, k+" must be YYYY-MM-DD or an RFC 3339 time")
			return rg, nil, false
		}
		crit[k] = s
		if k == "from" {
			rg.From = t
		} else {
			rg.To = t
		}
	}
	return rg, crit, true
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
