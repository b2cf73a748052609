package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"contactpoint/adapters/httpjson"
	"contactpoint/app/childlog"
	"contactpoint/domain/access"
	"contactpoint/domain/audit"
	"contactpoint/domain/child"
	auditproj "contactpoint/projections/audit"
)

// AuditEntries reads one entry of the audit trail.
type AuditEntries interface {
	Entry(ctx context.Context, seq int64) (auditproj.Row, error)
}

// StateAtSeq is what replay needs of the event log beyond Timeline.
type StateAtSeq interface {
	StateAtSeq(ctx context.Context, id uuid.UUID, seq uint64) (*child.State, error)
}

// replayView: GET /v1/audit/views/{seq}/replay. "What did practitioner P
// see when they opened child C at T?" The view's audit entry records the
// CHILDREN position it was answered from and what else shaped it; the
// answer is rebuilt from the log at that position, through the access
// policy with the roles P held then, and encoded as it was sent: the
// replay is the answer, byte for byte. It is itself audited.
func (s *Server) replayView(w http.ResponseWriter, r *http.Request) {
	if !viewer(r).Has(access.RoleAuditor) {
		writeError(w, http.StatusForbidden, "forbidden", "replaying what was shown is for auditors")
		return
	}
	seq, err := strconv.ParseInt(r.PathValue("seq"), 10, 64)
	if err != nil || seq <= 0 {
		writeError(w, http.StatusBadRequest, "invalid-seq", "seq must be an audit entry's sequence")
		return
	}
	logs, ok := s.Timeline.(StateAtSeq)
	if s.AuditEntries == nil || !ok {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the audit trail or the event log is not available")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	e, err := s.AuditEntries.Entry(ctx, seq)
	if errors.Is(err, auditproj.ErrNoEntry) {
		writeError(w, http.StatusNotFound, "not-found", "no audit entry with that sequence")
		return
	}
	if err != nil {
		s.Log.Error("replay: audit entry", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the audit trail is unavailable; try again")
		return
	}
	if e.Action != audit.ActView || e.Answer == nil || e.Status != http.StatusOK {
		writeError(w, http.StatusUnprocessableEntity, "not-a-view", "only a record view that was answered can be replayed")
		return
	}
	id, err := uuid.Parse(e.Answer.Child)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, "not-a-view", "the entry names no child")
		return
	}
	st, err := logs.StateAtSeq(ctx, id, e.Answer.Position)
	if errors.Is(err, childlog.ErrNotYet) || errors.Is(err, childlog.ErrNoChild) {
		writeError(w, http.StatusGone, "gone", "the child's events at that position are no longer held")
		return
	}
	if err != nil {
		s.Log.Error("replay: event log", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the event log is unavailable; try again")
		return
	}
	v := child.Survive(st, s.rules())
	if e.Answer.GuardContact != "" || len(e.Answer.GuardCandidates) > 0 {
		v.Guard = &child.Guard{Candidates: e.Answer.GuardCandidates, Contact: e.Answer.GuardContact}
	}
	then := access.Viewer{ID: e.Actor, Roles: e.Roles}
	if e.Answer.Revealed {
		then.Revealed = v.ChildID
	}
	shown, ok := access.Show(then, v)
	if !ok {
		writeError(w, http.StatusUnprocessableEntity, "not-a-view", "the viewer's roles then did not allow reading records")
		return
	}
	var body bytes.Buffer
	httpjson.Encode(&body, shown)
	if !s.audited(w, r, audit.Entry{Action: audit.ActAuditQuery, Outcome: audit.OK, Reason: "replay", Subject: e.Answer.Child,
		Criteria: map[string]string{"entry": strconv.FormatInt(seq, 10)}, Status: http.StatusOK}) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"entry": e, "answer": json.RawMessage(bytes.TrimRight(body.Bytes(), "\n"))})
}
