package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"contactpoint/adapters/fhir/fhirtest"
	"contactpoint/adapters/httpapi"
	"contactpoint/app/childlog"
	"contactpoint/app/hub"
	"contactpoint/app/intake"
	"contactpoint/domain/access"
)

var (
	ordinary = access.Viewer{ID: "0190b6c0-1111-7000-8000-000000000001", Name: "Pat Practitioner", Organisation: "Leeds Health Visiting", Roles: []string{access.RolePractitioner}}
	officer  = access.Viewer{ID: "0190b6c0-2222-7000-8000-000000000002", Name: "Sam Shield", Roles: []string{access.RoleShield}}
	auditor  = access.Viewer{ID: "0190b6c0-3333-7000-8000-000000000003", Roles: []string{access.RoleAuditor}}
)

// asViewer stands in for authentication: it puts the viewer named by the
// X-Test-Viewer header into the request context.
func asViewer(next http.Handler) http.Handler {
	byName := map[string]access.Viewer{"ordinary": ordinary, "officer": officer, "auditor": auditor}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v, ok := byName[r.Header.Get("X-Test-Viewer")]; ok {
			r = r.WithContext(access.WithViewer(r.Context(), v))
		}
		next.ServeHTTP(w, r)
	})
}

type client struct {
	t   *testing.T
	url string
}

func (c client) do(who, method, path string, body any) (int, []byte) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.url+path, rd)
	if who != "" {
		req.Header.Set("X-Test-Viewer", who)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (c client) must(who, method, path string, body any, want int) []byte {
	c.t.Helper()
	code, b := c.do(who, method, path, body)
	if code != want {
		c.t.Fatalf("%s %s as %q: %d, want %d: %s", method, path, who, code, want, b)
	}
	return b
}

func startAccessHub(t *testing.T) (*hub.Hub, client) {
	h := startHub(t, newConfig(t))
	t.Cleanup(h.Close)
	api := &httpapi.Server{Intake: h.Intake, Store: h.Store, Log: quietLog(), Children: &childlog.Log{JS: h.NATS.JS, NC: h.NATS.NC}}
	srv := httptest.NewServer(asViewer(api.Handler()))
	t.Cleanup(srv.Close)
	return h, client{t, srv.URL}
}

func submit(t *testing.T, h *hub.Hub, agency string, raws ...[]byte) {
	t.Helper()
	var src struct {
		Source struct{ System string } `json:"source"`
	}
	_ = json.Unmarshal(raws[0], &src)
	outs, err := h.Intake.SubmitJSON(context.Background(), intake.Origin{Agency: agency, System: src.Source.System, Format: "json", Channel: "http"}, raws)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range outs {
		if o.Status != intake.StatusAccepted {
			t.Fatalf("not accepted: %+v", o)
		}
	}
}

// hiddenValues are the values of a full view that a shield hides:
// address, contacts, school, GP, practitioners and services, previous names.
func hiddenValues(t *testing.T, full []byte) []string {
	var v map[string]any
	if err := json.Unmarshal(full, &v); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(x any)
	walk = func(x any) {
		switch x := x.(type) {
		case string:
			if len(x) >= 4 {
				out = append(out, x)
			}
		case map[string]any:
			for k, y := range x {
				if k == "value" || k == "lines" || k == "practitioner" || k == "name" || k == "phone" || k == "email" || k == "town" ||
					k == "postcode" || k == "service" || k == "organisation" || k == "urn" || k == "ods_code" || k == "given" || k == "family" {
					walk(y)
				} else if m, ok := y.(map[string]any); ok {
					walk(m)
				} else if a, ok := y.([]any); ok {
					walk(a)
				}
			}
		case []any:
			for _, y := range x {
				walk(y)
			}
		}
	}
	for _, k := range []string{"address", "contacts", "school", "gp_practice", "involvements", "previous_names"} {
		walk(v[k])
	}
	// The current name stays visible, and may also appear among previous
	// names of other sources.
	var keep []string
	for _, s := range out {
		if s != "Olivia" && s != "Hughes" {
			keep = append(keep, s)
		}
	}
	return keep
}

func TestShieldingEndToEnd(t *testing.T) {
	h, c := startAccessHub(t)
	submit(t, h, "health", example(t, "health"))
	submit(t, h, "social-care", example(t, "social-care"))
	waitProjected(t, h)

	q := "/v1/children?family=Hughes&birth_date=2015-03-14"
	var res struct {
		Count   int `json:"count"`
		Results []struct {
			Reasons []string       `json:"reasons"`
			Child   map[string]any `json:"child"`
		} `json:"results"`
	}
	body := c.must("ordinary", "GET", q, nil, 200)
	_ = json.Unmarshal(body, &res)
	if res.Count != 1 || len(res.Results[0].Reasons) == 0 {
		t.Fatalf("search: %s", body)
	}
	id := res.Results[0].Child["id"].(string)
	// Sensitive services are never named, to anyone.
	for _, who := range []string{"ordinary", "officer"} {
		for _, path := range []string{q, "/v1/children/" + id, "/fhir/Patient/" + id} {
			b := c.must(who, "GET", path, nil, 200)
			for _, s := range []string{"mental-health", "counselling", "Mindmate", "0113 496 0400"} {
				if strings.Contains(string(b), s) {
					t.Fatalf("%s %s names the sensitive service (%q): %s", who, path, s, b)
				}
			}
		}
	}
	if b := c.must("ordinary", "GET", "/v1/children/"+id, nil, 200); !strings.Contains(string(b), access.SensitiveServices) {
		t.Fatalf("sensitive services not summarised: %s", b)
	}

	// Indicate involvement: the event, a notification, the new contact.
	sub, err := h.NATS.NC.SubscribeSync(childlog.SubjectInvolvementPrefix + ">")
	if err != nil {
		t.Fatal(err)
	}
	c.must("", "POST", "/v1/children/"+id+"/involvement", map[string]any{"service": "Health visiting", "phone": "0113 496 0500"}, 403)
	c.must("ordinary", "POST", "/v1/children/"+id+"/involvement", map[string]any{"service": "Health visiting", "kind": "drug", "phone": "1"}, 400)
	c.must("ordinary", "POST", "/v1/children/"+id+"/involvement", map[string]any{"service": "Health visiting", "role": "Health visitor", "phone": "0113 496 0500"}, 201)
	msg, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("no involvement notification: %v", err)
	}
	var note childlog.InvolvementNotice
	_ = json.Unmarshal(msg.Data, &note)
	if msg.Subject != childlog.SubjectInvolvementPrefix+id || note.ChildID != id || note.Practitioner.Phone != "0113 496 0500" || note.Practitioner.Name != ordinary.Name {
		t.Fatalf("notification %s: %s", msg.Subject, msg.Data)
	}
	for _, s := range []string{"Hughes", "Olivia", "2015-03-14", "LS6", "Tom Reid"} {
		if strings.Contains(string(msg.Data), s) {
			t.Fatalf("notification carries personal data %q: %s", s, msg.Data)
		}
	}
	waitProjected(t, h)
	if b := c.must("ordinary", "GET", "/v1/children/"+id, nil, 200); !strings.Contains(string(b), "0113 496 0500") {
		t.Fatalf("new contact not shown: %s", b)
	}

	// Shielding: only shield officers apply it.
	shield := map[string]any{"requested_by": "parent", "requested_by_kind": "parent-carer", "reason_category": "domestic-abuse",
		"review_date": time.Now().AddDate(0, 3, 0).Format(time.DateOnly), "contact": "Shielding team, 0113 496 0999"}
	c.must("ordinary", "POST", "/v1/children/"+id+"/shield", shield, 403)
	c.must("", "POST", "/v1/children/"+id+"/shield", shield, 403)
	c.must("officer", "POST", "/v1/children/"+uuid.NewString()+"/shield", shield, 404)
	bad := map[string]any{"requested_by": "x", "requested_by_kind": "neighbour", "reason_category": "domestic-abuse", "review_date": "2099-01-01", "contact": "x"}
	c.must("officer", "POST", "/v1/children/"+id+"/shield", bad, 400)
	full := c.must("officer", "GET", "/v1/children/"+id, nil, 200)
	c.must("officer", "POST", "/v1/children/"+id+"/shield", shield, 201)
	waitProjected(t, h)

	hidden := hiddenValues(t, full)
	if len(hidden) < 8 {
		t.Fatalf("too few hidden values to test: %v", hidden)
	}
	fhirQ := "/fhir/Patient?family=hughes&birthdate=2015-03-14"
	for _, who := range []string{"ordinary", ""} {
		for _, path := range []string{q, "/v1/children/" + id, fhirQ, "/fhir/Patient/" + id,
			"/v1/children?family=Hughes&postcode=LS6+2AB", "/fhir/Patient?family=hughes&address-postalcode=LS6+2AB",
			"/v1/children?family=Hughes&given=Olivia&birth_date=2015-03-14", "/v1/shields/due", "/v1/children/" + id + "/shield/lift"} {
			method := "GET"
			if strings.HasSuffix(path, "/lift") {
				method = "POST"
			}
			_, b := c.do(who, method, path, nil)
			for _, s := range hidden {
				if strings.Contains(string(b), s) {
					t.Fatalf("%s %s as %q shows hidden %q: %s", method, path, who, s, b)
				}
			}
			if strings.Contains(string(b), "domestic-abuse") {
				t.Fatalf("%s shows the shield's reason: %s", path, b)
			}
		}
	}
	view := c.must("ordinary", "GET", "/v1/children/"+id, nil, 200)
	if !strings.Contains(string(view), "Shielding team, 0113 496 0999") || !strings.Contains(string(view), `"shielded":true`) {
		t.Fatalf("shielded view lacks the notice: %s", view)
	}
	// Searching on a hidden field does not find the shielded child.
	for _, path := range []string{"/v1/children?family=Hughes&postcode=LS6+2AB", "/v1/children?family=Hughes&given=Olivia&birth_date=2015-03-14"} {
		if b := c.must("ordinary", "GET", path, nil, 200); strings.Contains(string(b), id) {
			t.Fatalf("%s reveals the shielded child: %s", path, b)
		}
		if b := c.must("officer", "GET", path, nil, 200); !strings.Contains(string(b), id) {
			t.Fatalf("%s as shield officer misses the child: %s", path, b)
		}
	}
	// But name and date of birth still find it, cut down.
	if b := c.must("ordinary", "GET", q, nil, 200); !strings.Contains(string(b), id) {
		t.Fatalf("shielded child not found by name and date of birth: %s", b)
	}

	// FHIR: restricted patient, valid R4.
	for _, path := range []string{fhirQ, "/fhir/Patient/" + id, "/fhir/metadata", "/fhir/Patient?family=hughes", "/fhir/Patient/" + uuid.NewString(), "/fhir/Patient?family=hughes&address-postalcode=LS6+2AB"} {
		_, b := c.do("ordinary", "GET", path, nil)
		b = bytes.Replace(b, []byte(`"fhirVersion":"4.0.1"`), []byte(`"fhirVersion":"4.0.0"`), 1)
		if err := fhirtest.Validate(b); err != nil {
			t.Fatalf("%s: invalid FHIR: %v\n%s", path, err, b)
		}
	}
	p := c.must("ordinary", "GET", "/fhir/Patient/"+id, nil, 200)
	if !strings.Contains(string(p), `"code":"R"`) || strings.Contains(string(p), "address") || strings.Contains(string(p), "generalPractitioner") {
		t.Fatalf("restricted patient: %s", p)
	}

	// Review list: shield officers only.
	c.must("ordinary", "GET", "/v1/shields/due?by=2099-01-01", nil, 403)
	if b := c.must("officer", "GET", "/v1/shields/due?by=2099-01-01", nil, 200); !strings.Contains(string(b), id) {
		t.Fatalf("shield not due: %s", b)
	}

	// Lifting restores the view.
	c.must("ordinary", "DELETE", "/v1/children/"+id+"/shield", map[string]any{"reason": "x"}, 403)
	c.must("officer", "DELETE", "/v1/children/"+id+"/shield", map[string]any{"reason": "risk passed"}, 200)
	waitProjected(t, h)
	c.must("officer", "POST", "/v1/children/"+id+"/shield/lift", map[string]any{"reason": "again"}, 409)
	if b := c.must("ordinary", "GET", "/v1/children/"+id, nil, 200); !strings.Contains(string(b), "Elm Grove") && !strings.Contains(string(b), "postcode") {
		t.Fatalf("lifted shield still hides: %s", b)
	}
	if b := c.must("ordinary", "GET", "/v1/children?family=Hughes&postcode=LS6+2AB", nil, 200); !strings.Contains(string(b), id) {
		t.Fatalf("postcode search after lifting: %s", b)
	}
	// Roles that do not read children are refused whatever the child.
	c.must("auditor", "GET", q, nil, 403)
}

func TestSearchIsNotBrowsing(t *testing.T) {
	h, c := startAccessHub(t)
	recs := population(300)
	fams := []string{"Hughes", "Smith", "Patel", "Khan", "Jones", "Brown", "Taylor", "Wilson", "Evans", "Walker",
		"Wright", "Robinson", "Thompson", "Ahmed", "Hussain", "Clarke", "Kowalski", "Nowak", "Okafor", "Mensah"}
	givs := []string{"Amelia", "Oliver", "Isla", "George", "Ava", "Noah", "Mia", "Arthur", "Ivy", "Muhammad",
		"Freya", "Leo", "Florence", "Harry", "Willow", "Oscar"}
	raws := make([][]byte, len(recs))
	for i, r := range recs {
		r["child"].(map[string]any)["name"] = map[string]any{"family": fams[i%len(fams)], "given": givs[(i/len(fams))%len(givs)]}
		raws[i], _ = json.Marshal(r)
	}
	submit(t, h, "health", raws...)
	waitProjected(t, h)
	isla := recs[42]["child"].(map[string]any) // Isla Patel
	islaDOB := isla["birth_date"].(string)
	tests := []struct {
		name, query string
		status      int
		code        string
	}{
		{"name only", "family=Patel", 400, "need-more-detail"},
		{"postcode only", "postcode=LS6+2AB", 400, "need-more-detail"},
		{"date only", "birth_date=2012-01-02", 400, "need-more-detail"},
		{"nothing", "", 400, "need-more-detail"},
		{"too many", "family=Hughes&postcode=LS6+2AB&limit=5", 422, "too-many-matches"},
		{"name and age range", "family=Patel&given=Isla&age_from=0&age_to=18", 200, ""},
		{"nhs number alone", "nhs_number=" + recs[5]["child"].(map[string]any)["identifiers"].(map[string]any)["nhs_number"].(string), 200, ""},
		{"misspelt name and date", "family=Pattel&given=Ilsa&birth_date=" + islaDOB, 200, ""},
		{"bad age range", "family=x&age_from=9&age_to=3", 400, "invalid-age-range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, b := c.do("ordinary", "GET", "/v1/children?"+tt.query, nil)
			if code != tt.status || (tt.code != "" && !strings.Contains(string(b), `"`+tt.code+`"`)) {
				t.Fatalf("%d %s", code, b)
			}
			if code == 200 {
				var res struct {
					Count   int `json:"count"`
					Results []struct {
						Reasons []string `json:"reasons"`
					} `json:"results"`
				}
				_ = json.Unmarshal(b, &res)
				if res.Count == 0 || len(res.Results[0].Reasons) == 0 {
					t.Fatalf("no result or no reason: %s", b)
				}
			}
		})
	}
	// Ranking: the misspelt query puts the right child first.
	b := c.must("ordinary", "GET", "/v1/children?family=Pattel&given=Ilsa&birth_date="+islaDOB, nil, 200)
	var res struct {
		Results []struct {
			Child struct {
				Name struct {
					Value struct{ Given string } `json:"value"`
				} `json:"name"`
			} `json:"child"`
		} `json:"results"`
	}
	_ = json.Unmarshal(b, &res)
	if len(res.Results) == 0 || res.Results[0].Child.Name.Value.Given != "Isla" {
		t.Fatalf("wrong child first: %s", b)
	}
}
