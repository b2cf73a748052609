package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"

	"contactpoint/adapters/fhir"
	"contactpoint/domain/access"
	"contactpoint/domain/audit"
	"contactpoint/projections/directory"
)

// FHIR R4 facade: GET /fhir/metadata, GET /fhir/Patient?…, GET
// /fhir/Patient/{id}. Same search rules and access policy as /v1; every
// error is an OperationOutcome with fixed text.

func writeFHIR(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", fhir.ContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fhirError(w http.ResponseWriter, status int, code, msg string) {
	writeFHIR(w, status, fhir.Outcome(code, msg))
}

func base(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/fhir"
}

func (s *Server) fhirMetadata(w http.ResponseWriter, r *http.Request) {
	writeFHIR(w, http.StatusOK, fhir.CapabilityStatement(base(r), s.now().UTC().Format(time.DateOnly)))
}

func (s *Server) fhirSearch(w http.ResponseWriter, r *http.Request) {
	c, err := fhir.ParseSearch(r.URL.Query())
	if err != nil {
		fhirError(w, http.StatusBadRequest, "invalid", err.Error())
		return
	}
	if err := c.Check(); err != nil {
		code := "invalid"
		if errors.Is(err, directory.ErrNeedMoreDetail) {
			code = "required"
		}
		fhirError(w, http.StatusBadRequest, code, err.Error())
		return
	}
	res, status, err := s.search(r, c)
	if err != nil {
		br := err.(*badRequest)
		code := map[string]string{"forbidden": "forbidden", "too-many-matches": "too-costly", "need-more-detail": "required"}[br.code]
		if code == "" {
			code = "transient"
		}
		fhirError(w, status, code, br.msg)
		return
	}
	b := fhir.Bundle{ResourceType: "Bundle", Type: "searchset", Total: len(res),
		Link: []fhir.BundleLink{{Relation: "self", URL: base(r) + "/Patient?" + r.URL.RawQuery}}}
	for _, h := range res {
		b.Entry = append(b.Entry, fhir.BundleEntry{
			FullURL: base(r) + "/Patient/" + h.Child.ChildID, Resource: fhir.FromView(h.Child),
			Search: fhir.EntrySearch{Mode: "match", Score: fhir.Score(h.Score, c)},
		})
	}
	writeFHIR(w, http.StatusOK, b)
}

func (s *Server) fhirRead(w http.ResponseWriter, r *http.Request) {
	if !access.CanRead(viewer(r)) {
		fhirError(w, http.StatusForbidden, "forbidden", "your role does not allow reading records")
		return
	}
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		fhirError(w, http.StatusNotFound, "not-found", "no Patient with that id")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	v, err := s.Store.Get(ctx, id)
	if errors.Is(err, directory.ErrNotFound) {
		if !s.audited(w, r, audit.Entry{Action: audit.ActView, Outcome: audit.Refused, Reason: "not-found", Subject: id.String(), Status: http.StatusNotFound}) {
			return
		}
		fhirError(w, http.StatusNotFound, "not-found", "no Patient with that id")
		return
	}
	if err != nil {
		s.Log.Error("fhir read failed", "err", err)
		fhirError(w, http.StatusServiceUnavailable, "transient", "the directory is unavailable; try again")
		return
	}
	shown, ok := s.Policy.View(r, v)
	if !ok {
		fhirError(w, http.StatusNotFound, "not-found", "no Patient with that id")
		return
	}
	if !s.audited(w, r, audit.Entry{Action: audit.ActView, Outcome: audit.OK, Children: []string{id.String()}, Status: http.StatusOK}) {
		return
	}
	writeFHIR(w, http.StatusOK, fhir.FromView(shown))
}
