package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"contactpoint/adapters/natsjs"
	"contactpoint/adapters/parked"
	"contactpoint/app/hub"
	"contactpoint/domain/access"
)

// lockedBuffer is the hub's log, read by the test while the hub writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// hostile is a message put straight into a stream, with the reason kind
// the hub must park it with.
type hostile struct {
	name    string
	subject string
	body    []byte
	kind    string
}

func hostileRecord(t *testing.T, system string, edit func(child map[string]any)) []byte {
	c := map[string]any{"name": map[string]any{"given": "Hostile", "family": "Hostile"}, "birth_date": "2016-01-01",
		"address": map[string]any{"postcode": "LS6 2AB"}}
	if edit != nil {
		edit(c)
	}
	b, err := json.Marshal(map[string]any{"schema": "contactpoint.feed-record.v1", "operation": "upsert",
		"source": map[string]any{"agency": "health", "system": system, "record_id": "H1"}, "child": c})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hostileBatch(t *testing.T, id string, events ...map[string]any) []byte {
	b, err := json.Marshal(map[string]any{"child_id": id, "events": events})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func statedEvent(family string) map[string]any {
	return map[string]any{"type": "source.stated", "at": time.Now().UTC(), "stated": map[string]any{
		"source": map[string]any{"agency": "health", "system": "x", "record_id": "H9"},
		"child":  map[string]any{"name": map[string]any{"given": "Hostile", "family": family}, "birth_date": "2016-01-01"},
	}}
}

// incompressible is text that PostgreSQL cannot squeeze into an index entry.
func incompressible(n int) string {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + r.IntN(26))
	}
	return "Hostile" + string(b)
}

func feedsHostiles(t *testing.T) []hostile {
	const subject = "feeds.health.x"
	return []hostile{
		{"empty body", subject, nil, parked.KindUndecodable},
		{"empty object", subject, []byte(`{}`), parked.KindInvalidRecord},
		{"null", subject, []byte(`null`), parked.KindUndecodable},
		{"invalid JSON", subject, []byte(`{"schema": "contactpoint.feed-record.v1", "child": {"name": "Hostile`), parked.KindUndecodable},
		{"an array", subject, []byte(`[1, 2, 3]`), parked.KindUndecodable},
		{"wrong shape", subject, []byte(`{"schema": 7, "source": ["Hostile"], "child": "Hostile"}`), parked.KindUndecodable},
		{"upsert without child", subject, []byte(`{"schema": "contactpoint.feed-record.v1", "operation": "upsert", "source": {"agency": "health", "system": "x", "record_id": "H2"}}`), parked.KindInvalidRecord},
		{"NUL bytes", subject, hostileRecord(t, "x", func(c map[string]any) { c["name"] = map[string]any{"family": "Hostile\x00\x00"} }), parked.KindInvalidRecord},
		{"900 KB string", subject, hostileRecord(t, "x", func(c map[string]any) { c["name"] = map[string]any{"family": strings.Repeat("Hostile", 900<<10/7)} }), parked.KindInvalidRecord},
		{"invalid UTF-8", subject, bytes.Replace(hostileRecord(t, "x", nil), []byte("Hostile"), []byte("Host\xffile"), 1), parked.KindInvalidRecord},
		{"another system's record", subject, hostileRecord(t, "pas", nil), parked.KindInvalidRecord},
	}
}

func childrenHostiles(t *testing.T, existing string) []hostile {
	id := uuid.NewString()
	subject := "children." + id
	return []hostile{
		{"empty body", subject, nil, parked.KindUndecodable},
		{"empty object", subject, []byte(`{}`), parked.KindInvalidEvent},
		{"null", subject, []byte(`null`), parked.KindUndecodable},
		{"invalid JSON", subject, []byte(`{"child_id": "` + id + `", "events": [{"type": "Hostile`), parked.KindUndecodable},
		{"wrong shape", subject, []byte(`{"child_id": 7, "events": "Hostile"}`), parked.KindUndecodable},
		{"stated without payload", subject, hostileBatch(t, id, map[string]any{"type": "source.stated"}), parked.KindInvalidEvent},
		{"another child's batch", subject, hostileBatch(t, uuid.NewString(), statedEvent("Hostile")), parked.KindInvalidEvent},
		{"NUL bytes", subject, hostileBatch(t, id, statedEvent("Host\x00ile")), parked.KindInvalidEvent},
		{"900 KB string", subject, hostileBatch(t, id, statedEvent(strings.Repeat("Hostile", 900<<10/7))), parked.KindInvalidEvent},
		{"subject not a child id", "children.Hostile", hostileBatch(t, id, statedEvent("Hostile")), parked.KindInvalidEvent},
		{"a name no index entry holds", subject, hostileBatch(t, id,
			map[string]any{"type": "child.registered", "registered": map[string]any{"child_id": id, "reason": "x"}},
			statedEvent(incompressible(12000))), parked.KindApplyFailed},
		{"stated without payload on a real child", "children." + existing, hostileBatch(t, existing, map[string]any{"type": "source.stated"}), parked.KindInvalidEvent},
	}
}

// TestPoisonMessagesAreParked puts malformed, empty and hostile messages
// straight into FEEDS, CHILDREN and AUDIT, between valid records, and shows that
// the hub keeps linking and projecting the valid ones, parks each bad one
// once with its reason, shows them to stewards and in the metrics without
// their content, and after a restart on the same data neither loops nor
// parks again.
func TestPoisonMessagesAreParked(t *testing.T) {
	ctx := context.Background()
	cfg := newConfig(t)
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	start := func() *hub.Hub {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		h, err := hub.Start(ctx, cfg, log)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	h := start()

	recs := population(8)
	postOne := func(i int) {
		t.Helper()
		if code, body := post(t, h, "health", "application/x-ndjson", ndjson(recs[i:i+1])); code != http.StatusAccepted {
			t.Fatalf("record %d: %d %v", i, code, body)
		}
	}
	type parkedAt struct{ consumer, stream, kind string }
	want := map[uint64]parkedAt{}   // FEEDS seq
	wantCh := map[uint64]parkedAt{} // CHILDREN seq
	publish := func(hs hostile, into map[uint64]parkedAt, consumer, stream string) {
		t.Helper()
		ack, err := h.NATS.JS.Publish(ctx, hs.subject, hs.body)
		if err != nil {
			t.Fatalf("%s: %v", hs.name, err)
		}
		into[ack.Sequence] = parkedAt{consumer, stream, hs.kind}
	}

	// FEEDS: a valid record before and after each hostile message.
	postOne(0)
	waitProjected(t, h)
	existing := search(t, h, url.Values{"family": {"Family0"}, "birth_date": {recs[0]["child"].(map[string]any)["birth_date"].(string)}})
	if existing.Count != 1 {
		t.Fatalf("first record: %+v", existing)
	}
	for i, hs := range feedsHostiles(t) {
		publish(hs, want, "linker", natsjs.StreamFeeds)
		if i%3 == 0 {
			postOne(1 + i/3)
		}
	}
	// CHILDREN: hostile messages among the linker's own appends.
	for i, hs := range childrenHostiles(t, existing.Results[0].Child.ID) {
		publish(hs, wantCh, "directory", natsjs.StreamChildren)
		if i%4 == 0 {
			postOne(5 + i/4)
		}
	}
	// AUDIT: entries that are not entries, among the hub's own.
	wantAu := map[uint64]parkedAt{}
	for _, hs := range []hostile{
		{"empty object", "audit.view", []byte(`{}`), parked.KindInvalidEntry},
		{"null", "audit.view", []byte(`null`), parked.KindUndecodable},
		{"invalid JSON", "audit.view", []byte(`{"id": "Hostile`), parked.KindUndecodable},
		{"NUL in a reason", "audit.view", []byte(`{"id": "` + uuid.NewString() + `", "at": "2026-01-01T00:00:00Z", "action": "view", "reason": "Host\u0000ile"}`), parked.KindApplyFailed},
	} {
		publish(hs, wantAu, "audit", natsjs.StreamAudit)
	}
	waitProjected(t, h)
	waitAudited(t, h)

	searchable := func(h *hub.Hub) {
		t.Helper()
		for i, r := range recs {
			c := r["child"].(map[string]any)
			family := c["name"].(map[string]any)["family"].(string)
			if res := search(t, h, url.Values{"family": {family}, "birth_date": {c["birth_date"].(string)}}); res.Count != 1 {
				t.Errorf("valid record %d is not searchable: %+v", i, res)
			}
		}
	}
	searchable(h)

	type row struct {
		consumer, stream string
		seq              uint64
		kind, detail     string
		at               time.Time
	}
	parkedRows := func(h *hub.Hub) []row {
		t.Helper()
		rows, err := h.DB.Query(ctx, "select consumer, stream, seq, kind, detail, parked_at from parked_messages order by consumer, stream, seq")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []row
		for rows.Next() {
			var r row
			var seq int64
			if err := rows.Scan(&r.consumer, &r.stream, &seq, &r.kind, &r.detail, &r.at); err != nil {
				t.Fatal(err)
			}
			r.seq = uint64(seq)
			out = append(out, r)
		}
		return out
	}
	check := func(got []row) {
		t.Helper()
		seen := map[string]bool{}
		for _, r := range got {
			w, ok := want[r.seq]
			switch r.stream {
			case natsjs.StreamChildren:
				w, ok = wantCh[r.seq]
			case natsjs.StreamAudit:
				w, ok = wantAu[r.seq]
			}
			if !ok || w != (parkedAt{r.consumer, r.stream, r.kind}) {
				t.Errorf("parked %s %s seq %d as %s (%s), want %+v", r.consumer, r.stream, r.seq, r.kind, r.detail, w)
			}
			key := fmt.Sprint(r.consumer, r.stream, r.seq)
			if seen[key] {
				t.Errorf("parked twice: %s", key)
			}
			seen[key] = true
			if strings.Contains(r.detail, "Hostile") || r.detail == "" {
				t.Errorf("detail %q", r.detail)
			}
		}
		if len(got) != len(want)+len(wantCh)+len(wantAu) {
			t.Errorf("%d parked, want %d", len(got), len(want)+len(wantCh)+len(wantAu))
		}
	}
	before := parkedRows(h)
	check(before)

	// Stewards see them, without content; practitioners do not.
	steward := tokenFor(t, h, "steward", access.RoleSteward)
	code, body := status(t, h, "GET", steward, "/v1/parked", nil)
	var list struct {
		Count  int `json:"count"`
		Parked []struct {
			Consumer, Stream, Reason, Detail string
			Seq                              uint64
			ParkedAt                         time.Time `json:"parked_at"`
		} `json:"parked"`
	}
	if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil || list.Count != len(before) {
		t.Fatalf("GET /v1/parked: %d %v %.300s", code, err, body)
	}
	for _, p := range list.Parked {
		if p.Consumer == "" || p.Stream == "" || p.Seq == 0 || p.Reason == "" || p.ParkedAt.IsZero() {
			t.Fatalf("listed %+v", p)
		}
	}
	if strings.Contains(body, "Hostile") || strings.Contains(body, existing.Results[0].Child.ID) {
		t.Fatalf("the list shows content: %.300s", body)
	}
	if code, _ := status(t, h, "GET", readerToken(t, h), "/v1/parked", nil); code != http.StatusForbidden {
		t.Fatalf("practitioner listing parked messages: %d", code)
	}
	// Operators see them counted.
	admin := tokenFor(t, h, "operator", access.RoleAdmin)
	code, metrics := status(t, h, "GET", admin, "/metrics", nil)
	counts := map[string]int{}
	for _, w := range want {
		counts[fmt.Sprintf("contactpoint_parked_messages{consumer=%q,reason=%q}", w.consumer, w.kind)]++
	}
	for _, w := range wantAu {
		counts[fmt.Sprintf("contactpoint_parked_messages{consumer=%q,reason=%q}", w.consumer, w.kind)]++
	}
	for _, w := range wantCh {
		counts[fmt.Sprintf("contactpoint_parked_messages{consumer=%q,reason=%q}", w.consumer, w.kind)]++
	}
	for series, n := range counts {
		if !strings.Contains(metrics, fmt.Sprintf("%s %d\n", series, n)) {
			t.Errorf("metrics lack %s %d", series, n)
		}
	}
	if code != 200 || strings.Contains(metrics, "Hostile") {
		t.Fatalf("GET /metrics: %d", code)
	}
	if code, _ := status(t, h, "GET", steward, "/metrics", nil); code != http.StatusForbidden {
		t.Fatalf("steward reading metrics: %d", code)
	}

	// A restart on the same event log and database: nothing parked again,
	// and the hub goes on linking.
	h.Close()
	h = start()
	defer h.Close()
	postOne(7)
	waitProjected(t, h)
	waitAudited(t, h)
	searchable(h)
	after := parkedRows(h)
	if !slices.Equal(after, before) {
		t.Fatalf("parked rows changed across a restart:\n%v\n%v", before, after)
	}
	if strings.Contains(logs.String(), "Hostile") {
		t.Fatal("the log quotes a hostile message")
	}
	if n := strings.Count(logs.String(), "consumer failed"); n != 0 {
		t.Fatalf("consumers failed %d times", n)
	}
}
