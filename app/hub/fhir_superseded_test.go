package hub_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"contactpoint/adapters/fhir/fhirtest"
	"contactpoint/app/hub"
)

// TestFHIRSupersededRecordOfAShieldedChild: a child absorbed into a
// shielded survivor. An ordinary reader's read of the absorbed id is the
// restricted survivor, whose replaces link names the absorbed record's last
// version; the vread of that version is the absorbed record, inactive,
// replaced by the survivor, labelled restricted, with nothing of the child
// in it, and audited as a view of both ids. Any other version is 404, and
// the UPN travels on the configured deployment's system.
func TestFHIRSupersededRecordOfAShieldedChild(t *testing.T) {
	cfg := newConfig(t)
	cfg.Auth.PublicURL = "https://Hub.Leeds.gov.uk/"
	h := startHub(t, cfg)
	defer h.Close()
	first := olivia
	first.upn = "T821200714001"
	dup := olivia
	dup.agency, dup.system, dup.id, dup.given, dup.nhs, dup.dob, dup.gender, dup.postcode, dup.address, dup.carer = "education", "sims", "E7", "Olly", "", "2015-06-01", "male", "LS4 2RR", "3 Stanmore Place", ""
	send(t, h, first, dup)
	a, e := childOf(t, h, "health", "pas", "H1"), childOf(t, h, "education", "sims", "E7")
	if a == e {
		t.Fatal("the duplicate linked on its own; the test needs a steward's merge")
	}
	if code, b := call(t, h, "POST", "/v1/children/"+a+"/merge", map[string]string{"other": e, "reason": "same child"}); code != 200 {
		t.Fatalf("merge: %d %s", code, b)
	}
	waitProjected(t, h)
	var survivor, absorbed string
	if err := h.DB.QueryRow(context.Background(), `select merged_into::text, child_id::text from directory where merged_into is not null`).Scan(&survivor, &absorbed); err != nil {
		t.Fatalf("no absorbed child: %v", err)
	}
	if got := shieldChild(t, h, absorbed); got != survivor {
		t.Fatalf("shielding the absorbed id landed on %s, not the survivor %s", got, survivor)
	}
	reader := readerToken(t, h)

	fhirGet := func(path string, want int) map[string]any {
		t.Helper()
		code, body := status(t, h, "GET", reader, path, nil)
		if code != want {
			t.Fatalf("GET %s: %d, want %d: %s", path, code, want, body)
		}
		b := []byte(strings.Replace(body, `"fhirVersion":"4.0.1"`, `"fhirVersion":"4.0.0"`, 1))
		if err := fhirtest.Validate(b); err != nil {
			t.Fatalf("GET %s: not valid R4: %v\n%s", path, err, body)
		}
		if err := fhirtest.UKCore([]byte(body)); err != nil {
			t.Fatalf("GET %s: UK Core: %v\n%s", path, err, body)
		}
		// Addresses, the carer and her phone, and previous names (the
		// current name, whichever source's survived, is shown).
		for _, hidden := range []string{"Elm Grove", "Stanmore", "LS6", "LS4", "07700", "Sarah", `"use":"old"`} {
			if strings.Contains(body, hidden) {
				t.Fatalf("GET %s shows %q of a shielded child to an ordinary reader: %s", path, hidden, body)
			}
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	restricted := func(m map[string]any) bool {
		meta, _ := m["meta"].(map[string]any)
		sec, _ := meta["security"].([]any)
		return len(sec) == 1 && sec[0].(map[string]any)["code"] == "R"
	}

	read := fhirGet("/fhir/Patient/"+absorbed, http.StatusOK)
	if read["id"] != survivor || !restricted(read) {
		t.Fatalf("read of the absorbed id is not the restricted survivor: %v", read)
	}
	links, _ := read["link"].([]any)
	if len(links) != 1 {
		t.Fatalf("restricted survivor's links %v, want the one id asked for", links)
	}
	ref := links[0].(map[string]any)["other"].(map[string]any)["reference"].(string)
	if links[0].(map[string]any)["type"] != "replaces" || !strings.HasPrefix(ref, "Patient/"+absorbed+"/_history/") {
		t.Fatalf("replaces link %v does not name the absorbed record's version", links[0])
	}
	var upnSystem string
	for _, id := range read["identifier"].([]any) {
		if m := id.(map[string]any); m["value"] == first.upn {
			upnSystem, _ = m["system"].(string)
		}
	}
	if upnSystem != "https://hub.leeds.gov.uk/fhir/Id/upn" {
		t.Fatalf("UPN system %q, want the configured deployment's", upnSystem)
	}

	stub := fhirGet("/fhir/"+ref, http.StatusOK)
	if stub["id"] != absorbed || stub["active"] != false || !restricted(stub) {
		t.Fatalf("vread of the absorbed version: %v", stub)
	}
	for _, data := range []string{"name", "birthDate", "gender", "identifier", "address", "telecom", "contact", "generalPractitioner"} {
		if _, ok := stub[data]; ok {
			t.Fatalf("the absorbed record's stub carries %s: %v", data, stub)
		}
	}
	by := stub["link"].([]any)[0].(map[string]any)
	if by["type"] != "replaced-by" || by["other"].(map[string]any)["reference"] != "Patient/"+survivor {
		t.Fatalf("stub's link %v is not replaced-by the survivor", by)
	}
	if n := auditCount(t, h, "action = 'view' and outcome = 'ok' and route = 'GET /fhir/Patient/{id}/_history/{vid}' and $1 = any(children) and $2 = any(children)", absorbed, survivor); n != 1 {
		t.Fatalf("%d audited views of the vread, want 1", n)
	}

	version := strings.TrimPrefix(ref, "Patient/"+absorbed+"/_history/")
	for _, path := range []string{
		"/fhir/Patient/" + absorbed + "/_history/" + version + "0",
		"/fhir/Patient/" + absorbed + "/_history/x",
		"/fhir/Patient/" + survivor + "/_history/" + version, // the survivor's own is another
		"/fhir/Patient/" + survivor + "/_history/1",
	} {
		if out := fhirGet(path, http.StatusNotFound); out["resourceType"] != "OperationOutcome" {
			t.Fatalf("GET %s: %v", path, out)
		}
	}
	current := fhirGet("/fhir/Patient/"+survivor, http.StatusOK)
	again := fhirGet("/fhir/Patient/"+survivor+"/_history/"+current["meta"].(map[string]any)["versionId"].(string), http.StatusOK)
	if again["id"] != survivor || !restricted(again) {
		t.Fatalf("vread of the current version: %v", again)
	}
	if out := fhirGet("/fhir/Patient/"+survivor+"/_history", http.StatusBadRequest); out["resourceType"] != "OperationOutcome" {
		t.Fatalf("history: %v", out)
	}

	for q, want := range map[string]int{
		"identifier=" + url.QueryEscape("https://hub.leeds.gov.uk/fhir/Id/upn|"+first.upn): http.StatusOK,
		"identifier=" + first.upn: http.StatusOK,
		"identifier=" + url.QueryEscape("http://localhost:8080/fhir/Id/upn|"+first.upn): http.StatusBadRequest,
	} {
		out := fhirGet("/fhir/Patient?"+q, want)
		if want == http.StatusOK && (out["total"] != 1.0 || !strings.Contains(mustJSON(t, out), `"id":"`+survivor+`"`)) {
			t.Fatalf("%s: %v", q, out)
		}
	}
	if code, body := status(t, h, "GET", "", "/fhir/metadata", nil); code != 200 || !strings.Contains(body, `"url":"https://hub.leeds.gov.uk/fhir/metadata"`) || !strings.Contains(body, `"code":"vread"`) {
		t.Fatalf("metadata: %d %s", code, body)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPublicURLMistakeStopsTheStart: a public-url that cannot name the
// hub's systems stops the start, naming the setting.
func TestPublicURLMistakeStopsTheStart(t *testing.T) {
	cfg := newConfig(t)
	cfg.Auth.PublicURL = "hub.leeds.gov.uk"
	h, err := hub.Start(context.Background(), cfg, quietLog())
	if err == nil {
		h.Close()
		t.Fatal("a hub started with public-url hub.leeds.gov.uk")
	}
	if !strings.HasPrefix(err.Error(), "public-url: ") {
		t.Fatalf("error %q does not name public-url", err)
	}
}
