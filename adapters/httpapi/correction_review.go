package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"contactpoint/domain/access"
	"contactpoint/domain/child"
	"contactpoint/projections/directory"
)

// Decisions on a correction-conflict task (POST /v1/reviews/{task}/decision).
const (
	// DecisionKeepCorrection keeps the steward's correction against the
	// source's differing value: steward.correction-confirmed.
	DecisionKeepCorrection = "keep-correction"
	// DecisionAcceptSource withdraws the correction, so the sources' values
	// show again: steward.correction-withdrawn.
	DecisionAcceptSource = "accept-source"
)

// decideConflict records a steward's decision on a correction conflict.
// Keeping the correction is decided against the child's state in the event
// log, not the queue's copy of it: if a source has stated yet another value
// since the task was read, the steward is told to look again rather than
// keep the correction against a value they did not see.
func (s *Server) decideConflict(w http.ResponseWriter, r *http.Request, t directory.ReviewTask, body reviewDecision) {
	c := t.Correction
	if c == nil {
		writeError(w, http.StatusConflict, "changed", "the task no longer holds its correction; open the queue again")
		return
	}
	if !reasonOK(w, body.Reason) {
		return
	}
	by := viewer(r).ID
	switch body.Decision {
	case DecisionKeepCorrection:
		if s.Timeline == nil {
			writeError(w, http.StatusServiceUnavailable, "unavailable", "the event log is not available")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		_, st, err := s.Timeline.StateAt(ctx, t.ChildID, s.now())
		if err != nil {
			s.Log.Error("correction conflict: read child", "err", err)
			writeError(w, http.StatusServiceUnavailable, "unavailable", "the event log is unavailable; try again")
			return
		}
		cf, err := st.Confirm(c.Field, c.FeedSeq, body.Reason, by)
		if errors.Is(err, child.ErrNoConflict) {
			writeError(w, http.StatusConflict, "changed", "the conflict has changed since the task was read (a source stated another value, or the correction was withdrawn); open the queue again")
			return
		}
		if err != nil {
			s.Log.Error("correction conflict: confirm", "err", err)
			writeError(w, http.StatusServiceUnavailable, "unavailable", "the event log is unavailable; try again")
			return
		}
		e := child.Event{Type: child.TypeCorrectionConfirmed, At: s.now().UTC(), Confirmed: cf}
		// The answer shows the confirmation as the timeline would: it
		// holds the source's value, which may be a shielded address.
		restricted := true
		if v, err := s.Store.Get(ctx, t.ChildID); err == nil {
			restricted, _ = access.Restricted(v)
		}
		s.appendDecision(w, r, t.ChildID, e, http.StatusOK, access.ShowEvent(viewer(r), restricted, e).Confirmed)
	case DecisionAcceptSource:
		wd := &child.CorrectionWithdrawn{Field: c.Field, Reason: body.Reason, By: by}
		s.appendDecision(w, r, t.ChildID, child.Event{Type: child.TypeCorrectionWithdrawn, At: s.now().UTC(), CorrectionWithdrawn: wd}, http.StatusOK, wd)
	default:
		writeError(w, http.StatusBadRequest, "invalid-decision", `a correction conflict's decision must be "keep-correction" or "accept-source"`)
	}
}
