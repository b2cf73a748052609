package fhir

import (
	"net/http"
)

// Bundle is a searchset.
type Bundle struct {
	ResourceType string        `json:"resourceType"`
	Meta         *Meta         `json:"meta,omitempty"`
	Type         string        `json:"type"`
	Total        *int          `json:"total,omitempty"`
	Link         []BundleLink  `json:"link,omitempty"`
	Entry        []BundleEntry `json:"entry,omitempty"`
}

// BundleLink is a link of the bundle.
type BundleLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

// BundleEntry is one match, or an OperationOutcome about the search.
type BundleEntry struct {
	FullURL  string      `json:"fullUrl,omitempty"`
	Resource any         `json:"resource"`
	Search   EntrySearch `json:"search"`
}

// EntrySearch says why the entry is in the bundle.
type EntrySearch struct {
	Mode  string   `json:"mode"`
	Score *float64 `json:"score,omitempty"`
}

// Match is the search of an entry that matched with a score.
func Match(score float64) EntrySearch { return EntrySearch{Mode: "match", Score: &score} }

// OperationOutcome is every error the facade returns.
type OperationOutcome struct {
	ResourceType string  `json:"resourceType"`
	Meta         *Meta   `json:"meta,omitempty"`
	Issue        []Issue `json:"issue"`
}

// Issue is one problem.
type Issue struct {
	Severity    string           `json:"severity"`
	Code        string           `json:"code"`
	Details     *CodeableConcept `json:"details,omitempty"`
	Diagnostics string           `json:"diagnostics,omitempty"`
}

// SpineErrorSystem is the code system of the error codes PDS puts in
// issue.details, so that a client written for PDS reads the hub's errors
// the same way.
const SpineErrorSystem = "https://fhir.nhs.uk/R4/CodeSystem/Spine-ErrorOrWarningCode"

// Outcome returns an OperationOutcome with one error issue. The
// diagnostics must never carry data about a child: callers pass fixed text.
func Outcome(code, diagnostics string) OperationOutcome {
	return OperationOutcome{ResourceType: "OperationOutcome", Issue: []Issue{{Severity: "error", Code: code, Diagnostics: diagnostics}}}
}

// Spine error codes the facade uses, as PDS names them.
const (
	SpineAccessDenied      = "ACCESS_DENIED"
	SpineInvalidSearchData = "INVALID_SEARCH_DATA"
	SpineInvalidValue      = "INVALID_VALUE"
	SpineMissingValue      = "MISSING_VALUE"
	SpineInvalidResourceID = "INVALID_RESOURCE_ID"
	SpineResourceNotFound  = "RESOURCE_NOT_FOUND"
	SpineTooManyMatches    = "TOO_MANY_MATCHES"
	SpineUnsupported       = "UNSUPPORTED_SERVICE"
	SpineNotAcceptable     = "NOT_ACCEPTABLE"
	SpineTooManyRequests   = "TOO_MANY_REQUESTS"
	SpineServiceError      = "SERVICE_UNAVAILABLE"
	SpineUnauthorised      = "ACCESS_DENIED"
	SpineServerError       = "SERVER_ERROR"
)

// issueFor is the FHIR issue type and the Spine code for an HTTP status,
// for errors that arrive without a more precise one (those raised before
// a FHIR handler runs: authentication, routing, limits).
func issueFor(status int) (code, spine string) {
	switch status {
	case http.StatusBadRequest:
		return "invalid", SpineInvalidValue
	case http.StatusUnauthorized:
		return "login", SpineUnauthorised
	case http.StatusForbidden:
		return "forbidden", SpineAccessDenied
	case http.StatusNotFound:
		return "not-found", SpineResourceNotFound
	case http.StatusMethodNotAllowed, http.StatusUnsupportedMediaType:
		return "not-supported", SpineUnsupported
	case http.StatusNotAcceptable:
		return "not-supported", SpineNotAcceptable
	case http.StatusRequestEntityTooLarge:
		return "too-costly", SpineInvalidValue
	case http.StatusUnprocessableEntity:
		return "processing", SpineInvalidValue
	case http.StatusTooManyRequests:
		return "throttled", SpineTooManyRequests
	case http.StatusServiceUnavailable:
		return "transient", SpineServiceError
	}
	if status >= 500 {
		return "exception", SpineServerError
	}
	return "processing", SpineInvalidValue
}

// OutcomeFor is the OperationOutcome of an HTTP error status: code is the
// FHIR issue type ("" takes the status's own), spine the PDS error code
// ("" likewise). The diagnostics must never carry data about a child.
func OutcomeFor(status int, code, spine, diagnostics string) OperationOutcome {
	c, sp := issueFor(status)
	if code == "" {
		code = c
	}
	if spine == "" {
		spine = sp
	}
	o := Outcome(code, diagnostics)
	o.Issue[0].Details = &CodeableConcept{Coding: []Coding{{System: SpineErrorSystem, Version: "1", Code: spine, Display: spineDisplay(spine)}}}
	return o
}

func spineDisplay(code string) string {
	switch code {
	case SpineAccessDenied:
		return "Access denied"
	case SpineInvalidSearchData:
		return "Invalid search data"
	case SpineInvalidValue:
		return "Provided value is invalid"
	case SpineMissingValue:
		return "Required value is missing"
	case SpineInvalidResourceID:
		return "Resource Id is invalid"
	case SpineResourceNotFound:
		return "Resource not found"
	case SpineTooManyMatches:
		return "Too many matches"
	case SpineUnsupported:
		return "Unsupported Service"
	case SpineNotAcceptable:
		return "Not acceptable"
	case SpineTooManyRequests:
		return "Too many requests"
	case SpineServiceError:
		return "Service unavailable"
	}
	return "Server error"
}

// Warning is an informational OperationOutcome entry of a searchset.
func Warning(code, diagnostics string) BundleEntry {
	return BundleEntry{Resource: OperationOutcome{ResourceType: "OperationOutcome",
		Issue: []Issue{{Severity: "warning", Code: code, Diagnostics: diagnostics}}}, Search: EntrySearch{Mode: "outcome"}}
}
