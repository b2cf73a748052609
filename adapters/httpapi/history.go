package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"contactpoint/app/childlog"
	"contactpoint/app/linker"
	"contactpoint/domain/access"
	"contactpoint/domain/audit"
	"contactpoint/domain/child"
	"contactpoint/domain/record"
	"contactpoint/projections/directory"
)

// Timeline reads a child's history from the event log. app/childlog
// implements it.
type Timeline interface {
	History(ctx context.Context, id uuid.UUID) ([]childlog.Recorded, error)
	StateAt(ctx context.Context, id uuid.UUID, t time.Time) (uuid.UUID, *child.State, error)
}

type linkerPreview = linker.Preview

func dryRun(r *http.Request) bool {
	v := r.URL.Query().Get("dry_run")
	return v == "true" || v == "1"
}

// writePreview answers a dry run: what each child would look like, through
// the access policy, and nothing appended (the preview is audited as a
// view: it shows records).
func (s *Server) writePreview(w http.ResponseWriter, r *http.Request, kind string, pv linkerPreview, err error, ids ...uuid.UUID) {
	if err != nil {
		s.linkageError(w, err)
		return
	}
	var named []string
	for _, id := range ids {
		if id != uuid.Nil {
			named = append(named, id.String())
		}
	}
	if !s.audited(w, r, audit.Entry{Action: audit.ActView, Outcome: audit.OK, Reason: kind + "-preview", Children: named, Status: http.StatusOK}) {
		return
	}
	out := make([]child.View, 0, len(pv.States))
	for _, st := range pv.States {
		v := child.Survive(st, s.rules())
		if present, err := s.Store.Get(r.Context(), uuid.MustParse(st.ID)); err == nil && v.Shield == nil {
			// A child that is a possible duplicate of a shielded one now
			// is shown as such in its preview too.
			v.Guard = present.Guard
		}
		shown, ok := s.Policy.View(r, v)
		if !ok {
			continue
		}
		if st.MergedInto != "" {
			shown = child.View{ChildID: st.ID, Sources: []child.SourceSummary{}, Notice: &child.Notice{Message: "merged into " + st.MergedInto}}
		}
		out = append(out, shown)
	}
	writeJSON(w, http.StatusOK, map[string]any{"dry_run": true, "command": kind, "children": out})
}

func (s *Server) rules() child.Rules {
	if s.Rules != nil {
		return s.Rules
	}
	return child.DefaultRules()
}

type unmergeCommand struct {
	Absorbed uuid.UUID `json:"absorbed"`
	Reason   string    `json:"reason"`
}

// unmergeChild: POST /v1/children/{survivor}/unmerge (?dry_run=true).
func (s *Server) unmergeChild(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid-id", "child id must be a UUID")
		return
	}
	var body unmergeCommand
	if !readCommand(w, r, &body) {
		return
	}
	if body.Absorbed == uuid.Nil || body.Reason == "" || len(body.Reason) > 500 {
		writeError(w, http.StatusBadRequest, "invalid-unmerge", "an unmerge needs the absorbed child's id and a reason of at most 500 characters")
		return
	}
	d := decisionBy(r, body.Reason)
	if dryRun(r) {
		pv, err := s.Linker.UnmergePreview(r.Context(), id, body.Absorbed, d)
		s.writePreview(w, r, "unmerge", pv, err, id, body.Absorbed)
		return
	}
	if err := s.Linker.Unmerge(r.Context(), id, body.Absorbed, d); err != nil {
		s.linkageError(w, err)
		return
	}
	if !s.stewardAudited(w, r, "unmerge", id, body.Absorbed) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"survivor": id, "restored": body.Absorbed})
}

type correctionRequest struct {
	Field  string          `json:"field"`
	Value  json.RawMessage `json:"value"`
	Reason string          `json:"reason"`
}

// correct: POST /v1/children/{id}/corrections. A steward corrects a field
// the sources got wrong; the correction is an event on the child's stream.
func (s *Server) correct(w http.ResponseWriter, r *http.Request) {
	var req correctionRequest
	id, ok := s.stewardTarget(w, r, &req)
	if !ok {
		return
	}
	if err := child.CheckCorrection(req.Field, req.Value); err != nil {
		writeError(w, http.StatusBadRequest, "invalid-correction", err.Error())
		return
	}
	if !reasonOK(w, req.Reason) {
		return
	}
	c := &child.Correction{Field: req.Field, Value: req.Value, Reason: req.Reason, By: viewer(r).ID}
	s.appendDecision(w, r, id, child.Event{Type: child.TypeCorrected, At: s.now().UTC(), Corrected: c}, http.StatusCreated, c)
}

// withdrawCorrection: DELETE /v1/children/{id}/corrections/{field}.
func (s *Server) withdrawCorrection(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Reason string `json:"reason"`
	}
	id, cv, ok := s.childFor(w, r)
	if !ok {
		return
	}
	if r.ContentLength != 0 && !decodeBody(w, r, &req) {
		return
	}
	field := r.PathValue("field")
	if _, known := child.Correctable[field]; !known {
		writeError(w, http.StatusBadRequest, "invalid-field", "field must be one of name, birth_date, gender, address")
		return
	}
	if !hasCorrection(cv, field) {
		writeError(w, http.StatusConflict, "no-correction", "no steward correction of that field stands")
		return
	}
	wd := &child.CorrectionWithdrawn{Field: field, Reason: req.Reason, By: viewer(r).ID}
	s.appendDecision(w, r, id, child.Event{Type: child.TypeCorrectionWithdrawn, At: s.now().UTC(), CorrectionWithdrawn: wd}, http.StatusOK, wd)
}

// hasCorrection reports whether the view shows a steward's correction of
// field (or a source contradicted it since, which the steward may also
// withdraw).
func hasCorrection(v child.View, field string) bool {
	for _, c := range v.CorrectionConflicts {
		if c.Field == field {
			return true
		}
	}
	rule := ""
	switch field {
	case "name":
		if v.Name != nil {
			rule = v.Name.Rule
		}
	case "birth_date":
		if v.BirthDate != nil {
			rule = v.BirthDate.Rule
		}
	case "gender":
		if v.Gender != nil {
			rule = v.Gender.Rule
		}
	case "address":
		if v.Address != nil {
			rule = v.Address.Rule
		}
	}
	return rule == child.RuleCorrected
}

type rejectionRequest struct {
	Source   record.SourceKey `json:"source"`
	Field    string           `json:"field"`
	Reason   string           `json:"reason"`
	Withdraw bool             `json:"withdraw"`
}

// rejectValue: POST /v1/children/{id}/rejections. A steward marks one
// source's value of a field as wrong, so survivorship skips it; withdraw
// undoes that.
func (s *Server) rejectValue(w http.ResponseWriter, r *http.Request) {
	var req rejectionRequest
	id, ok := s.stewardTarget(w, r, &req)
	if !ok {
		return
	}
	switch req.Field {
	case "name", "birth_date", "gender", "nhs_number", "upn", "address", "school", "gp_practice", "caf":
	default:
		writeError(w, http.StatusBadRequest, "invalid-field", "field must be one of name, birth_date, gender, nhs_number, upn, address, school, gp_practice, caf")
		return
	}
	if req.Source.Agency == "" || req.Source.System == "" || req.Source.RecordID == "" {
		writeError(w, http.StatusBadRequest, "invalid-source", "source needs agency, system and record_id")
		return
	}
	if !reasonOK(w, req.Reason) {
		return
	}
	rj := &child.ValueRejected{Source: req.Source, Field: req.Field, Reason: req.Reason, By: viewer(r).ID, Withdraw: req.Withdraw}
	s.appendDecision(w, r, id, child.Event{Type: child.TypeValueRejected, At: s.now().UTC(), Rejected: rj}, http.StatusCreated, rj)
}

func reasonOK(w http.ResponseWriter, reason string) bool {
	if strings.TrimSpace(reason) == "" || len(reason) > 500 {
		writeError(w, http.StatusBadRequest, "invalid-reason", "reason is required, at most 500 characters")
		return false
	}
	return true
}

// stewardTarget finds the child and reads the command body.
func (s *Server) stewardTarget(w http.ResponseWriter, r *http.Request, body any) (uuid.UUID, bool) {
	if !viewer(r).Has(access.RoleSteward) {
		writeError(w, http.StatusForbidden, "forbidden", "only data stewards correct records")
		return uuid.Nil, false
	}
	id, _, ok := s.childFor(w, r)
	if !ok || !decodeBody(w, r, body) {
		return uuid.Nil, false
	}
	return id, true
}

type historyEntry struct {
	Seq     uint64      `json:"seq"`
	ChildID string      `json:"child_id"`
	Event   child.Event `json:"event"`
}

// history: GET /v1/children/{id}/history. Every event of the child and of
// the children merged into it, in log order, each through the policy.
func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	v := viewer(r)
	if !access.MayReadHistory(v) {
		writeError(w, http.StatusForbidden, "forbidden", "a child's history is for data stewards, shield officers and auditors")
		return
	}
	if s.Timeline == nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the event log is not available")
		return
	}
	_, cv, ok := s.childFor(w, r)
	if !ok {
		return
	}
	id := uuid.MustParse(cv.ChildID)
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	recs, err := s.Timeline.History(ctx, id)
	if err != nil {
		s.Log.Error("history failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the event log is unavailable; try again")
		return
	}
	restricted, contact := access.Restricted(cv)
	// A review request compares this child with another: its evidence and
	// the source record it compared describe the other child, so it is
	// shown as that child's record would be too.
	// Likewise a statement by a source record that has since moved to a
	// restricted child (a split, an unmerge) describes that child now.
	var others []string
	var keys []directory.SourceKey
	refs := map[string]uuid.UUID{}
	for _, rc := range recs {
		if rc.Event.Review != nil {
			others = append(others, rc.Event.Review.Candidate)
			if c, err := uuid.Parse(rc.Event.Review.Candidate); err == nil && rc.Event.Review.ComparedRef != "" {
				refs[rc.Event.Review.ComparedRef] = c
			}
		}
		for _, k := range rc.Event.SourcesNamed() {
			keys = append(keys, directory.SourceKey{Agency: k.Agency, System: k.System, RecordID: k.RecordID})
		}
	}
	// A review request names the compared record by digest: the record, while
	// the candidate holds it, is checked like any other; one the candidate no
	// longer holds may have moved to a restricted child, so its request is
	// shown as behind the shield.
	compared, err := s.Store.ComparedSources(ctx, refs)
	if err != nil {
		s.Log.Error("history: compared sources", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the directory is unavailable; try again")
		return
	}
	for _, k := range compared {
		keys = append(keys, k)
	}
	otherRestricted, err := s.Store.Restricted(ctx, others)
	if err != nil {
		s.Log.Error("history: restricted candidates", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the directory is unavailable; try again")
		return
	}
	movedAway, err := s.Store.RestrictedSources(ctx, keys)
	if err != nil {
		s.Log.Error("history: restricted sources", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the directory is unavailable; try again")
		return
	}
	ids := map[string]bool{cv.ChildID: true}
	out := make([]historyEntry, 0, len(recs))
	for _, rc := range recs {
		ids[rc.ChildID] = true
		hide := restricted
		if rc.Event.Review != nil && otherRestricted[rc.Event.Review.Candidate] {
			hide = true
		}
		if rv := rc.Event.Review; rv != nil && rv.ComparedRef != "" {
			k, ok := compared[rv.ComparedRef]
			if _, moved := movedAway[k]; !ok || moved {
				hide = true
			}
		}
		for _, k := range rc.Event.SourcesNamed() {
			if _, ok := movedAway[directory.SourceKey{Agency: k.Agency, System: k.System, RecordID: k.RecordID}]; ok {
				hide = true
			}
		}
		out = append(out, historyEntry{Seq: rc.Seq, ChildID: rc.ChildID, Event: access.ShowEvent(v, hide, rc.Event)})
	}
	named := make([]string, 0, len(ids))
	for id := range ids {
		named = append(named, id)
	}
	if !s.audited(w, r, audit.Entry{Action: audit.ActView, Outcome: audit.OK, Reason: "history", Subject: cv.ChildID, Children: named, Status: http.StatusOK}) {
		return
	}
	resp := map[string]any{"child_id": cv.ChildID, "count": len(out), "events": out}
	if restricted && !access.SeesShielded(v) {
		resp["notice"] = child.Notice{Shielded: true, Message: access.ShieldedOrdinary, Contact: contact}
	}
	writeJSON(w, http.StatusOK, resp)
}

// asOf answers GET /v1/children/{id}?as_of=<RFC 3339>: the record as the
// directory showed it then (survivorship over the events known then), for
// the viewer's present rights. A child restricted now is shown restricted
// whatever it was then: a shield lifted since cannot be applied to the
// past, but one applied since must be.
func (s *Server) asOf(w http.ResponseWriter, r *http.Request, id uuid.UUID, present child.View, raw string) {
	t, err := time.Parse(time.RFC3339, raw)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid-as-of", "as_of must be an RFC 3339 time, e.g. 2026-10-02T09:00:00Z")
		return
	}
	if s.Timeline == nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the event log is not available")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	whose, st, err := s.Timeline.StateAt(ctx, id, t)
	if errors.Is(err, childlog.ErrNotYet) || errors.Is(err, childlog.ErrNoChild) {
		if !s.audited(w, r, audit.Entry{Action: audit.ActView, Outcome: audit.Refused, Reason: "not-yet", Subject: id.String(), Status: http.StatusNotFound}) {
			return
		}
		writeError(w, http.StatusNotFound, "not-found", "the child was not in the directory at that time")
		return
	}
	if err != nil {
		s.Log.Error("as-of read failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the event log is unavailable; try again")
		return
	}
	then := child.Survive(st, s.rules())
	if then.Shield == nil {
		then.Shield = present.Shield
	}
	then.Guard = present.Guard
	shown, ok := s.Policy.View(r, then)
	if !ok {
		writeError(w, http.StatusNotFound, "not-found", "no child with that id")
		return
	}
	if !s.audited(w, r, audit.Entry{Action: audit.ActView, Outcome: audit.OK, Reason: "as-of", Children: viewed(id.String(), whose.String()),
		Criteria: map[string]string{"as_of": t.UTC().Format(time.RFC3339)}, Status: http.StatusOK}) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"as_of": t.UTC().Format(time.RFC3339), "child": shown})
}
