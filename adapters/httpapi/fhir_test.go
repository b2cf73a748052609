package httpapi

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"contactpoint/adapters/fhir/fhirtest"
	"contactpoint/adapters/httpjson"
	"contactpoint/domain/access"
)

// outcome checks that an answer is a valid OperationOutcome with status.
func outcome(t *testing.T, rec *httptest.ResponseRecorder, status int) map[string]any {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d: %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
		t.Fatalf("Content-Type %q: %s", ct, rec.Body)
	}
	if err := fhirtest.Validate(rec.Body.Bytes()); err != nil {
		t.Fatalf("not valid FHIR: %v\n%s", err, rec.Body)
	}
	var m map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &m)
	if m["resourceType"] != "OperationOutcome" {
		t.Fatalf("not an OperationOutcome: %s", rec.Body)
	}
	return m
}

// TestEveryFHIRErrorIsAnOperationOutcome covers the errors raised before a
// FHIR handler: the router's 404 and 405, an authentication refusal in
// the style of adapters/auth, a panic, the control-character check.
func TestEveryFHIRErrorIsAnOperationOutcome(t *testing.T) {
	s := &Server{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	s.Mount = func(mux *http.ServeMux) http.Handler {
		mux.HandleFunc("GET /fhir/Boom", func(http.ResponseWriter, *http.Request) { panic("x") })
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") == "" && r.URL.Path != "/fhir/Unknown" && r.Method == http.MethodGet && r.URL.Path == "/fhir/Patient" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="contactpoint"`)
				httpjson.Error(w, http.StatusUnauthorized, "unauthenticated", "sign in, or present a valid token or API key")
				return
			}
			mux.ServeHTTP(w, r)
		})
	}
	h := s.Handler()
	for _, c := range []struct {
		name, method, target string
		status               int
		code                 string
	}{
		{"unauthenticated", "GET", "/fhir/Patient?family=x", 401, "login"},
		{"unknown type", "GET", "/fhir/Observation", 404, "not-found"},
		{"unknown route", "GET", "/fhir/Patient/x/_everything", 404, "not-found"},
		{"history", "GET", "/fhir/Patient/x/_history", 400, "not-supported"},
		{"type history", "GET", "/fhir/Patient/_history", 400, "not-supported"},
		{"method", "DELETE", "/fhir/Patient/0190b6c0-0000-7000-8000-000000000001", 405, "not-supported"},
		{"panic", "GET", "/fhir/Boom", 500, "exception"},
		{"control character", "GET", "/fhir/metadata?x=%01", 400, "invalid"},
		{"xml", "GET", "/fhir/metadata?_format=xml", 406, "not-supported"},
		{"xml by Accept", "GET", "/fhir/metadata", 406, "not-supported"},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest(c.method, c.target, nil)
			if c.name == "xml by Accept" {
				req.Header.Set("Accept", "application/fhir+xml")
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			m := outcome(t, rec, c.status)
			issue := m["issue"].([]any)[0].(map[string]any)
			if issue["code"] != c.code {
				t.Errorf("issue code %v, want %s: %s", issue["code"], c.code, rec.Body)
			}
			if c.status == 401 && rec.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 lost its WWW-Authenticate")
			}
			if c.status == 405 && rec.Header().Get("Allow") == "" {
				t.Error("405 lost its Allow")
			}
		})
	}
	// Outside /fhir/ errors keep the hub's own shape.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/nothing", nil))
	if strings.Contains(rec.Body.String(), "OperationOutcome") {
		t.Fatalf("a /v1 error became an OperationOutcome: %s", rec.Body)
	}
	// JSON is accepted in each of its spellings.
	for _, f := range []string{"json", "application/fhir+json", "application/json"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/fhir/metadata?_format="+f, nil))
		if rec.Code != 200 {
			t.Errorf("_format=%s: %d", f, rec.Code)
		}
	}
}

func TestForwardedHeadersOnlyFromTrustedProxies(t *testing.T) {
	trusted, err := ParseTrustedProxies([]string{"10.0.0.0/8", "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseTrustedProxies([]string{"proxy.example"}); err == nil {
		t.Fatal("a host name was taken for an address")
	}
	s := &Server{FHIR: FHIROptions{TrustedProxies: trusted}}
	for _, c := range []struct{ remote, want string }{
		{"10.1.2.3:5555", "https://hub.example.nhs.uk"},
		{"192.0.2.7:5555", "https://hub.example.nhs.uk"},
		{"[::ffff:192.0.2.7]:5555", "https://hub.example.nhs.uk"},
		{"192.0.2.8:5555", "http://internal:8080"},
	} {
		r := httptest.NewRequest("GET", "http://internal:8080/fhir/Patient", nil)
		r.RemoteAddr = c.remote
		r.Header.Set("X-Forwarded-Proto", "https")
		r.Header.Set("X-Forwarded-Host", "hub.example.nhs.uk, other")
		if got := s.origin(r); got != c.want {
			t.Errorf("from %s: %s, want %s", c.remote, got, c.want)
		}
	}
	r := httptest.NewRequest("GET", "http://internal:8080/fhir/Patient", nil)
	r.RemoteAddr = "10.1.2.3:1"
	r.Header.Set("X-Forwarded-Host", "evil.example/<script>")
	if got := s.origin(r); got != "http://internal:8080" {
		t.Errorf("a malformed forwarded host was used: %s", got)
	}
}

func TestThrottledPerPractitioner(t *testing.T) {
	now := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	s := &Server{FHIR: FHIROptions{Rate: 1, Burst: 2}, Now: func() time.Time { return now }}
	req := func(who string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/fhir/Patient", nil)
		r = r.WithContext(access.WithViewer(r.Context(), access.Viewer{ID: who}))
		rec := httptest.NewRecorder()
		if !s.throttled(rec, r) {
			rec.WriteHeader(200)
		}
		return rec
	}
	for i := 0; i < 2; i++ {
		if rec := req("a"); rec.Code != 200 {
			t.Fatalf("request %d refused", i)
		}
	}
	rec := req("a")
	outcome(t, rec, http.StatusTooManyRequests)
	if rec.Header().Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	if req("b").Code != 200 {
		t.Error("one practitioner's use throttled another")
	}
	now = now.Add(time.Second)
	if req("a").Code != 200 {
		t.Error("the bucket did not refill")
	}
}
