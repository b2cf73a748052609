package httpapi

import (
	"net/http"
	"strings"

	"contactpoint/domain/access"
	"contactpoint/domain/audit"
	"contactpoint/domain/child"
)

// involvementRequest is what a practitioner says when indicating that they
// work with a child. Name and organisation default to the practitioner's
// own. There is no kind: a sensitive service is recorded only by its own
// feed, where consent travels with it.
type involvementRequest struct {
	Service      string `json:"service"`
	Role         string `json:"role"`
	Organisation string `json:"organisation"`
	Phone        string `json:"phone"`
	Email        string `json:"email"`
}

// indicateInvolvement: POST /v1/children/{id}/involvement. The event goes
// to children.<id>, where the notifier reads it and tells the other
// practitioners; notifications.involvement.<id> is only a non-durable hint.
func (s *Server) indicateInvolvement(w http.ResponseWriter, r *http.Request) {
	v := viewer(r)
	if !access.CanIndicate(v) || v.ID == "" {
		writeError(w, http.StatusForbidden, "forbidden", "only an authenticated practitioner can indicate involvement")
		return
	}
	id, _, ok := s.childFor(w, r)
	if !ok {
		return
	}
	var req involvementRequest
	if !decodeBody(w, r, &req) {
		return
	}
	req.Service = strings.TrimSpace(req.Service)
	if req.Service == "" || (req.Phone == "" && req.Email == "") {
		writeError(w, http.StatusBadRequest, "invalid-involvement", "service and at least one of phone or email are required, so that others can reach you")
		return
	}
	for _, f := range []string{req.Service, req.Role, req.Organisation, req.Phone, req.Email} {
		if len(f) > 200 {
			writeError(w, http.StatusBadRequest, "invalid-involvement", "fields are at most 200 characters")
			return
		}
	}
	org := req.Organisation
	if org == "" {
		org = v.Organisation
	}
	in := &child.InvolvementIndicated{PractitionerID: v.ID, Name: v.Name, Role: req.Role, Organisation: org,
		Service: req.Service, Phone: req.Phone, Email: req.Email}
	if s.Children == nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the event log is not available")
		return
	}
	if !s.audited(w, r, audit.Entry{Action: child.TypeInvolvementIndicated, Outcome: audit.OK, Subject: id.String(), Status: http.StatusCreated}) {
		return
	}
	target, seq, err := s.Children.Append(r.Context(), id, []child.Event{{Type: child.TypeInvolvementIndicated, At: s.now().UTC(), Involvement: in}})
	if err != nil {
		s.Log.Error("indicate involvement failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "event-log-unavailable", "the event log did not confirm the change; try again")
		return
	}
	id = target
	if err := s.Children.NotifyInvolvement(id, seq, *in); err != nil {
		// The event is in the log; the notice can be re-derived from it.
		s.Log.Error("involvement notification not published", "seq", seq, "err", err)
	}
	writeJSON(w, http.StatusCreated, decisionResponse{ChildID: id.String(), Seq: seq, Event: child.TypeInvolvementIndicated, Detail: in})
}
