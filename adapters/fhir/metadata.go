package fhir

// CapabilityStatement describes the facade: read and search on Patient.
func CapabilityStatement(base, date string) map[string]any {
	params := []map[string]any{
		{"name": "family", "type": "string"},
		{"name": "given", "type": "string"},
		{"name": "birthdate", "type": "date"},
		{"name": "gender", "type": "token"},
		{"name": "address-postalcode", "type": "string"},
		{"name": "identifier", "type": "token", "documentation": "system " + NHSNumberSystem + " (or " + UPNSystem + ")"},
	}
	return map[string]any{
		"resourceType": "CapabilityStatement",
		"status":       "active",
		"date":         date,
		"kind":         "instance",
		"software":     map[string]any{"name": "ContactPoint hub"},
		"implementation": map[string]any{
			"description": "ContactPoint FHIR R4 Patient facade. A search needs a name with a birth date (or range) or postcode, or an exact identifier; results are capped. Shielded children are returned restricted (meta.security R) without address, telecom, contact or generalPractitioner.",
			"url":         base,
		},
		"fhirVersion": "4.0.1",
		"format":      []string{"application/fhir+json"},
		"rest": []map[string]any{{
			"mode": "server",
			"resource": []map[string]any{{
				"type":        "Patient",
				"interaction": []map[string]any{{"code": "read"}, {"code": "search-type"}},
				"searchParam": params,
			}},
		}},
	}
}
