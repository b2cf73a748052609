package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"contactpoint/domain/access"
	"contactpoint/domain/audit"
	"contactpoint/domain/child"
	"contactpoint/projections/directory"
)

// ActReveal is the audit action of a break-glass reveal and of its end.
const (
	ActReveal    = audit.ActReveal
	ActRevealEnd = audit.ActRevealEnd
)

type revealRequest struct {
	Reason string `json:"reason"`
	// AcknowledgeWarning must be true: the viewer has read RevealWarning.
	AcknowledgeWarning bool `json:"acknowledge_warning"`
}

type revealResponse struct {
	ChildID string     `json:"child_id"`
	Seq     uint64     `json:"seq"`
	Until   time.Time  `json:"until"`
	Warning string     `json:"warning"`
	Child   child.View `json:"child"`
}

// reveal: POST /v1/children/{id}/reveal. A child-protection practitioner
// breaks the glass on one shielded record: a stated reason, the warning
// acknowledged, an audit entry, then a shield.revealed event on the child's
// stream, which the shield officers' list shows as soon as the directory
// has it (this handler waits for that before answering).
func (s *Server) reveal(w http.ResponseWriter, r *http.Request) {
	v := viewer(r)
	if !access.CanReveal(v) || v.ID == "" {
		writeError(w, http.StatusForbidden, "forbidden", "only a practitioner in a child-protection role can reveal a shielded record")
		return
	}
	id, cv, ok := s.childFor(w, r)
	if !ok {
		return
	}
	var req revealRequest
	if !decodeBody(w, r, &req) {
		return
	}
	req.Reason = strings.TrimSpace(req.Reason)
	if len(req.Reason) < 10 || len(req.Reason) > 500 {
		writeError(w, http.StatusBadRequest, "invalid-reason", "reason is required: 10 to 500 characters saying why the record must be revealed")
		return
	}
	if !req.AcknowledgeWarning {
		writeError(w, http.StatusPreconditionRequired, "acknowledge-warning", access.RevealWarning+" Send acknowledge_warning: true to go on.")
		return
	}
	if restricted, _ := access.Restricted(cv); !restricted {
		writeError(w, http.StatusConflict, "not-shielded", "the child's record is not shielded; open it as usual")
		return
	}
	if s.Children == nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the event log is not available")
		return
	}
	now := s.now().UTC()
	rv := &child.Revealed{PractitionerID: v.ID, Reason: req.Reason, Until: now.Add(access.RevealFor)}
	// The audit entry comes first: a reveal that cannot be recorded does
	// not happen.
	if !s.audited(w, r, audit.Entry{Action: ActReveal, Outcome: audit.OK, Subject: cv.ChildID, Children: []string{cv.ChildID},
		Reason: "break-glass", Criteria: map[string]string{"reason": req.Reason}, Status: http.StatusCreated}) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	target, seq, err := s.Children.Append(ctx, id, []child.Event{{Type: child.TypeShieldRevealed, At: now, Revealed: rv}})
	if err != nil {
		s.Log.Error("reveal not appended", "err", err)
		writeError(w, http.StatusServiceUnavailable, "event-log-unavailable", "the event log did not confirm the reveal; try again")
		return
	}
	if err := s.awaitReveal(ctx, seq); err != nil {
		s.Log.Error("reveal not yet projected", "seq", seq, "err", err)
		writeError(w, http.StatusServiceUnavailable, "starting", "the reveal is recorded but the directory has not caught up; open the record again shortly")
		return
	}
	v.Revealed = target.String()
	shown, _ := access.Show(v, cv)
	writeJSON(w, http.StatusCreated, revealResponse{ChildID: target.String(), Seq: seq, Until: rv.Until, Warning: access.RevealWarning, Child: shown})
}

// awaitReveal waits until the directory holds the reveal at seq.
func (s *Server) awaitReveal(ctx context.Context, seq uint64) error {
	for {
		_, err := s.Store.RevealAt(ctx, seq)
		if err == nil {
			return nil
		}
		if !errors.Is(err, directory.ErrNoReveal) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// endReveal: DELETE /v1/children/{id}/reveal. The practitioner leaves the
// revealed record; the reveal ends before its time runs out.
func (s *Server) endReveal(w http.ResponseWriter, r *http.Request) {
	v := viewer(r)
	if !access.CanReveal(v) || v.ID == "" {
		writeError(w, http.StatusForbidden, "forbidden", "only a practitioner in a child-protection role reveals shielded records")
		return
	}
	id, cv, ok := s.childFor(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if _, err := s.activeReveal(ctx, v, cv); err != nil {
		if errors.Is(err, directory.ErrNoReveal) {
			writeError(w, http.StatusNotFound, "no-reveal", "you have no open reveal of this record")
			return
		}
		s.Log.Error("reveal lookup failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the directory is unavailable; try again")
		return
	}
	if !s.audited(w, r, audit.Entry{Action: ActRevealEnd, Outcome: audit.OK, Subject: cv.ChildID, Status: http.StatusOK}) {
		return
	}
	now := s.now().UTC()
	_, seq, err := s.Children.Append(ctx, id, []child.Event{{Type: child.TypeRevealEnded, At: now,
		Revealed: &child.Revealed{PractitionerID: v.ID, Until: now}}})
	if err != nil {
		s.Log.Error("reveal end not appended", "err", err)
		writeError(w, http.StatusServiceUnavailable, "event-log-unavailable", "the event log did not confirm; try again")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"child_id": cv.ChildID, "seq": seq, "ended_at": now})
}

// activeReveal returns the viewer's open reveal of the child, if any.
func (s *Server) activeReveal(ctx context.Context, v access.Viewer, cv child.View) (directory.Reveal, error) {
	id, err := parseChildID(cv.ChildID)
	if err != nil {
		return directory.Reveal{}, directory.ErrNoReveal
	}
	return s.Store.ActiveReveal(ctx, v.ID, id, s.now())
}

// revealing returns the request with the viewer's open reveal of cv, if
// the viewer may reveal and has one; otherwise r itself.
func (s *Server) revealing(r *http.Request, cv child.View) (*http.Request, bool, error) {
	v := viewer(r)
	if !access.CanReveal(v) || v.ID == "" {
		return r, false, nil
	}
	if restricted, _ := access.Restricted(cv); !restricted {
		return r, false, nil
	}
	if _, err := s.activeReveal(r.Context(), v, cv); err != nil {
		if errors.Is(err, directory.ErrNoReveal) {
			return r, false, nil
		}
		return r, false, err
	}
	v.Revealed = cv.ChildID
	return r.WithContext(access.WithViewer(r.Context(), v)), true, nil
}

// listReveals: GET /v1/shields/reveals?since=YYYY-MM-DD (default: 30 days).
func (s *Server) listReveals(w http.ResponseWriter, r *http.Request) {
	if !access.SeesShielded(viewer(r)) {
		writeError(w, http.StatusForbidden, "forbidden", "break-glass reveals are for shield officers")
		return
	}
	since := s.now().AddDate(0, 0, -30)
	if q := r.URL.Query().Get("since"); q != "" {
		d, err := time.Parse(time.DateOnly, q)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid-date", "since must be a date in YYYY-MM-DD form")
			return
		}
		since = d
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	rs, err := s.Store.Reveals(ctx, since, 0)
	if err != nil {
		s.Log.Error("reveals list failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the directory is unavailable; try again")
		return
	}
	ids := make([]string, len(rs))
	for i, x := range rs {
		ids[i] = x.ChildID.String()
	}
	if !s.audited(w, r, audit.Entry{Action: audit.ActView, Outcome: audit.OK, Reason: "reveals", Children: ids, Status: http.StatusOK}) {
		return
	}
	if rs == nil {
		rs = []directory.Reveal{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"since": since.Format(time.DateOnly), "count": len(rs), "reveals": rs})
}
