package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"

	"contactpoint/app/childlog"
	"contactpoint/domain/access"
	"contactpoint/domain/audit"
	"contactpoint/domain/child"
	"contactpoint/domain/retention"
	"contactpoint/projections/directory"
)

// RetentionService records retention exceptions (app/retention).
type RetentionService interface {
	Exception(ctx context.Context, id uuid.UUID, ex child.RetentionException) (uuid.UUID, error)
	Today() time.Time
}

func (s *Server) registerRetention(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/children/{id}/retention", s.retentionException)
	mux.HandleFunc("GET /v1/archive/children/{id}", s.archivedRecord)
}

func (s *Server) today() time.Time {
	if s.Retention != nil {
		return s.Retention.Today()
	}
	return retention.Day(s.now(), time.UTC)
}

// includeArchived turns a steward's include_archived=true into the search's
// bound: archived within the year. Nobody else finds archived children.
func (s *Server) includeArchived(r *http.Request, c *directory.Criteria) {
	if r.URL.Query().Get("include_archived") == "true" && viewer(r).Has(access.RoleSteward) {
		c.ArchivedSince = retention.StewardSince(s.today())
	}
}

// retired answers a record view of an archived or erased child, and
// reports whether it did. A data steward with include_archived=true sees an
// archived record within the year (through the access policy, audited as
// an enquiry); everyone else is told only that the record is archived or
// erased (410), which says nothing a search would not.
func (s *Server) retired(w http.ResponseWriter, r *http.Request, id uuid.UUID, err error) bool {
	var arch *directory.ArchivedError
	switch {
	case errors.Is(err, directory.ErrErased):
		if s.audited(w, r, audit.Entry{Action: audit.ActView, Outcome: audit.Refused, Reason: "erased", Subject: id.String(), Status: http.StatusGone}) {
			writeError(w, http.StatusGone, "erased", "the record has been erased")
		}
		return true
	case errors.As(err, &arch):
		if r.URL.Query().Get("include_archived") == "true" && viewer(r).Has(access.RoleSteward) && retention.StewardMayFind(arch.On, s.today()) {
			s.showArchived(w, r, id, "archived-enquiry", nil)
			return true
		}
		if s.audited(w, r, audit.Entry{Action: audit.ActView, Outcome: audit.Refused, Reason: "archived", Subject: id.String(), Status: http.StatusGone}) {
			writeError(w, http.StatusGone, "archived", "the record has been archived and is no longer in the directory")
		}
		return true
	}
	return false
}

type archivedView struct {
	Status     string     `json:"status"`
	ArchivedOn string     `json:"archived_on,omitempty"`
	Child      child.View `json:"child"`
}

// showArchived answers an archived (or live) record through the access
// policy: a shielded child stays shielded for a viewer without the role.
func (s *Server) showArchived(w http.ResponseWriter, r *http.Request, id uuid.UUID, reason string, crit map[string]string) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	v, life, err := s.Store.GetArchived(ctx, id)
	switch {
	case errors.Is(err, directory.ErrNotFound):
		if s.audited(w, r, audit.Entry{Action: audit.ActView, Outcome: audit.Refused, Reason: "not-found", Subject: id.String(), Status: http.StatusNotFound}) {
			writeError(w, http.StatusNotFound, "not-found", "no child with that id")
		}
		return
	case err != nil:
		s.Log.Error("get archived child failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the directory is unavailable; try again")
		return
	}
	if life.Status == "erased" {
		if s.audited(w, r, audit.Entry{Action: audit.ActView, Outcome: audit.Refused, Reason: "erased", Subject: id.String(), Status: http.StatusGone}) {
			writeError(w, http.StatusGone, "erased", "the record has been erased")
		}
		return
	}
	shown, ok := access.ShowArchived(viewer(r), v)
	if !ok {
		if s.audited(w, r, audit.Entry{Action: audit.ActView, Outcome: audit.Refused, Reason: "withheld", Subject: id.String(), Status: http.StatusNotFound}) {
			writeError(w, http.StatusNotFound, "not-found", "no child with that id")
		}
		return
	}
	if !s.audited(w, r, audit.Entry{Action: audit.ActView, Reason: reason, Children: viewed(id.String(), v.ChildID), Criteria: crit, Status: http.StatusOK}) {
		return
	}
	out := archivedView{Status: life.Status, Child: shown}
	if !life.ArchivedOn.IsZero() {
		out.ArchivedOn = retention.Format(life.ArchivedOn)
	}
	writeJSON(w, http.StatusOK, out)
}

// archivedRecord is the auditors' read of any record, archived ones
// included, for a stated reason written to the trail.
func (s *Server) archivedRecord(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid-id", "child id must be a UUID")
		return
	}
	reason := r.URL.Query().Get("reason")
	if n := len([]rune(reason)); n < 10 || n > 500 {
		writeError(w, http.StatusBadRequest, "reason-required", "state the reason for reading an archived record (10 to 500 characters)")
		return
	}
	s.showArchived(w, r, id, "archive-read", map[string]string{"reason": reason})
}

type exceptionRequest struct {
	Kind   string `json:"kind"`
	Reason string `json:"reason"`
	Date   string `json:"date,omitempty"`
}

// retentionException records a care leaver's consent (or its withdrawal),
// a death, or a legal hold (or its release), as an event on the child.
func (s *Server) retentionException(w http.ResponseWriter, r *http.Request) {
	if s.Retention == nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the lifecycle is not running")
		return
	}
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid-id", "child id must be a UUID")
		return
	}
	var req exceptionRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid-body", "the body must be {\"kind\", \"reason\", \"date\"?}")
		return
	}
	if !retention.ValidException(req.Kind) {
		writeError(w, http.StatusBadRequest, "invalid-kind", "kind must be care-leaver-consent, care-leaver-consent-withdrawn, death, legal-hold or legal-hold-released")
		return
	}
	if n := len([]rune(req.Reason)); n < 3 || n > 500 {
		writeError(w, http.StatusBadRequest, "reason-required", "a reason of 3 to 500 characters is required")
		return
	}
	if req.Kind == retention.ExDeath {
		if _, err := retention.ParseDay(req.Date); err != nil {
			writeError(w, http.StatusBadRequest, "invalid-date", "a death needs its date as YYYY-MM-DD")
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if _, err := s.Store.Get(ctx, id); errors.Is(err, directory.ErrErased) {
		writeError(w, http.StatusGone, "erased", "the record has been erased")
		return
	}
	target, err := s.Retention.Exception(ctx, id, child.RetentionException{Kind: req.Kind, Reason: req.Reason, By: viewer(r).ID, Date: req.Date})
	switch {
	case errors.Is(err, childlog.ErrNoChild):
		writeError(w, http.StatusNotFound, "not-found", "no child with that id")
		return
	case errors.Is(err, audit.ErrUnavailable):
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the audit trail is unavailable; try again")
		return
	case err != nil:
		s.Log.Error("retention exception failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the event log is unavailable; try again")
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"child_id": target.String(), "kind": req.Kind})
}
