package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"contactpoint/domain/access"
	"contactpoint/domain/audit"
	"contactpoint/domain/child"
	"contactpoint/projections/directory"
	"contactpoint/schemas"
)

type searchResult struct {
	Score   float64    `json:"score"`
	Reasons []string   `json:"reasons"`
	Child   child.View `json:"child"`
}

type searchResponse struct {
	Count   int            `json:"count"`
	Cap     int            `json:"cap"`
	Results []searchResult `json:"results"`
}

// badRequest is a search the caller must change; its message names only
// parameters, never data about a child.
type badRequest struct{ code, msg string }

func (e *badRequest) Error() string { return e.msg }

// criteria reads GET /v1/children parameters: family, given, birth_date,
// birth_date_from, birth_date_to, age_from, age_to (whole years, converted
// to a birth-date range), gender, postcode, nhs_number, upn, limit.
func criteria(q url.Values, now time.Time) (directory.Criteria, error) {
	c := directory.Criteria{
		Family: q.Get("family"), Given: q.Get("given"), BirthDate: q.Get("birth_date"),
		BornFrom: q.Get("birth_date_from"), BornTo: q.Get("birth_date_to"), Gender: q.Get("gender"),
		NHSNumber: strings.ReplaceAll(q.Get("nhs_number"), " ", ""), UPN: strings.TrimSpace(q.Get("upn")),
	}
	if pc := q.Get("postcode"); pc != "" {
		if c.Postcode = schemas.NormalisePostcode(pc); c.Postcode == "" {
			return c, &badRequest{"invalid-postcode", "postcode is not a UK postcode"}
		}
	}
	for _, v := range []string{c.Family, c.Given} {
		if len(v) > 100 {
			return c, &badRequest{"invalid-name", "names are at most 100 characters"}
		}
	}
	switch c.Gender {
	case "", "female", "male", "other", "unknown":
	default:
		return c, &badRequest{"invalid-gender", "gender must be female, male, other or unknown"}
	}
	if a, b := q.Get("age_from"), q.Get("age_to"); a != "" || b != "" {
		from, err1 := strconv.Atoi(a)
		to, err2 := strconv.Atoi(b)
		if err1 != nil || err2 != nil || from < 0 || to < from || to > 25 {
			return c, &badRequest{"invalid-age-range", "age_from and age_to must both be whole years, 0 ≤ age_from ≤ age_to ≤ 25"}
		}
		today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
		c.BornTo = today.AddDate(-from, 0, 0).Format(time.DateOnly)
		c.BornFrom = today.AddDate(-(to + 1), 0, 1).Format(time.DateOnly)
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			return c, &badRequest{"invalid-limit", "limit must be a positive integer"}
		}
		c.Limit = n
	}
	if err := c.Check(); err != nil {
		code := "invalid-date"
		if errors.Is(err, directory.ErrNeedMoreDetail) {
			code = "need-more-detail"
		}
		return c, &badRequest{code, err.Error()}
	}
	return c, nil
}

// search runs a directory search for the request's viewer and passes every
// hit through the policy. Both the JSON API and the FHIR facade use it.
func (s *Server) search(r *http.Request, c directory.Criteria) ([]searchResult, int, error) {
	v := viewer(r)
	if !access.CanRead(v) {
		return nil, http.StatusForbidden, &badRequest{"forbidden", "your role does not allow searching the directory"}
	}
	c.SeeShielded = access.SeesShielded(v)
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	hits, err := s.Store.Search(ctx, c)
	var tooMany *directory.TooManyError
	switch {
	case errors.As(err, &tooMany):
		return nil, http.StatusUnprocessableEntity, &badRequest{"too-many-matches", tooMany.Error()}
	case errors.Is(err, directory.ErrNeedMoreDetail):
		return nil, http.StatusBadRequest, &badRequest{"need-more-detail", err.Error()}
	case err != nil:
		s.Log.Error("search failed", "err", err)
		return nil, http.StatusServiceUnavailable, &badRequest{"unavailable", "the directory is unavailable; try again"}
	}
	out := make([]searchResult, 0, len(hits))
	for _, h := range hits {
		if shown, ok := s.Policy.View(r, h.View); ok {
			out = append(out, searchResult{h.Score, h.Reasons, shown})
		}
	}
	// Every search path (the API and FHIR) comes through here, so the audit
	// record is written here, with the ids returned, before any answer is
	// written: no record, no answer.
	ids := make([]string, len(out))
	for i, h := range out {
		ids[i] = h.Child.ChildID
	}
	if err := s.recordRead(r, audit.Entry{Action: audit.ActSearch, Criteria: searchCriteria(c), Children: ids, Status: http.StatusOK}); err != nil {
		return nil, http.StatusServiceUnavailable, &badRequest{"audit-unavailable", auditUnavailable}
	}
	return out, http.StatusOK, nil
}

func (s *Server) searchChildren(w http.ResponseWriter, r *http.Request) {
	c, err := criteria(r.URL.Query(), s.now())
	if err != nil {
		br := err.(*badRequest)
		writeError(w, http.StatusBadRequest, br.code, br.msg)
		return
	}
	s.includeArchived(r, &c)
	res, status, err := s.search(r, c)
	if err != nil {
		br := err.(*badRequest)
		writeError(w, status, br.code, br.msg)
		return
	}
	writeJSON(w, http.StatusOK, searchResponse{Count: len(res), Cap: capOf(c), Results: res})
}

func capOf(c directory.Criteria) int {
	if c.Limit <= 0 {
		return directory.DefaultCap
	}
	return min(c.Limit, directory.MaxCap)
}
