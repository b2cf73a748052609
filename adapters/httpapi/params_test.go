package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestControlCharactersInParameters(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	h := plainParams(ok)
	cases := []struct {
		name, target string
		status       int
		names        string // the parameter the error must name
		fhir         bool
	}{
		{"plain search", "/v1/children?family=O%27Brien&given=Zo%C3%AB&birth_date=2015-03-14", http.StatusTeapot, "", false},
		{"wildcards are not control characters", "/v1/children?family=%25_%5C&birth_date=2015-03-14", http.StatusTeapot, "", false},
		{"NUL", "/v1/children?family=Hug%00hes&birth_date=2015-03-14", http.StatusBadRequest, "family", false},
		{"line break", "/v1/children?given=a%0Ab", http.StatusBadRequest, "given", false},
		{"escape", "/v1/audit/practitioners/x?from=%1B%5B2J", http.StatusBadRequest, "from", false},
		{"DEL", "/v1/children?postcode=LS6%7F", http.StatusBadRequest, "postcode", false},
		{"C1 control", "/v1/children?upn=%C2%85", http.StatusBadRequest, "upn", false},
		{"in a name", "/v1/children?fam%00ily=x", http.StatusBadRequest, "(a parameter name)", false},
		{"FHIR answers an OperationOutcome", "/fhir/Patient?family=a%00", http.StatusBadRequest, "family", true},
		{"bad encoding", "/v1/children?family=%zz", http.StatusBadRequest, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, c.target, nil))
			if rec.Code != c.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, c.status, rec.Body)
			}
			if c.status != http.StatusBadRequest {
				return
			}
			body := rec.Body.String()
			if c.names != "" && !strings.Contains(body, `\"`+c.names+`\"`) && !strings.Contains(body, `"`+c.names+`"`) {
				t.Errorf("error does not name %q: %s", c.names, body)
			}
			var out map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
				t.Fatalf("not JSON: %s", body)
			}
			if c.fhir && out["resourceType"] != "OperationOutcome" {
				t.Errorf("FHIR error is not an OperationOutcome: %s", body)
			}
			if !c.fhir && out["error"] == nil {
				t.Errorf("not the hub's error shape: %s", body)
			}
		})
	}
}
