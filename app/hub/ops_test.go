package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"contactpoint/adapters/auth"
	"contactpoint/adapters/natsjs"
	"contactpoint/app/hub"
	"contactpoint/domain/access"
)

// postFeed posts records with the health system's key and returns the
// answer's status and headers.
func postFeed(t *testing.T, h *hub.Hub, key string, body []byte) (int, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+h.Addr()+"/v1/feeds/health/records", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("X-API-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

func readyz(t *testing.T, h *hub.Hub) (int, string) {
	t.Helper()
	return status(t, h, "GET", "", "/readyz", nil)
}

// TestOperatorsSeeTheHub checks what operators are given: the public
// version and readiness, the metrics an administrator scrapes (counts by
// agency and system, decisions, latencies, leases) with no personal data in
// them, and one JSON log line per request with the route pattern and the
// viewer, never the query.
func TestOperatorsSeeTheHub(t *testing.T) {
	logs := &lockedBuffer{}
	cfg := newConfig(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h, err := hub.Start(ctx, cfg, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()

	code, body := status(t, h, "GET", "", "/version", nil)
	var v struct{ Version, Go string }
	if code != 200 || json.Unmarshal([]byte(body), &v) != nil || v.Version == "" || v.Go == "" {
		t.Fatalf("GET /version: %d %s", code, body)
	}
	recs := population(30)
	if code, body := post(t, h, "health", "application/x-ndjson", ndjson(recs)); code != http.StatusAccepted {
		t.Fatalf("%d %v", code, body)
	}
	post(t, h, "health", "application/x-ndjson", ndjson(recs[:5])) // duplicates
	waitProjected(t, h)
	if res := search(t, h, url.Values{"family": {"Family5"}, "birth_date": {"2012-01-06"}}); res.Count != 1 {
		t.Fatalf("search: %+v", res)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body = readyz(t, h)
		if code == 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code != 200 || !strings.Contains(body, `"lag:linker"`) || !strings.Contains(body, `"postgres"`) {
		t.Fatalf("GET /readyz: %d %s", code, body)
	}

	admin := tokenFor(t, h, "operator", access.RoleAdmin)
	code, metrics := status(t, h, "GET", admin, "/metrics", nil)
	if code != 200 {
		t.Fatalf("GET /metrics: %d", code)
	}
	for _, want := range []string{
		`contactpoint_intake_records_total{agency="health",outcome="accepted",system="pas"}`,
		`contactpoint_intake_records_total{agency="health",outcome="duplicate",system="pas"}`,
		`contactpoint_linker_decisions_total{outcome="new"}`,
		`contactpoint_http_request_duration_seconds_count{method="GET",route="GET /v1/children",status="2xx"}`,
		`contactpoint_audit_write_seconds_count{result="ok"}`,
		`contactpoint_lease_held{lease="linker"} 1`,
		`contactpoint_lease_held{lease="directory"} 1`,
		`contactpoint_projection_lag_events{consumer="linker",stream="FEEDS"}`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, personal := range []string{"Family5", "Given", "2012-01-06", "LS6"} {
		if strings.Contains(metrics, personal) {
			t.Errorf("metrics hold %q", personal)
		}
	}

	var searched map[string]any
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "Family5") || strings.Contains(line, "2012-01-06") {
			t.Fatalf("a log line holds the query: %s", line)
		}
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "http request" && m["route"] == "GET /v1/children" {
			searched = m
		}
	}
	if searched == nil || searched["viewer"] == "" || searched["status"] != float64(200) || searched["method"] != "GET" {
		t.Fatalf("no request line for the search: %v", searched)
	}
}

// TestIntakePushesBack checks backpressure: with the linker held back,
// intake answers 429 with Retry-After once the backlog passes the bound,
// and takes records again once the linker catches up.
func TestIntakePushesBack(t *testing.T) {
	cfg := newConfig(t)
	cfg.DeferLinker = true
	cfg.IntakeMaxBacklog = 10
	h := startHub(t, cfg)
	defer h.Close()
	recs := population(60)
	key := systemKey(t, h, "health", "pas")
	if code, _ := postFeed(t, h, key, ndjson(recs[:30])); code != http.StatusAccepted {
		t.Fatalf("first batch: %d", code)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, hdr := postFeed(t, h, key, ndjson(recs[30:40]))
		if code == http.StatusTooManyRequests {
			if hdr.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
			break
		}
		if code != http.StatusAccepted || time.Now().After(deadline) {
			t.Fatalf("want 429 once the backlog passes the bound, got %d", code)
		}
		time.Sleep(100 * time.Millisecond)
	}
	h.StartLinker()
	for {
		code, _ := postFeed(t, h, key, ndjson(recs[40:]))
		if code == http.StatusAccepted {
			break
		}
		if time.Now().After(deadline.Add(20 * time.Second)) {
			t.Fatalf("intake did not take records again: %d", code)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestFullEventLogIsReportedAndRecovers fills FEEDS to a byte limit: intake
// answers 507 at once and /readyz says why; once the limit is raised the
// hub takes records again by itself.
func TestFullEventLogIsReportedAndRecovers(t *testing.T) {
	h := startHub(t, newConfig(t))
	defer h.Close()
	ctx := context.Background()
	key := systemKey(t, h, "health", "pas")
	recs := population(40)
	if code, _ := postFeed(t, h, key, ndjson(recs[:10])); code != http.StatusAccepted {
		t.Fatalf("first batch: %d", code)
	}
	st, err := h.NATS.JS.Stream(ctx, natsjs.StreamFeeds)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := st.Info(ctx)
	sc := info.Config
	sc.MaxBytes, sc.Discard = int64(info.State.Bytes)+100, jetstream.DiscardNew
	if _, err := h.NATS.JS.UpdateStream(ctx, sc); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code, _ := postFeed(t, h, key, ndjson(recs[10:20]))
	if code != http.StatusInsufficientStorage {
		t.Fatalf("want 507 from a full FEEDS, got %d", code)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("507 took %s", d)
	}
	if code, body := readyz(t, h); code != http.StatusServiceUnavailable || !strings.Contains(body, "stream byte limit") {
		t.Fatalf("readyz while full: %d %s", code, body)
	}
	sc.MaxBytes = -1
	if _, err := h.NATS.JS.UpdateStream(ctx, sc); err != nil {
		t.Fatal(err)
	}
	if code, _ := postFeed(t, h, key, ndjson(recs[10:20])); code != http.StatusAccepted {
		t.Fatalf("after room was made: %d", code)
	}
	if code, body := readyz(t, h); code == http.StatusServiceUnavailable && strings.Contains(body, "storage") {
		t.Fatalf("readyz after recovery: %s", body)
	}
}

// TestIntakeRidesOutPostgresOutage stops the hub's PostgreSQL: an agency
// whose key was verified goes on sending (intake needs only NATS), and a
// key revoked elsewhere in the fleet (another register writer) is refused
// at once through the REGISTRY stream.
func TestIntakeRidesOutPostgresOutage(t *testing.T) {
	pg := newCluster(t)
	cfg := hub.Config{HTTPAddr: "127.0.0.1:0", DataDir: t.TempDir(), DatabaseURL: pg.url("contactpoint")}
	h := startHub(t, cfg)
	defer h.Close()
	ctx := context.Background()
	key := systemKey(t, h, "health", "pas")
	other, ak, err := h.Registry.IssueKey(ctx, "health", "pas2", "test")
	if err != nil {
		t.Fatal(err)
	}
	recs := population(30)
	if code, _ := postFeed(t, h, key, ndjson(recs[:10])); code != http.StatusAccepted {
		t.Fatalf("before: %d", code)
	}
	if code, _ := postFeed(t, h, other, ndjson(restamp(recs[:2], "health", "pas2"))); code != http.StatusAccepted {
		t.Fatalf("second system before: %d", code)
	}
	// Revoked by another instance's register: this hub hears it on REGISTRY.
	if err := auth.NewRegistry(h.NATS.JS, h.DB).RevokeKey(ctx, ak.ID, "test"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, _ := postFeed(t, h, other, ndjson(restamp(recs[2:4], "health", "pas2")))
		if code == http.StatusUnauthorized || code == http.StatusForbidden {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a revoked key still speaks: %d", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
	pg.crash()
	if code, _ := postFeed(t, h, key, ndjson(recs[10:20])); code != http.StatusAccepted {
		t.Fatalf("with PostgreSQL down: %d", code)
	}
	if code, _ := postFeed(t, h, other, ndjson(restamp(recs[4:6], "health", "pas2"))); code == http.StatusAccepted {
		t.Fatal("a revoked key was honoured with PostgreSQL down")
	}
	if code, body := readyz(t, h); code != http.StatusServiceUnavailable || !strings.Contains(body, "PostgreSQL does not answer") {
		t.Fatalf("readyz with PostgreSQL down: %d %s", code, body)
	}
	pg.start()
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for h.WaitProjected(wctx) != nil {
		if wctx.Err() != nil {
			t.Fatal("the hub did not catch up after PostgreSQL returned")
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The second system's two records are of children the first holds.
	// The writers come back under their leases a moment after PostgreSQL
	// does, so the count is read until it settles.
	var n, srcs int
	for settle := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		n, srcs, err = h.Store.Count(ctx)
		if err == nil && n == 20 && srcs == 22 || time.Now().After(settle) {
			break
		}
		_ = h.WaitProjected(wctx)
	}
	if err != nil || n != 20 || srcs != 22 {
		t.Fatalf("want 20 children of 22 sources, got %d, %d (%v)", n, srcs, err)
	}
}
