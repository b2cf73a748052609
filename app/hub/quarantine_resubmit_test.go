package hub_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"contactpoint/adapters/hl7"
	"contactpoint/adapters/natsjs"
	"contactpoint/app/quarantine"
	"contactpoint/domain/access"
)

// TestResubmitKeepsTheEntrysSource: a steward's correction must keep the
// quarantined entry's agency, system and record id; one naming another is
// refused with 422 and the field, stores nothing and leaves the entry open.
// An entry whose original named no record id takes a correction only for a
// record its system has not sent before.
func TestResubmitKeepsTheEntrysSource(t *testing.T) {
	h := startHub(t, feedsConfig(t))
	defer h.Close()
	steward := tokenFor(t, h, "steward", access.RoleSteward)

	// A JSON record refused for its date of birth; its id is RI-0048213.
	bad := bytes.Replace(example(t, "health"), []byte(`"birth_date":"2015-03-14"`), []byte(`"birth_date":"2015-02-30"`), 1)
	if code, body := post(t, h, "health", "application/json", bad); code != http.StatusUnprocessableEntity {
		t.Fatalf("bad record: %d %v", code, body)
	}
	// An HL7 message with no patient identifier at all, and another
	// patient's message the hub holds already.
	mllp := dialMLLP(t, h.MLLPAddr())
	held := "PID|1||M0048213^^^RIH^MR||Hughes^Olivia||20150314|F|||14 Elm Grove^^Leeds^^LS6 2AB"
	if code, _ := mllp.send(t, adt("H1", "A08", held)); code != hl7.AckAccept {
		t.Fatalf("held message: %s", code)
	}
	noID := "PID|1||||Lee^Ann||20140101|F|||1 High St^^Leeds^^LS1 1AA"
	if code, _ := mllp.send(t, adt("N1", "A08", noID)); code != hl7.AckError {
		t.Fatalf("message without an id: %s", code)
	}
	waitProjected(t, h)

	entries := map[string]quarantine.Entry{}
	code, body := status(t, h, http.MethodGet, steward, "/v1/quarantine", nil)
	if code != 200 {
		t.Fatalf("list: %d %s", code, body)
	}
	var page quarantine.Page
	if err := json.Unmarshal([]byte(body), &page); err != nil || len(page.Entries) != 2 {
		t.Fatalf("entries %s (%v)", body, err)
	}
	for _, e := range page.Entries {
		entries[e.Format] = e
	}
	if entries["json"].RecordID != "RI-0048213" || entries["hl7v2"].RecordID != "" {
		t.Fatalf("entries %+v", page.Entries)
	}

	fixed := string(bytes.Replace(bad, []byte("2015-02-30"), []byte("2015-03-14"), 1))
	swap := func(s, old, new string) []byte { return []byte(strings.Replace(s, old, new, 1)) }
	fixedHL7 := string(adt("N1", "A08", strings.Replace(noID, "PID|1||||", "PID|1||M0060000^^^RIH^MR||", 1)))
	tests := []struct {
		name, format string
		body         []byte
		want         int
		field, rule  string
	}{
		{"another record id", "json", swap(fixed, `"record_id":"RI-0048213"`, `"record_id":"RI-9999999"`), 422, "/source/record_id", quarantine.RuleSameRecord},
		{"another system", "json", swap(fixed, `"system":"royal-infirmary-pas"`, `"system":"st-james-pas"`), 422, "/source/system", quarantine.RuleSameSystem},
		{"another agency", "json", swap(fixed, `"agency":"health"`, `"agency":"education"`), 422, "/source/agency", quarantine.RuleSameAgency},
		{"the same record", "json", []byte(fixed), 200, "", ""},
		{"another facility", "hl7v2", swap(fixedHL7, "|PAS|RIH|", "|PAS|SJH|"), 422, "MSH-4", quarantine.RuleSameSystem},
		{"a record the system sent already", "hl7v2", swap(fixedHL7, "M0060000", "M0048213"), 422, "PID-3", quarantine.RuleNewRecord},
		{"a new record", "hl7v2", []byte(fixedHL7), 200, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			feeds := streamMsgs(t, h, natsjs.StreamFeeds)
			seq := strconv.FormatUint(entries[tc.format].Seq, 10)
			code, body := status(t, h, http.MethodPost, steward, "/v1/quarantine/"+seq+"/resubmit", tc.body)
			if code != tc.want {
				t.Fatalf("resubmit: %d %s, want %d", code, body, tc.want)
			}
			if tc.want == 200 {
				return
			}
			var res quarantine.Result
			if err := json.Unmarshal([]byte(body), &res); err != nil {
				t.Fatal(err)
			}
			if len(res.Errors) != 1 || res.Errors[0].Field != tc.field || res.Errors[0].Rule != tc.rule {
				t.Fatalf("errors %+v, want field %s rule %s", res.Errors, tc.field, tc.rule)
			}
			if res.Entry.Resolved != nil {
				t.Error("a refused correction resolved the entry")
			}
			if strings.Contains(body, "RI-9999999") || strings.Contains(body, "Hughes") {
				t.Errorf("the refusal repeats the correction's data: %s", body)
			}
			if f := streamMsgs(t, h, natsjs.StreamFeeds); f != feeds {
				t.Errorf("a refused correction reached FEEDS (%d → %d)", feeds, f)
			}
		})
	}
	waitProjected(t, h)
	if c, _ := sourceState(t, h, "health", "ri-pas", "M0060000"); c == "" {
		t.Error("the corrected HL7 record is not in the directory")
	}
}
