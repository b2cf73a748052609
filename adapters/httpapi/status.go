package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"contactpoint/projections/checkpointed"
)

// status answers how far the linker and every projection are behind their
// streams: names, sequences and seconds, no personal data. GET /healthz
// stays the bare liveness answer.
func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	if s.Lags == nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "status is not available on this hub")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	lags, err := s.Lags(ctx)
	if err != nil {
		s.Log.Error("status failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "status could not be read; try again")
		return
	}
	caught := true
	for _, l := range lags {
		caught = caught && l.Behind == 0
	}
	writeJSON(w, http.StatusOK, map[string]any{"caught_up": caught, "consumers": lags})
}

var (
	lagEventsDesc = prometheus.NewDesc("contactpoint_projection_lag_events",
		"Stream messages after the consumer's checkpoint.", []string{"consumer", "stream"}, nil)
	lagSecondsDesc = prometheus.NewDesc("contactpoint_projection_lag_seconds",
		"How long the oldest message the consumer has not applied has waited (0 when caught up).", []string{"consumer", "stream"}, nil)
)

// lagCollector reads the lags at each scrape; labels are the consumers' and
// streams' fixed names.
type lagCollector struct {
	lags func(context.Context) ([]checkpointed.Lag, error)
}

func (c lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- lagEventsDesc; ch <- lagSecondsDesc }

func (c lagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	lags, err := c.lags(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(lagEventsDesc, err)
		return
	}
	for _, l := range lags {
		ch <- prometheus.MustNewConstMetric(lagEventsDesc, prometheus.GaugeValue, float64(l.Behind), l.Name, l.Stream)
		ch <- prometheus.MustNewConstMetric(lagSecondsDesc, prometheus.GaugeValue, l.Seconds, l.Name, l.Stream)
	}
}
