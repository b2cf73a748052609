package fhir

import (
	"encoding/json"
	"fmt"
)

// Subsetted is the tag of a resource with elements left out on request
// (_summary, _elements), so that no client takes it for the whole record.
var Subsetted = Coding{System: "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", Code: "SUBSETTED", Display: "subsetted"}

// summaryElements are Patient's elements marked isSummary in R4.
var summaryElements = []string{"identifier", "active", "name", "telecom", "gender", "birthDate", "deceasedBoolean",
	"deceasedDateTime", "address", "managingOrganization", "link"}

// Shape applies _summary and _elements to a Patient. It only ever leaves
// elements out: a restricted Patient stays within what it was.
func Shape(p Patient, summary string, elements []string) (any, error) {
	var keep []string
	switch {
	case len(elements) > 0:
		keep = elements
	case summary == "true":
		keep = summaryElements
	case summary == "text":
		keep = []string{"text"}
	default:
		return p, nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("shape patient: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("shape patient: %w", err)
	}
	out := map[string]any{"resourceType": m["resourceType"], "id": m["id"]}
	for _, k := range keep {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	meta := Meta{Tag: []Coding{Subsetted}}
	if p.Meta != nil {
		meta = *p.Meta
		meta.Tag = append(append([]Coding(nil), p.Meta.Tag...), Subsetted)
	}
	out["meta"] = meta
	return out, nil
}
