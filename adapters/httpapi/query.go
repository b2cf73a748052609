package httpapi

import (
	"context"
	"net/http"
	"time"

	"contactpoint/domain/child"
	"contactpoint/projections/directory"
	"contactpoint/schemas"
)

type searchResult struct {
	Score float64    `json:"score"`
	Child child.View `json:"child"`
}

type searchResponse struct {
	Count   int            `json:"count"`
	Results []searchResult `json:"results"`
}

func (s *Server) searchChildren(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	c := directory.Criteria{Family: q.Get("family"), Given: q.Get("given"), BirthDate: q.Get("birth_date")}
	if pc := q.Get("postcode"); pc != "" {
		if c.Postcode = schemas.NormalisePostcode(pc); c.Postcode == "" {
			writeError(w, http.StatusBadRequest, "invalid-postcode", "postcode is not a UK postcode")
			return
		}
	}
	if c.BirthDate != "" {
		if _, err := time.Parse(time.DateOnly, c.BirthDate); err != nil {
			writeError(w, http.StatusBadRequest, "invalid-birth-date", "birth_date must be a date in YYYY-MM-DD form")
			return
		}
	}
	for _, v := range []string{c.Family, c.Given} {
		if len(v) > 100 {
			writeError(w, http.StatusBadRequest, "invalid-name", "names are at most 100 characters")
			return
		}
	}
	if c.Family == "" && c.Given == "" && c.BirthDate == "" && c.Postcode == "" {
		writeError(w, http.StatusBadRequest, "missing-criteria", "give at least one of family, given, birth_date, postcode")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	hits, err := s.Store.Search(ctx, c)
	if err != nil {
		s.Log.Error("search failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the directory is unavailable; try again")
		return
	}
	resp := searchResponse{Results: []searchResult{}}
	for _, h := range hits {
		if v, ok := s.Policy.View(r, h.View); ok {
			resp.Results = append(resp.Results, searchResult{h.Score, v})
		}
	}
	resp.Count = len(resp.Results)
	writeJSON(w, http.StatusOK, resp)
}
