package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/google/uuid"

	"contactpoint/domain/access"
	"contactpoint/domain/audit"
	"contactpoint/domain/child"
	"contactpoint/projections/directory"
)

// ChildLog appends the hub's own decisions to a child's subject.
type ChildLog interface {
	// Append returns the child it wrote to: the survivor, when id names a
	// child that has been merged.
	Append(ctx context.Context, id uuid.UUID, events []child.Event) (uuid.UUID, uint64, error)
	NotifyInvolvement(id uuid.UUID, seq uint64, in child.InvolvementIndicated) error
}

// ShieldReasons are the reason categories a shield may give. The category
// is seen by shield officers only.
var ShieldReasons = []string{"domestic-abuse", "risk-of-harm", "witness-protection", "adoption", "court-order", "other"}

type shieldRequest struct {
	RequestedBy     string `json:"requested_by"`
	RequestedByKind string `json:"requested_by_kind"`
	ReasonCategory  string `json:"reason_category"`
	ReviewDate      string `json:"review_date"`
	Contact         string `json:"contact"`
}

type liftRequest struct {
	Reason string `json:"reason"`
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// shieldTarget checks the role before anything else, so that a refusal
// says nothing about the child, then finds the child.
func (s *Server) shieldTarget(w http.ResponseWriter, r *http.Request) (uuid.UUID, child.View, bool) {
	if !access.SeesShielded(viewer(r)) {
		writeError(w, http.StatusForbidden, "forbidden", "only shield officers apply, lift and review shields")
		return uuid.Nil, child.View{}, false
	}
	return s.childFor(w, r)
}

func (s *Server) childFor(w http.ResponseWriter, r *http.Request) (uuid.UUID, child.View, bool) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid-id", "child id must be a UUID")
		return id, child.View{}, false
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	v, err := s.Store.Get(ctx, id)
	if errors.Is(err, directory.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not-found", "no child with that id")
		return id, v, false
	}
	if err != nil {
		s.Log.Error("get child failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the directory is unavailable; try again")
		return id, v, false
	}
	return id, v, true
}

func decodeBody(w http.ResponseWriter, r *http.Request, dst any) bool {
	d := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	d.DisallowUnknownFields()
	if err := d.Decode(dst); err != nil {
		writeError(w, http.StatusBadRequest, "invalid-body", "the body must be a JSON object with only the documented fields")
		return false
	}
	return true
}

// applyShield: POST /v1/children/{id}/shield. Applying to a shielded child
// replaces the shield (a new review date, reason or contact).
func (s *Server) applyShield(w http.ResponseWriter, r *http.Request) {
	id, _, ok := s.shieldTarget(w, r)
	if !ok {
		return
	}
	var req shieldRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if msg := req.check(s.now()); msg != "" {
		writeError(w, http.StatusBadRequest, "invalid-shield", msg)
		return
	}
	v := viewer(r)
	sh := &child.Shield{RequestedBy: req.RequestedBy, RequestedByKind: req.RequestedByKind, AppliedBy: v.ID,
		ReasonCategory: req.ReasonCategory, ReviewDate: req.ReviewDate, Contact: req.Contact}
	s.appendDecision(w, r, id, child.Event{Type: child.TypeShieldApplied, At: s.now().UTC(), Shield: sh}, http.StatusCreated, sh)
}

func (q shieldRequest) check(now time.Time) string {
	switch {
	case q.RequestedBy == "":
		return "requested_by is required: the practitioner, or a description of the parent or carer, who asked"
	case q.RequestedByKind != "practitioner" && q.RequestedByKind != "parent-carer":
		return "requested_by_kind must be practitioner or parent-carer"
	case !contains(ShieldReasons, q.ReasonCategory):
		return "reason_category must be one of the documented categories"
	case q.Contact == "":
		return "contact is required: whom ordinary users should contact"
	}
	d, err := time.Parse(time.DateOnly, q.ReviewDate)
	if err != nil || !d.After(now) || d.After(now.AddDate(2, 0, 0)) {
		return "review_date must be a date (YYYY-MM-DD) after today and within two years"
	}
	return ""
}

// liftShield: DELETE /v1/children/{id}/shield or POST .../shield/lift.
func (s *Server) liftShield(w http.ResponseWriter, r *http.Request) {
	id, cv, ok := s.shieldTarget(w, r)
	if !ok {
		return
	}
	var req liftRequest
	if r.ContentLength != 0 && !decodeBody(w, r, &req) {
		return
	}
	if req.Reason == "" {
		writeError(w, http.StatusBadRequest, "invalid-lift", "reason is required")
		return
	}
	if cv.Shield == nil {
		writeError(w, http.StatusConflict, "not-shielded", "the child's record is not shielded")
		return
	}
	l := &child.ShieldLifted{LiftedBy: viewer(r).ID, Reason: req.Reason}
	s.appendDecision(w, r, id, child.Event{Type: child.TypeShieldLifted, At: s.now().UTC(), Lifted: l}, http.StatusOK, l)
}

type decisionResponse struct {
	ChildID string `json:"child_id"`
	Seq     uint64 `json:"seq"`
	Event   string `json:"event"`
	Detail  any    `json:"detail"`
}

func (s *Server) appendDecision(w http.ResponseWriter, r *http.Request, id uuid.UUID, e child.Event, status int, detail any) {
	if s.Children == nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the event log is not available")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	act := audit.ActShieldChange
	if e.Type == child.TypeInvolvementIndicated {
		act = e.Type
	}
	if !s.audited(w, r, audit.Entry{Action: act, Outcome: audit.OK, Subject: id.String(), Reason: e.Type, Status: status}) {
		return
	}
	target, seq, err := s.Children.Append(ctx, id, []child.Event{e})
	if err != nil {
		s.Log.Error("append decision failed", "event", e.Type, "err", err)
		writeError(w, http.StatusServiceUnavailable, "event-log-unavailable", "the event log did not confirm the change; try again")
		return
	}
	writeJSON(w, status, decisionResponse{ChildID: target.String(), Seq: seq, Event: e.Type, Detail: detail})
}

type dueShield struct {
	ChildID    string       `json:"child_id"`
	ReviewDate string       `json:"review_date"`
	Shield     child.Shield `json:"shield"`
	Child      child.View   `json:"child"`
}

// shieldsDue: GET /v1/shields/due?by=YYYY-MM-DD (default: 30 days ahead).
func (s *Server) shieldsDue(w http.ResponseWriter, r *http.Request) {
	if !access.SeesShielded(viewer(r)) {
		writeError(w, http.StatusForbidden, "forbidden", "the shields due for review are for shield officers")
		return
	}
	by := s.now().AddDate(0, 0, 30)
	if b := r.URL.Query().Get("by"); b != "" {
		d, err := time.Parse(time.DateOnly, b)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid-date", "by must be a date in YYYY-MM-DD form")
			return
		}
		by = d
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	due, err := s.Store.ShieldsDue(ctx, by, 0)
	if err != nil {
		s.Log.Error("shields due failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the directory is unavailable; try again")
		return
	}
	ids := make([]string, len(due))
	for i, d := range due {
		ids[i] = d.ChildID.String()
	}
	if !s.audited(w, r, audit.Entry{Action: audit.ActView, Outcome: audit.OK, Reason: "shields-due", Children: ids, Status: http.StatusOK}) {
		return
	}
	out := make([]dueShield, 0, len(due))
	for _, d := range due {
		shown, ok := s.Policy.View(r, d.View)
		if !ok {
			continue
		}
		out = append(out, dueShield{d.ChildID.String(), d.Review, d.Shield, shown})
	}
	writeJSON(w, http.StatusOK, map[string]any{"by": by.Format(time.DateOnly), "count": len(out), "shields": out})
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
