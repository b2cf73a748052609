package httpapi

import (
	"net/http"

	"contactpoint/domain/access"
	"contactpoint/domain/audit"
	"contactpoint/projections/directory"
)

// audited writes e to the audit trail, filling in who asked and by which
// route, and answers 503 when it cannot: the caller must then not answer.
func (s *Server) audited(w http.ResponseWriter, r *http.Request, e audit.Entry) bool {
	if err := s.recordRead(r, e); err != nil {
		writeError(w, http.StatusServiceUnavailable, "audit-unavailable", auditUnavailable)
		return false
	}
	return true
}

const auditUnavailable = "the audit trail is unavailable, and nothing is shown until it is back; try again"

// recordRead writes e, filling in who asked and by which route.
func (s *Server) recordRead(r *http.Request, e audit.Entry) error {
	v, _ := access.ViewerFrom(r.Context())
	e.Actor, e.Roles, e.Route = v.ID, v.Roles, r.Pattern
	if sys, ok := access.AgencySystemFrom(r.Context()); ok {
		e.System = sys.Agency + "/" + sys.System
	}
	if err := s.Audit.Record(r.Context(), e); err != nil {
		s.Log.Error("audit not written; read refused", "route", r.Pattern, "err", err)
		return err
	}
	return nil
}

// searchCriteria are the criteria of a search as the audit trail keeps
// them: what was asked, not what was found.
func searchCriteria(c directory.Criteria) map[string]string {
	m := map[string]string{}
	for k, v := range map[string]string{"family": c.Family, "given": c.Given, "birth_date": c.BirthDate,
		"birth_date_from": c.BornFrom, "birth_date_to": c.BornTo, "gender": c.Gender, "postcode": c.Postcode,
		"nhs_number": c.NHSNumber, "upn": c.UPN} {
		if v != "" {
			m[k] = v
		}
	}
	return m
}
