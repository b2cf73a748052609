package httpapi

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"contactpoint/domain/audit"
	"contactpoint/projections/arrivals"
	"contactpoint/projections/directory"
)

// qualityDays is the window of the daily figures.
const qualityDays = 14

type qualityDay struct {
	Day         string `json:"day"`
	Agency      string `json:"agency"`
	System      string `json:"system"`
	Received    int64  `json:"received"`
	Quarantined int64  `json:"quarantined"`
}

// qualityFresh is one agency system: the records the directory holds, the
// records it has sent in all, and when its last record reached FEEDS.
type qualityFresh struct {
	directory.QualityFreshness
	Received     int64  `json:"received"`
	Since        string `json:"since"` // in words: "3 hours"
	SinceSeconds int64  `json:"since_seconds"`
}

// qualityReport is GET /v1/quality: counts per agency and system, never a
// child's data.
type qualityReport struct {
	GeneratedAt       time.Time                  `json:"generated_at"`
	Days              int                        `json:"days"`
	Daily             []qualityDay               `json:"daily"`
	QuarantineReasons []arrivals.Rule            `json:"quarantine_reasons"`
	Freshness         []qualityFresh             `json:"freshness"`
	Reviews           []directory.QualityReviews `json:"reviews"`
	ShieldsDue        []directory.QualityShields `json:"shields_due"`
}

func (s *Server) registerQuality(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/quality", s.quality)
	mux.HandleFunc("GET /v1/quality/charts/{name}", s.qualityChart)
}

// qualityReport counts, per agency and system, what reached the event log
// on each of the last qualityDays UTC days (projections/arrivals: exact,
// however large the streams) beside what the directory holds now.
func (s *Server) qualityReport(ctx context.Context) (qualityReport, error) {
	now := s.now().UTC()
	since := now.Truncate(24*time.Hour).AddDate(0, 0, -(qualityDays - 1))
	rep := qualityReport{GeneratedAt: now, Days: qualityDays, Daily: []qualityDay{}, QuarantineReasons: []arrivals.Rule{}, Freshness: []qualityFresh{}}
	if s.Arrivals == nil {
		return rep, errors.New("quality: no arrival counts")
	}
	q, err := s.Store.Quality(ctx)
	if err != nil {
		return rep, err
	}
	arr, err := s.Arrivals.Since(ctx, since)
	if err != nil {
		return rep, err
	}
	for _, d := range arr.Daily {
		rep.Daily = append(rep.Daily, qualityDay{Day: d.Day, Agency: d.Agency, System: d.System, Received: d.Received, Quarantined: d.Quarantined})
	}
	if arr.Rules != nil {
		rep.QuarantineReasons = arr.Rules
	}
	// One row per agency system that the directory holds records of or
	// that has sent any: the time since is since its last arrival, or,
	// where the counts hold none (rebuilt after an erasure emptied its
	// days), since the latest statement the directory holds.
	type key struct{ agency, system string }
	fresh := map[key]*qualityFresh{}
	for _, f := range q.Freshness {
		fresh[key{f.Agency, f.System}] = &qualityFresh{QualityFreshness: f}
	}
	for _, l := range arr.Latest {
		k := key{l.Agency, l.System}
		if fresh[k] == nil {
			fresh[k] = &qualityFresh{QualityFreshness: directory.QualityFreshness{Agency: l.Agency, System: l.System}}
		}
		fresh[k].Received, fresh[k].LastRecord = l.Received, l.At
	}
	for _, k := range slices.SortedFunc(maps.Keys(fresh), func(a, b key) int {
		return strings.Compare(a.agency+"\x00"+a.system, b.agency+"\x00"+b.system)
	}) {
		f := fresh[k]
		d := now.Sub(f.LastRecord)
		f.Since, f.SinceSeconds = inWords(d), int64(d/time.Second)
		rep.Freshness = append(rep.Freshness, *f)
	}
	rep.Reviews, rep.ShieldsDue = q.Reviews, q.ShieldsDue
	if rep.Reviews == nil {
		rep.Reviews = []directory.QualityReviews{}
	}
	return rep, nil
}

// inWords says a duration as a steward would: "40 minutes", "3 hours", "2 days".
func inWords(d time.Duration) string {
	plural := func(n int, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return strconv.Itoa(n) + " " + unit + "s"
	}
	switch {
	case d < time.Minute:
		return "under a minute"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute")
	case d < 48*time.Hour:
		return plural(int(d/time.Hour), "hour")
	default:
		return plural(int(d/(24*time.Hour)), "day")
	}
}

func (s *Server) quality(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	rep, err := s.qualityReport(ctx)
	if err != nil {
		s.Log.Error("quality report failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the figures could not be worked out; try again")
		return
	}
	if !s.audited(w, r, audit.Entry{Action: audit.ActView, Subject: "quality", Status: http.StatusOK}) {
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// qualityChart draws one of the report's figures as SVG on the server, so
// the page needs no charting script; every label is XML-escaped text.
func (s *Server) qualityChart(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if name != "daily" && name != "reasons" && name != "reviews" {
		writeError(w, http.StatusNotFound, "not-found", "charts are daily, reasons and reviews")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	rep, err := s.qualityReport(ctx)
	if err != nil {
		s.Log.Error("quality chart failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the figures could not be worked out; try again")
		return
	}
	if !s.audited(w, r, audit.Entry{Action: audit.ActView, Subject: "quality/" + name, Status: http.StatusOK}) {
		return
	}
	var svg string
	switch name {
	case "daily":
		svg = dailyChart(rep)
	case "reasons":
		var bars []bar
		for _, q := range rep.QuarantineReasons {
			bars = append(bars, bar{q.Agency + "/" + q.System + ": " + q.Rule, int(q.Entries)})
		}
		svg = barChart("Quarantined entries by reason", bars)
	case "reviews":
		n := map[string]int{}
		for _, q := range rep.Reviews {
			n[q.Age] += q.Count
		}
		var bars []bar
		for _, a := range directory.ReviewAges {
			bars = append(bars, bar{a, n[a]})
		}
		svg = barChart("Open review tasks by age", bars)
	}
	h := w.Header()
	// An image runs nothing: no script, no outside resource.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "image/svg+xml")
	_, _ = w.Write([]byte(svg))
}

type bar struct {
	label string
	n     int
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// barChart draws horizontal bars, one a row, with the count at the end.
func barChart(title string, bars []bar) string {
	if len(bars) > 20 {
		bars = bars[:20]
	}
	most := 1
	for _, b := range bars {
		most = maxInt(most, b.n)
	}
	const width, label, row = 720, 300, 26
	height := 40 + row*maxInt(len(bars), 1)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" font-family="sans-serif" font-size="13">`, width, height, width, height)
	fmt.Fprintf(&b, `<title>%s</title><rect width="100%%" height="100%%" fill="#fff"/>`, esc(title))
	if len(bars) == 0 {
		fmt.Fprintf(&b, `<text x="10" y="30" fill="#333">None.</text>`)
	}
	for i, x := range bars {
		y := 20 + i*row
		w := (width - label - 60) * x.n / most
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" fill="#1d1d1d">%s</text>`, label-8, y+16, esc(x.label))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="18" fill="#1d4f91"/>`, label, y+3, w)
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#1d1d1d">%d</text>`, label+w+6, y+16, x.n)
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// dailyChart draws received and quarantined records of each day, summed
// over the agencies' systems, as pairs of columns.
func dailyChart(rep qualityReport) string {
	start := rep.GeneratedAt.Truncate(24*time.Hour).AddDate(0, 0, -(rep.Days - 1))
	recv, quar := make([]int, rep.Days), make([]int, rep.Days)
	for _, d := range rep.Daily {
		t, err := time.Parse(time.DateOnly, d.Day)
		if err != nil {
			continue
		}
		if i := int(t.Sub(start) / (24 * time.Hour)); i >= 0 && i < rep.Days {
			recv[i] += int(d.Received)
			quar[i] += int(d.Quarantined)
		}
	}
	most := 1
	for i := range recv {
		most = maxInt(most, maxInt(recv[i], quar[i]))
	}
	const width, height, left, bottom, top = 720, 260, 50, 40, 30
	col := (width - left - 10) / rep.Days
	plot := height - bottom - top
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" font-family="sans-serif" font-size="12">`, width, height, width, height)
	b.WriteString(`<title>Records received and quarantined per day</title><rect width="100%" height="100%" fill="#fff"/>`)
	fmt.Fprintf(&b, `<rect x="%d" y="8" width="12" height="12" fill="#1d4f91"/><text x="%d" y="18" fill="#1d1d1d">received</text>`, left, left+16)
	fmt.Fprintf(&b, `<rect x="%d" y="8" width="12" height="12" fill="#b5411a"/><text x="%d" y="18" fill="#1d1d1d">quarantined</text>`, left+100, left+116)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" fill="#1d1d1d">%d</text><text x="%d" y="%d" text-anchor="end" fill="#1d1d1d">0</text>`, left-6, top+10, most, left-6, top+plot)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#555"/>`, left, top+plot, width-10, top+plot)
	for i := range recv {
		x := left + i*col
		hr, hq := plot*recv[i]/most, plot*quar[i]/most
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#1d4f91"><title>%d received</title></rect>`, x+2, top+plot-hr, col/2-2, hr, recv[i])
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#b5411a"><title>%d quarantined</title></rect>`, x+col/2, top+plot-hq, col/2-2, hq, quar[i])
		if i%2 == 0 || rep.Days <= 7 {
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="#1d1d1d">%s</text>`, x+col/2, top+plot+16, start.AddDate(0, 0, i).Format("2 Jan"))
		}
	}
	b.WriteString(`</svg>`)
	return b.String()
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}
