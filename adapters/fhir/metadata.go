package fhir

import "strconv"

// ProfileSearch is the search rule the CapabilityStatement states, in the
// words clients show their users.
const searchRule = "A search needs a name (family, given or name) with a birth date (a day, month or year, or a range) or a postcode, or an exact identifier; " +
	"otherwise it is refused with MISSING_VALUE. The directory is for finding a child, not for browsing: a search pages (_count, next and previous links) through at most " +
	"100 matches, and one matching more is answered 422 TOO_MANY_MATCHES, as is a search with PDS's _max-results matching more than that number."

// vreadRule is how versions are served, in the words clients show users.
const vreadRule = "Only a Patient's current version is served (readHistory false): its meta.versionId, ETag and Content-Location name it, and a vread of any " +
	"other version is 404 RESOURCE_NOT_FOUND. An absorbed (merged) Patient's current version is its last one, which the survivor's replaces link names " +
	"(Patient/{id}/_history/{versionId}): its vread answers that Patient with active false, no data, and a replaced-by link to the survivor. " +
	"A read of the absorbed id itself answers the survivor. The history interaction is not offered (400 UNSUPPORTED_SERVICE)."

// CapabilityStatement describes the facade: read, vread and search on
// Patient. base is the FHIR base URL as the request reached it, origin the
// hub's (for the sign-in routes); sys the hub's own systems, derived from
// its configured public URL.
func CapabilityStatement(base, origin, date string, sys Systems) map[string]any {
	str := func(name, typ, doc string) map[string]any {
		m := map[string]any{"name": name, "type": typ, "definition": "http://hl7.org/fhir/SearchParameter/individual-" + name}
		if doc != "" {
			m["documentation"] = doc
		}
		return m
	}
	params := []map[string]any{
		str("family", "string", "Family name, typo-tolerant and phonetic; family:exact matches the current family name exactly."),
		str("given", "string", "Given name, typo-tolerant, phonetic, or a prefix."),
		{"name": "name", "type": "string", "definition": "http://hl7.org/fhir/SearchParameter/Patient-name",
			"documentation": "One word is matched as a family or a given name; several are given names then the family name."},
		str("birthdate", "date", "YYYY, YYYY-MM or YYYY-MM-DD with prefix eq, ge, gt, le or lt; a year or month covers each of its days."),
		str("gender", "token", "male, female, other or unknown."),
		str("address-postalcode", "string", "A UK postcode, matched exactly; never matches a restricted patient for a viewer without the shield role."),
		{"name": "identifier", "type": "token", "definition": "http://hl7.org/fhir/SearchParameter/Patient-identifier",
			"documentation": "system|value with system " + NHSNumberSystem + " or " + sys.UPN + " (the hub's own UPN system, derived from the deployment's public URL " + sys.Base + "); a bare value that is a valid NHS number or UPN, and not both."},
		{"name": "_id", "type": "token", "definition": "http://hl7.org/fhir/SearchParameter/Resource-id",
			"documentation": "A Patient id; an absorbed (merged) id finds the surviving Patient. Not combined with other parameters."},
		{"name": "_fuzzy-match", "type": "token", "documentation": "PDS: true (the hub's default) matches names by sound and spelling distance; false only exact names or a given-name prefix."},
		{"name": "_exact-match", "type": "token", "documentation": "PDS: true returns only patients whose current names match the names given exactly."},
		{"name": "_max-results", "type": "number", "documentation": "PDS: 1 to 50; a search matching more is answered 422 TOO_MANY_MATCHES instead of a page."},
	}
	return map[string]any{
		"resourceType": "CapabilityStatement",
		"url":          sys.Capability,
		"status":       "active",
		"date":         date,
		"publisher":    "ContactPoint hub",
		"kind":         "instance",
		"software":     map[string]any{"name": "ContactPoint hub"},
		"implementation": map[string]any{
			"description": "ContactPoint FHIR R4 Patient facade, modelled on the NHS Personal Demographics Service. " + searchRule +
				" Patients claim the UK Core Patient profile. A shielded child is returned restricted (meta.security R) with name, birth date, gender, " +
				"identifiers and one contact naming whom to ask; no address, telecom, other contact or generalPractitioner. Reading an absorbed (merged) " +
				"Patient's id returns the survivor, whose link entries (type replaces) name the last version of each id it absorbed; a vread of that version is the absorbed Patient, " +
				"inactive, with a replaced-by link to the survivor; searches return survivors only. The UPN's identifier system is the hub's own, " + sys.UPN + ".",
			"url": base,
		},
		"fhirVersion": "4.0.1",
		"format":      []string{"application/fhir+json", "json"},
		"rest": []map[string]any{{
			"mode": "server",
			"security": map[string]any{
				"cors": false,
				"service": []map[string]any{{
					"coding": []Coding{{System: "http://terminology.hl7.org/CodeSystem/restful-security-service", Code: "OAuth", Display: "OAuth"}},
					"text":   "Bearer token (RFC 6750)",
				}},
				"description": "Every request but this statement and " + base + "/.well-known/smart-configuration needs `Authorization: Bearer <token>`: a token from POST " +
					origin + "/v1/auth/login (username, password and a one-time code) or from OpenID Connect sign-in at " + origin + "/v1/auth/oidc/login where configured, " +
					"renewed by POST " + origin + "/v1/auth/token. Tokens last 15 minutes; the practitioner must be on the register, vetted, trained and hold a reading role.",
				"extension": []map[string]any{{
					"url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
					"extension": []map[string]any{
						{"url": "authorize", "valueUri": origin + "/v1/auth/oidc/login"},
						{"url": "token", "valueUri": origin + "/v1/auth/login"},
					},
				}},
			},
			"resource": []map[string]any{{
				"type":              "Patient",
				"profile":           "http://hl7.org/fhir/StructureDefinition/Patient",
				"supportedProfile":  []string{UKCorePatient},
				"interaction":       []map[string]any{{"code": "read"}, {"code": "vread", "documentation": vreadRule}, {"code": "search-type", "documentation": searchRule}},
				"versioning":        "versioned",
				"readHistory":       false,
				"conditionalRead":   "not-match",
				"searchParam":       params,
				"referencePolicy":   []string{"logical"},
				"conditionalCreate": false,
			}},
			"searchParam": []map[string]any{
				{"name": "_count", "type": "number", "documentation": "Page size, 1 to " + strconv.Itoa(MaxCount) + ", default " + strconv.Itoa(DefaultCount) + "; _count=0 gives the total only."},
				{"name": "_summary", "type": "token", "documentation": "true, false, count, data or text."},
				{"name": "_elements", "type": "token", "documentation": "Comma-separated top-level elements to return; the result is tagged SUBSETTED."},
				{"name": "_format", "type": "token", "documentation": "json or application/fhir+json; XML is not offered (406)."},
			},
		}},
	}
}

// SmartConfiguration is .well-known/smart-configuration: how to sign in.
// The hub issues its own bearer tokens rather than running an OAuth
// authorisation server, so it says exactly that: the token endpoint is the
// hub's sign-in, and the authorisation endpoint its OpenID Connect sign-in
// when one is configured.
func SmartConfiguration(origin string, oidc bool) map[string]any {
	m := map[string]any{
		"issuer":                                origin,
		"token_endpoint":                        origin + "/v1/auth/login",
		"token_endpoint_auth_methods_supported": []string{"none"},
		"grant_types_supported":                 []string{},
		"response_types_supported":              []string{},
		"scopes_supported":                      []string{},
		"capabilities":                          []string{},
		"code_challenge_methods_supported":      []string{},
		"token_refresh_endpoint":                origin + "/v1/auth/token",
		"description": "Sign in with POST " + origin + "/v1/auth/login {username, password, code} (a time-based one-time code is the second factor); " +
			"the answer's token is sent as Authorization: Bearer on every FHIR request and lasts 15 minutes; POST " + origin + "/v1/auth/token renews it.",
	}
	if oidc {
		m["authorization_endpoint"] = origin + "/v1/auth/oidc/login"
		m["capabilities"] = []string{"sso-openid-connect"}
	}
	return m
}
