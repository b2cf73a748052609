package hub_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"contactpoint/app/hub"
	"contactpoint/domain/access"
	"contactpoint/projections/arrivals"
)

type qualityAnswer struct {
	Daily []struct {
		Day                   string
		Agency, System        string
		Received, Quarantined int64
	} `json:"daily"`
	QuarantineReasons []struct {
		Agency, System, Rule string
		Count                int64
	} `json:"quarantine_reasons"`
	Freshness []struct {
		Agency, System string
		Records        int
		Received       int64
		SinceSeconds   int64 `json:"since_seconds"`
	} `json:"freshness"`
}

func quality(t *testing.T, h *hub.Hub, token string) qualityAnswer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+h.Addr()+"/v1/quality", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/quality: %d", resp.StatusCode)
	}
	var q qualityAnswer
	if err := json.NewDecoder(resp.Body).Decode(&q); err != nil {
		t.Fatal(err)
	}
	return q
}

// TestQualityCountsWhatArrived: the data-quality report's "received" is
// every record FEEDS accepted, on the day it arrived — a record sent again
// with a change counts again though the directory still holds it once, an
// identical resend inside the dedupe window does not count — and
// "quarantined" every refused input, with its rule; the consumers show in
// /v1/status, and a rebuild of either gives the same figures.
func TestQualityCountsWhatArrived(t *testing.T) {
	h := startHub(t, newConfig(t))
	defer h.Close()
	admin := tokenFor(t, h, "quality.admin", access.RoleAdmin)
	recs := population(20)
	changed := population(5)
	for _, r := range changed {
		r["child"].(map[string]any)["gender"] = "unknown"
	}
	bad := strings.Replace(string(example(t, "health")), `"child":{`, `"child":{"notes":"seen in clinic",`, 1)
	bad = strings.Replace(bad, `"royal-infirmary-pas"`, `"pas"`, 1)
	steps := []struct {
		name                  string
		ctype                 string
		body                  []byte
		status                int
		received, quarantined int64 // the day's figures for health/pas after the step
		held                  int   // records the directory holds for health/pas
	}{
		{"first send", "application/x-ndjson", ndjson(recs), http.StatusAccepted, 20, 0, 20},
		{"identical resend", "application/x-ndjson", ndjson(recs), http.StatusAccepted, 20, 0, 20},
		{"five records changed", "application/x-ndjson", ndjson(changed), http.StatusAccepted, 25, 0, 20},
		{"a forbidden field", "application/json", []byte(bad), http.StatusUnprocessableEntity, 25, 1, 20},
	}
	today := time.Now().UTC().Format(time.DateOnly)
	check := func(t *testing.T, when string, received, quarantined int64, held int) {
		t.Helper()
		q := quality(t, h, admin)
		var got, gotQ int64
		for _, d := range q.Daily {
			if d.Agency == "health" && d.System == "pas" && d.Day == today {
				got, gotQ = d.Received, d.Quarantined
			}
		}
		if got != received || gotQ != quarantined {
			t.Errorf("%s: received %d, quarantined %d today; want %d, %d (%+v)", when, got, gotQ, received, quarantined, q.Daily)
		}
		for _, f := range q.Freshness {
			if f.Agency == "health" && f.System == "pas" && (f.Records != held || f.Received != received || f.SinceSeconds > 60) {
				t.Errorf("%s: freshness %+v, want %d held, %d received, a moment ago", when, f, held, received)
			}
		}
		var rule int64
		for _, r := range q.QuarantineReasons {
			if r.Agency == "health" && r.System == "pas" && r.Rule == "forbidden-field" {
				rule = r.Count
			}
		}
		if rule != quarantined {
			t.Errorf("%s: %d entries refused as forbidden-field, want %d (%+v)", when, rule, quarantined, q.QuarantineReasons)
		}
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if code, body := post(t, h, "health", s.ctype, s.body); code != s.status {
				t.Fatalf("status %d, want %d: %v", code, s.status, body)
			}
			waitCaughtUp(t, h)
			check(t, "followed", s.received, s.quarantined, s.held)
		})
	}
	last := steps[len(steps)-1]
	for _, name := range []string{arrivals.FeedsName, arrivals.QuarantineName} {
		if _, err := h.RebuildProjection(t.Context(), name); err != nil {
			t.Fatalf("rebuild %s: %v", name, err)
		}
		check(t, "after rebuilding "+name, last.received, last.quarantined, last.held)
	}
}

// waitCaughtUp waits until the linker and every projection, the arrival
// counts among them, have applied everything (what /v1/status reports).
func waitCaughtUp(t *testing.T, h *hub.Hub) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		lags, err := h.Lags(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		behind, named := false, map[string]bool{}
		for _, l := range lags {
			named[l.Name] = true
			behind = behind || l.Behind > 0
		}
		if !named[arrivals.FeedsName] || !named[arrivals.QuarantineName] {
			t.Fatalf("the arrival counts are not among the consumers: %+v", lags)
		}
		if !behind {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not caught up: %+v", lags)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
