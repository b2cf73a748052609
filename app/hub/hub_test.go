package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"contactpoint/adapters/natsjs"
	"contactpoint/adapters/postgres/pgtest"
	"contactpoint/app/hub"
	"contactpoint/domain/ident"
	"contactpoint/schemas"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func startHub(t *testing.T, cfg hub.Config) *hub.Hub {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h, err := hub.Start(ctx, cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func newConfig(t *testing.T) hub.Config {
	return hub.Config{HTTPAddr: "127.0.0.1:0", DataDir: t.TempDir(), DatabaseURL: pgtest.NewDatabase(t)}
}

func example(t *testing.T, agency string) []byte {
	raw, err := schemas.FS.ReadFile("examples/" + agency + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func post(t *testing.T, h *hub.Hub, agency, ctype string, body []byte) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+h.Addr()+"/v1/feeds/"+agency+"/records", bytes.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("X-API-Key", feedKey(t, h, agency, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if rs, ok := out["results"].([]any); ok && len(rs) > 3 {
		out["results"] = rs[:3] // keep failure messages readable
	}
	return resp.StatusCode, out
}

type searchResp struct {
	Count   int `json:"count"`
	Results []struct {
		Child struct {
			ID      string           `json:"id"`
			Sources []map[string]any `json:"sources"`
		} `json:"child"`
	} `json:"results"`
}

func search(t *testing.T, h *hub.Hub, q url.Values) searchResp {
	t.Helper()
	resp, err := get(t, h, readerToken(t, h), "/v1/children?"+q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("search %v: %d %s", q, resp.StatusCode, b)
	}
	var out searchResp
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func waitProjected(t *testing.T, h *hub.Hub) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.WaitProjected(ctx); err != nil {
		t.Fatalf("directory did not catch up: %v", err)
	}
}

func streamMsgs(t *testing.T, h *hub.Hub, name string) uint64 {
	t.Helper()
	st, err := h.NATS.JS.Stream(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func TestHTTPIntakeToDirectory(t *testing.T) {
	h := startHub(t, newConfig(t))
	defer h.Close()

	if code, body := post(t, h, "health", "application/json", example(t, "health")); code != http.StatusAccepted {
		t.Fatalf("health: %d %v", code, body)
	}
	waitProjected(t, h)
	res := search(t, h, url.Values{"family": {"Hughes"}, "birth_date": {"2015-03-14"}})
	if res.Count != 1 {
		t.Fatalf("want 1 child, got %+v", res)
	}
	id := res.Results[0].Child.ID

	// The social-care record carries the same NHS number: same child.
	if code, body := post(t, h, "social-care", "application/json", example(t, "social-care")); code != http.StatusAccepted {
		t.Fatalf("social care: %d %v", code, body)
	}
	waitProjected(t, h)
	res = search(t, h, url.Values{"family": {"Hughes"}, "birth_date": {"2015-03-14"}})
	if res.Count != 1 || res.Results[0].Child.ID != id || len(res.Results[0].Child.Sources) != 2 {
		t.Fatalf("want one child with two sources, got %+v", res)
	}
	// Typo-tolerant family name.
	if res := search(t, h, url.Values{"family": {"Hughs"}, "birth_date": {"2015-03-14"}}); res.Count != 1 {
		t.Fatalf("misspelt search: %+v", res)
	}

	// The record view.
	resp, err := get(t, h, readerToken(t, h), "/v1/children/"+id)
	if err != nil {
		t.Fatal(err)
	}
	var view map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&view)
	resp.Body.Close()
	if resp.StatusCode != 200 || view["nhs_number"].(map[string]any)["value"] != "9434765919" {
		t.Fatalf("view: %d %v", resp.StatusCode, view)
	}
}

func TestResendIsNotADuplicate(t *testing.T) {
	h := startHub(t, newConfig(t))
	defer h.Close()
	batch := ndjson(population(50))
	if code, body := post(t, h, "health", "application/x-ndjson", batch); code != http.StatusAccepted || body["accepted"].(float64) != 50 {
		t.Fatalf("first send: %d %v", code, body)
	}
	waitProjected(t, h)
	feeds, children := streamMsgs(t, h, natsjs.StreamFeeds), streamMsgs(t, h, natsjs.StreamChildren)
	code, body := post(t, h, "health", "application/x-ndjson", batch)
	if code != http.StatusAccepted || body["duplicates"].(float64) != 50 {
		t.Fatalf("resend: %d %v", code, body)
	}
	waitProjected(t, h)
	if f, c := streamMsgs(t, h, natsjs.StreamFeeds), streamMsgs(t, h, natsjs.StreamChildren); f != feeds || c != children {
		t.Fatalf("resend changed the log: FEEDS %d→%d CHILDREN %d→%d", feeds, f, children, c)
	}
	n, _, err := h.Store.Count(context.Background())
	if err != nil || n != 50 {
		t.Fatalf("want 50 children, got %d (%v)", n, err)
	}
}

func TestNATSIntake(t *testing.T) {
	h := startHub(t, newConfig(t))
	defer h.Close()
	// An agency's client asks with its own inbox prefix: the hub answers
	// nowhere else.
	nc, err := nats.Connect("", nats.InProcessServer(h.NATS.Embedded()), nats.CustomInboxPrefix(natsjs.InboxPrefix("health", "royal-infirmary-pas")))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	msg, err := nc.Request("intake.health.royal-infirmary-pas", example(t, "health"), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(msg.Data, &out); err != nil || out["status"] != "accepted" {
		t.Fatalf("reply %s (%v)", msg.Data, err)
	}
	bad, err := nc.Request("intake.health.royal-infirmary-pas", []byte(`{"schema":"x"}`), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(bad.Data), "quarantined") {
		t.Fatalf("bad record reply %s", bad.Data)
	}
	waitProjected(t, h)
	if res := search(t, h, url.Values{"family": {"hughes"}, "given": {"olivia"}, "birth_date": {"2015-03-14"}}); res.Count != 1 {
		t.Fatalf("NATS record not in directory: %+v", res)
	}
	if q := streamMsgs(t, h, natsjs.StreamQuarantine); q != 1 {
		t.Fatalf("want 1 quarantined, got %d", q)
	}
}

func TestBadInputIsRefusedAndQuarantined(t *testing.T) {
	cfg := newConfig(t)
	h := startHub(t, cfg)
	defer h.Close()
	good := string(example(t, "health"))
	tests := []struct {
		name, agency, ctype, body string
		status                    int
		field, rule               string
		quarantined               bool
	}{
		{"malformed json", "health", "application/json", `{"schema": "contactpoint.feed-record.v1",`, 422, "", "json", true},
		{"forbidden field", "health", "application/json", strings.Replace(good, `"gender":"female"`, `"gender":"female","diagnosis":"asthma"`, 1), 422, "/child/diagnosis", "forbidden-field", true},
		{"bad nhs number", "health", "application/json", strings.Replace(good, "943 476 5919", "943 476 5918", 1), 422, "/child/identifiers/nhs_number", "format:nhs-number", true},
		{"future dob", "health", "application/json", strings.Replace(good, "2015-03-14", "2099-01-01", 1), 422, "/child/birth_date", "format:child-birth-date", true},
		{"adult dob", "health", "application/json", strings.Replace(good, "2015-03-14", "1990-01-01", 1), 422, "/child/birth_date", "format:child-birth-date", true},
		{"wrong agency channel", "education", "application/json", good, 422, "/source/agency", "agency-matches-channel", true},
		{"sql injection in name", "health", "application/json", strings.Replace(good, `"Hughes"`, `"Hughes'); DROP TABLE directory;--"`, 1), 202, "", "", false},
		{"wrong content type", "health", "text/plain", good, 415, "", "", false},
		{"unknown agency", "police", "application/json", good, 404, "", "", false},
		{"oversized body", "health", "application/x-ndjson", strings.Repeat(good+"\n", (33<<20)/len(good)), 413, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := streamMsgs(t, h, natsjs.StreamQuarantine)
			code, body := post(t, h, tt.agency, tt.ctype, []byte(tt.body))
			if code != tt.status {
				t.Fatalf("status %d, want %d: %v", code, tt.status, body)
			}
			if code >= 400 && code != 422 {
				if e, ok := body["error"].(map[string]any); !ok || e["message"] == "" {
					t.Fatalf("no clear error: %v", body)
				}
			}
			if tt.field != "" || tt.rule != "" {
				res := body["results"].([]any)[0].(map[string]any)
				found := false
				for _, e := range res["errors"].([]any) {
					fe := e.(map[string]any)
					if fe["field"] == tt.field && fe["rule"] == tt.rule && fe["message"] != "" {
						found = true
					}
				}
				if !found || res["quarantine_seq"] == nil {
					t.Fatalf("want %s/%s and a quarantine seq in %v", tt.field, tt.rule, res)
				}
			}
			after := streamMsgs(t, h, natsjs.StreamQuarantine)
			if tt.quarantined != (after == before+1) {
				t.Fatalf("quarantine %d→%d, quarantined=%v", before, after, tt.quarantined)
			}
		})
	}
	// A quarantined message keeps the original bytes and the reason.
	st, _ := h.NATS.JS.Stream(context.Background(), natsjs.StreamQuarantine)
	m, err := st.GetMsg(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Data) != `{"schema": "contactpoint.feed-record.v1",` || !strings.Contains(m.Header.Get(natsjs.HeaderReason), "json") {
		t.Fatalf("quarantine entry: %q %v", m.Data, m.Header)
	}
}

// TestRestartLosesNothing stops the hub while the linker and projection are
// mid-stream and starts it again on the same event log and database.
func TestRestartLosesNothing(t *testing.T) {
	cfg := newConfig(t)
	h := startHub(t, cfg)
	recs := population(3000)
	for i := 0; i < len(recs); i += 500 {
		if code, body := post(t, h, "health", "application/x-ndjson", ndjson(recs[i:i+500])); code != 202 {
			t.Fatalf("%d %v", code, body)
		}
	}
	caught, err := h.Caught(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h.Close() // mid-stream if the consumers had not caught up
	t.Logf("stopped with consumers caught up: %v", caught)

	h = startHub(t, cfg)
	defer h.Close()
	// Resend part of it after the restart too: still no duplicates.
	if code, _ := post(t, h, "health", "application/x-ndjson", ndjson(recs[:500])); code != 202 {
		t.Fatal(code)
	}
	waitProjected(t, h)
	n, s, err := h.Store.Count(context.Background())
	if err != nil || n != 3000 || s != 3000 {
		t.Fatalf("want 3000 children and sources, got %d, %d (%v)", n, s, err)
	}
	var dupes int
	if err := h.DB.QueryRow(context.Background(), `select count(*) from (select nhs_number from directory group by 1 having count(*) > 1) d`).Scan(&dupes); err != nil || dupes != 0 {
		t.Fatalf("duplicated children: %d (%v)", dupes, err)
	}
}

func TestReplayGivesTheSameDirectory(t *testing.T) {
	h := startHub(t, newConfig(t))
	defer h.Close()
	recs := population(400)
	for _, agency := range []string{"health", "social-care"} {
		batch := recs
		if agency == "social-care" {
			batch = restamp(recs[:100], agency, "lcs")
		}
		if code, body := post(t, h, agency, "application/x-ndjson", ndjson(batch)); code != 202 {
			t.Fatalf("%d %v", code, body)
		}
	}
	waitProjected(t, h)
	before := dump(t, h)
	if err := h.Dir.Rebuild(context.Background()); err != nil {
		t.Fatal(err)
	}
	after := dump(t, h)
	if before != after {
		b, a := strings.Split(before, "\n"), strings.Split(after, "\n")
		for i := range b {
			if i < len(a) && a[i] != b[i] {
				t.Fatalf("rebuilt directory differs from the live one:\n%s\n%s", b[i], a[i])
			}
		}
		t.Fatal("rebuilt directory differs from the live one")
	}
	if !strings.Contains(before, "social-care") {
		t.Fatal("dump does not cover the linked sources")
	}
}

func dump(t *testing.T, h *hub.Hub) string {
	t.Helper()
	var s string
	err := h.DB.QueryRow(context.Background(), `select coalesce(string_agg(child_id::text || view::text || coalesce(postcode,'') || names, E'\n' order by child_id), '')
		|| (select string_agg(agency||system||record_id||child_id::text, ',' order by agency, system, record_id) from directory_sources) from directory`).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// population makes n valid health records with distinct NHS numbers.
func population(n int) []map[string]any {
	out := make([]map[string]any, 0, n)
	for i := 0; len(out) < n; i++ {
		nine := fmt.Sprintf("4%08d", i)
		d, ok := ident.NHSCheckDigit(nine)
		if !ok {
			continue
		}
		out = append(out, map[string]any{
			"schema":    "contactpoint.feed-record.v1",
			"source":    map[string]any{"agency": "health", "system": "pas", "record_id": fmt.Sprintf("P%06d", i)},
			"operation": "upsert",
			"child": map[string]any{
				"identifiers": map[string]any{"nhs_number": nine + string(d)},
				"name":        map[string]any{"given": fmt.Sprintf("Given%d", i), "family": fmt.Sprintf("Family%d", i%97)},
				"birth_date":  time.Date(2012, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i%3000).Format(time.DateOnly),
				"gender":      []string{"female", "male"}[i%2],
				"address":     map[string]any{"lines": []string{fmt.Sprintf("%d High Street", i%200+1)}, "postcode": "LS6 2AB"},
			},
		})
	}
	return out
}

func restamp(recs []map[string]any, agency, system string) []map[string]any {
	out := make([]map[string]any, len(recs))
	for i, r := range recs {
		c := map[string]any{}
		for k, v := range r {
			c[k] = v
		}
		c["source"] = map[string]any{"agency": agency, "system": system, "record_id": fmt.Sprintf("S%06d", i)}
		out[i] = c
	}
	return out
}

func ndjson(recs []map[string]any) []byte {
	var b bytes.Buffer
	for _, r := range recs {
		j, _ := json.Marshal(r)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

var _ = jetstream.ErrMsgNotFound
