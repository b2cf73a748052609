package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"contactpoint/adapters/metrics"
	"contactpoint/adapters/parked"
)

// registerParked adds the parked messages for data stewards and the
// metrics for operators. Both show where and why, never what: no message
// body, no subject, no value from a message.
func (s *Server) registerParked(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/parked", s.listParked)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if s.Parked != nil {
		reg.MustRegister(parked.NewCollector(s.Parked))
	}
	if s.Lags != nil {
		reg.MustRegister(lagCollector{s.Lags})
	}
	reg.MustRegister(metrics.Collectors()...)
	reg.MustRegister(s.Collectors...)
	mux.HandleFunc("GET /v1/status", s.status)
	// Behind the access policy like every staff route: administrators only
	// (domain/access/routes.go), so a scraper signs in as one.
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
}

// listParked lists the messages the linker and the projections parked,
// newest first.
func (s *Server) listParked(w http.ResponseWriter, r *http.Request) {
	if s.Parked == nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "parked messages are not available on this hub")
		return
	}
	q := r.URL.Query()
	f := parked.Filter{Consumer: q.Get("consumer"), Stream: q.Get("stream")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "invalid-limit", "limit must be a positive number")
			return
		}
		f.Limit = n
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	list, err := s.Parked.List(ctx, f)
	if err != nil {
		s.Log.Error("parked list failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "parked messages could not be read; try again")
		return
	}
	if list == nil {
		list = []parked.Entry{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": len(list), "parked": list})
}
