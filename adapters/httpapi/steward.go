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

	"github.com/google/uuid"

	"contactpoint/app/linker"
	"contactpoint/domain/access"
	"contactpoint/domain/audit"
	"contactpoint/domain/child"
	"contactpoint/domain/match"
	"contactpoint/domain/record"
	"contactpoint/projections/directory"
)

// Linkage is what the steward endpoints need of the linker.
type Linkage interface {
	Merge(ctx context.Context, a, b uuid.UUID, d child.Decision) (uuid.UUID, error)
	NotLink(ctx context.Context, a, b uuid.UUID, d child.Decision) error
	Split(ctx context.Context, from uuid.UUID, keys []record.SourceKey, to uuid.UUID, d child.Decision) (uuid.UUID, error)
	Unmerge(ctx context.Context, survivor, absorbed uuid.UUID, d child.Decision) error
	PreviewSplit(ctx context.Context, from uuid.UUID, keys []record.SourceKey, to uuid.UUID, d child.Decision) (linker.Preview, error)
	PreviewMerge(ctx context.Context, a, b uuid.UUID, d child.Decision) (linker.Preview, error)
	UnmergePreview(ctx context.Context, survivor, absorbed uuid.UUID, d child.Decision) (linker.Preview, error)
}

// registerSteward adds the data stewards' routes.
func (s *Server) registerSteward(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/reviews", s.listReviews)
	mux.HandleFunc("GET /v1/reviews/{task}", s.getReview)
	mux.HandleFunc("POST /v1/reviews/{task}/decision", s.decideReview)
	mux.HandleFunc("POST /v1/children/{id}/merge", s.mergeChildren)
	mux.HandleFunc("POST /v1/children/{id}/split", s.splitChild)
	mux.HandleFunc("POST /v1/children/{id}/unmerge", s.unmergeChild)
	mux.HandleFunc("GET /v1/links/export", s.exportLinks)
	mux.HandleFunc("GET /v1/linkage/rules", s.linkageRules)
}

const maxCommandBody = 64 << 10

func decisionBy(r *http.Request, reason string) child.Decision {
	d := child.Decision{By: "unknown", Reason: reason}
	if v, ok := access.ViewerFrom(r.Context()); ok {
		d.By = v.ID
	}
	return d
}

func readCommand(w http.ResponseWriter, r *http.Request, into any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxCommandBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		writeError(w, http.StatusBadRequest, "invalid-body", "the body must be a JSON object of the documented fields: "+err.Error())
		return false
	}
	return true
}

// stewardAudited records a steward's decision on a pair of children.
func (s *Server) stewardAudited(w http.ResponseWriter, r *http.Request, kind string, a, b uuid.UUID) bool {
	return s.audited(w, r, audit.Entry{Action: audit.ActStewardDec, Outcome: audit.OK, Reason: kind,
		Children: []string{a.String(), b.String()}, Status: http.StatusOK})
}

// linkageError maps linker errors to statuses.
func (s *Server) linkageError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, linker.ErrUnknownChild):
		writeError(w, http.StatusNotFound, "not-found", "no child with that id")
	case errors.Is(err, linker.ErrMergedChild), errors.Is(err, linker.ErrSameChild), errors.Is(err, linker.ErrNotLinkedPair),
		errors.Is(err, linker.ErrUnknownSource), errors.Is(err, linker.ErrSplitEverything),
		errors.Is(err, linker.ErrNotAbsorbed), errors.Is(err, linker.ErrMergedSince), errors.Is(err, linker.ErrNothingToMove):
		writeError(w, http.StatusConflict, "conflict", err.Error())
	case errors.Is(err, linker.ErrNotReady):
		writeError(w, http.StatusServiceUnavailable, "starting", err.Error())
	default:
		s.Log.Error("linkage command failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the event log is unavailable; try again")
	}
}

// listReviews pages through the open review tasks: ?limit= (1–500, 50 by
// default), ?after= the previous page's next, ?reason= one of the reasons
// a record was not linked, ?order=score for the highest scores first. Every
// open task is reachable page by page; none is left out silently.
func (s *Server) listReviews(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	why := strings.ReplaceAll(q.Get("reason"), "-", " ")
	switch why {
	case "", match.WhyScoreBand, match.WhyTwin, match.WhyIdentifier, match.WhyHousehold, child.WhyCorrectionConflict:
	default:
		writeError(w, http.StatusBadRequest, "invalid-reason", "reason must be score-band, twin-guard, identifier-conflict, household-conflict or correction-conflict")
		return
	}
	if o := q.Get("order"); o != "" && o != "score" && o != "oldest" {
		writeError(w, http.StatusBadRequest, "invalid-order", `order must be "oldest" or "score"`)
		return
	}
	tasks, next, err := s.Store.ReviewPage(r.Context(), directory.ReviewQuery{Why: why, ByScore: q.Get("order") == "score", After: q.Get("after"), Limit: limit})
	if errors.Is(err, directory.ErrBadCursor) {
		writeError(w, http.StatusBadRequest, "invalid-after", err.Error())
		return
	}
	if err == nil {
		err = s.Store.SideBySide(r.Context(), tasks)
	}
	if err != nil {
		s.Log.Error("list reviews failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the review queue is unavailable; try again")
		return
	}
	ids := make([]string, 0, 2*len(tasks))
	for _, t := range tasks {
		ids = append(ids, t.ChildID.String(), t.CandidateID.String())
	}
	if !s.audited(w, r, audit.Entry{Action: audit.ActView, Outcome: audit.OK, Reason: "review-queue", Children: ids, Status: http.StatusOK}) {
		return
	}
	if tasks, err = s.shieldTasks(r, tasks); err != nil {
		s.Log.Error("review shielding failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the review queue is unavailable; try again")
		return
	}
	page := map[string]any{"count": len(tasks), "tasks": tasks}
	if next != "" {
		page["next"] = next
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) task(w http.ResponseWriter, r *http.Request) (directory.ReviewTask, bool) {
	id, err := strconv.ParseInt(r.PathValue("task"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, "invalid-id", "review task id must be a positive number")
		return directory.ReviewTask{}, false
	}
	t, err := s.Store.Review(r.Context(), id)
	if errors.Is(err, directory.ErrNoTask) {
		writeError(w, http.StatusNotFound, "not-found", "no review task with that id")
		return t, false
	}
	if err != nil {
		s.Log.Error("get review failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the review queue is unavailable; try again")
		return t, false
	}
	return t, true
}

func (s *Server) getReview(w http.ResponseWriter, r *http.Request) {
	t, ok := s.task(w, r)
	if !ok || !s.audited(w, r, audit.Entry{Action: audit.ActView, Outcome: audit.OK, Reason: "review-task",
		Children: []string{t.ChildID.String(), t.CandidateID.String()}, Status: http.StatusOK}) {
		return
	}
	tasks := []directory.ReviewTask{t}
	err := s.Store.SideBySide(r.Context(), tasks)
	shown := tasks
	if err == nil {
		shown, err = s.shieldTasks(r, tasks)
	}
	if err != nil {
		s.Log.Error("review shielding failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the review queue is unavailable; try again")
		return
	}
	writeJSON(w, http.StatusOK, shown[0])
}

type reviewDecision struct {
	Decision string `json:"decision"` // link or not-link
	Reason   string `json:"reason"`
}

// decideReview records a steward's verdict on a possible match: link merges
// the two children, not-link remembers they differ.
func (s *Server) decideReview(w http.ResponseWriter, r *http.Request) {
	t, ok := s.task(w, r)
	if !ok {
		return
	}
	var body reviewDecision
	if !readCommand(w, r, &body) {
		return
	}
	if len(body.Reason) > 500 {
		writeError(w, http.StatusBadRequest, "invalid-reason", "reason is at most 500 characters")
		return
	}
	if t.Status != "open" {
		writeError(w, http.StatusConflict, "decided", "the task was already decided: "+t.Status)
		return
	}
	if directory.IsConflictTask(t.ID) {
		s.decideConflict(w, r, t, body)
		return
	}
	d := decisionBy(r, body.Reason)
	switch body.Decision {
	case "link":
		surv, err := s.Linker.Merge(r.Context(), t.ChildID, t.CandidateID, d)
		if err != nil {
			s.linkageError(w, err)
			return
		}
		if !s.stewardAudited(w, r, "link", t.ChildID, t.CandidateID) {
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"decision": "link", "survivor": surv})
	case "not-link":
		if err := s.Linker.NotLink(r.Context(), t.ChildID, t.CandidateID, d); err != nil {
			s.linkageError(w, err)
			return
		}
		if !s.stewardAudited(w, r, "not-link", t.ChildID, t.CandidateID) {
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"decision": "not-link"})
	default:
		writeError(w, http.StatusBadRequest, "invalid-decision", `decision must be "link" or "not-link" (on a correction conflict, "keep-correction" or "accept-source")`)
	}
}

type mergeCommand struct {
	Other  uuid.UUID `json:"other"`
	Reason string    `json:"reason"`
}

func (s *Server) mergeChildren(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid-id", "child id must be a UUID")
		return
	}
	var body mergeCommand
	if !readCommand(w, r, &body) {
		return
	}
	if body.Reason == "" || len(body.Reason) > 500 {
		writeError(w, http.StatusBadRequest, "invalid-reason", "a merge needs a reason of at most 500 characters")
		return
	}
	if dryRun(r) {
		pv, err := s.Linker.PreviewMerge(r.Context(), id, body.Other, decisionBy(r, body.Reason))
		s.writePreview(w, r, "merge", pv, err, id, body.Other)
		return
	}
	surv, err := s.Linker.Merge(r.Context(), id, body.Other, decisionBy(r, body.Reason))
	if err != nil {
		s.linkageError(w, err)
		return
	}
	if !s.stewardAudited(w, r, "merge", id, body.Other) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"survivor": surv})
}

type splitCommand struct {
	Sources []record.SourceKey `json:"sources"`
	To      *uuid.UUID         `json:"to,omitempty"`
	Reason  string             `json:"reason"`
}

func (s *Server) splitChild(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid-id", "child id must be a UUID")
		return
	}
	var body splitCommand
	if !readCommand(w, r, &body) {
		return
	}
	if body.Reason == "" || len(body.Reason) > 500 || len(body.Sources) == 0 || len(body.Sources) > 100 {
		writeError(w, http.StatusBadRequest, "invalid-split", "a split needs 1 to 100 sources and a reason of at most 500 characters")
		return
	}
	to := uuid.Nil
	if body.To != nil {
		to = *body.To
	}
	if dryRun(r) {
		pv, err := s.Linker.PreviewSplit(r.Context(), id, body.Sources, to, decisionBy(r, body.Reason))
		s.writePreview(w, r, "split", pv, err, id, to)
		return
	}
	dest, err := s.Linker.Split(r.Context(), id, body.Sources, to, decisionBy(r, body.Reason))
	if err != nil {
		s.linkageError(w, err)
		return
	}
	if !s.stewardAudited(w, r, "split", id, dest) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"child": id, "moved_to": dest})
}

// exportLinks streams the source-record-to-child links as CSV.
func (s *Server) exportLinks(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Minute)
	defer cancel()
	// The export names no child by its details, only ids; it is recorded
	// as an export before a byte of it leaves.
	if !s.audited(w, r, audit.Entry{Action: audit.ActExport, Outcome: audit.OK, Reason: "links", Status: http.StatusOK}) {
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="links.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	if _, err := s.Store.ExportLinks(ctx, w, access.SeesShielded(viewer(r))); err != nil {
		s.Log.Error("links export failed", "err", err)
	}
}

// shieldTasks withholds, for a viewer without the shield role, the source
// and evidence of every task that pairs a restricted child: a task about a
// shielded child must not show its addresses, schools or source systems.
func (s *Server) shieldTasks(r *http.Request, tasks []directory.ReviewTask) ([]directory.ReviewTask, error) {
	if access.SeesShielded(viewer(r)) || len(tasks) == 0 {
		return tasks, nil
	}
	ids := make([]string, 0, 2*len(tasks))
	for _, t := range tasks {
		ids = append(ids, t.ChildID.String(), t.CandidateID.String())
	}
	restricted, err := s.Store.Restricted(r.Context(), ids)
	if err != nil {
		return nil, err
	}
	out := make([]directory.ReviewTask, len(tasks))
	for i, t := range tasks {
		out[i] = t
		if restricted[t.ChildID.String()] || restricted[t.CandidateID.String()] {
			out[i] = t.Withhold(s.shieldContact(r.Context(), t.ChildID, t.CandidateID))
		}
	}
	return out, nil
}

// shieldContact is whom to contact about a restricted pair: the contact
// the policy gives for either child.
func (s *Server) shieldContact(ctx context.Context, ids ...uuid.UUID) string {
	for _, id := range ids {
		v, err := s.Store.Get(ctx, id)
		if err != nil {
			continue
		}
		if ok, contact := access.Restricted(v); ok && contact != "" {
			return contact
		}
	}
	return ""
}
