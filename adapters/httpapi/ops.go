package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"contactpoint/adapters/buildinfo"
	"contactpoint/adapters/metrics"
	"contactpoint/app/intake"
	"contactpoint/domain/access"
)

// Check is one thing readiness depends on: a name, whether it holds, and
// why not in words that hold no personal data.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// registerOps adds the operators' public routes: readiness and the build.
func (s *Server) registerOps(mux *http.ServeMux) {
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, buildinfo.Get()) })
}

// readyz answers 200 only when every check holds (PostgreSQL and NATS
// answer, this instance's writers are within the lag bound, the event log
// has room), else 503 with the checks: a load balancer sends no traffic to
// an instance that could not serve it. GET /healthz stays liveness only.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.Ready == nil {
		writeJSON(w, http.StatusOK, map[string]any{"ready": true})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	checks := s.Ready(ctx)
	ready := true
	for _, c := range checks {
		ready = ready && c.OK
	}
	status := http.StatusOK
	if !ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, map[string]any{"ready": ready, "checks": checks})
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush keeps streaming answers (exports) streaming through the wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe logs one line per request and times it in the route's histogram.
// The line holds the method, the route pattern (never the path, which can
// hold an id, nor the query, which holds names and dates of birth), the
// status, the duration and the viewer's register id.
func (s *Server) observe(mux *http.ServeMux, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx, slot := access.WithViewerSlot(r.Context())
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(ctx))
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		_, route := mux.Handler(r)
		if route == "" {
			route = "unmatched"
		}
		d := time.Since(start)
		metrics.HTTPDuration.WithLabelValues(r.Method, route, strconv.Itoa(sw.status/100)+"xx").Observe(d.Seconds())
		if s.Log != nil {
			s.Log.Info("http request", "method", r.Method, "route", route, "status", sw.status,
				"duration_ms", float64(d.Microseconds())/1000, "viewer", slot.ID)
		}
	})
}

// intakeRefused answers a submission the intake would not take now: 429
// with Retry-After while the linker is too far behind, 507 while the event
// log has no room. It reports false for any other error.
func (s *Server) intakeRefused(w http.ResponseWriter, err error, channel string) bool {
	switch {
	case errors.Is(err, intake.ErrBacklog):
		metrics.IntakeRefused.WithLabelValues(channel, "backlog").Inc()
		w.Header().Set("Retry-After", strconv.Itoa(int(intake.RetryAfter/time.Second)))
		writeError(w, http.StatusTooManyRequests, "backlog",
			"the hub is behind with linking; nothing was stored: resend after the Retry-After seconds")
		return true
	case errors.Is(err, intake.ErrStorageFull):
		metrics.IntakeRefused.WithLabelValues(channel, "storage-full").Inc()
		w.Header().Set("Retry-After", "60")
		writeError(w, http.StatusInsufficientStorage, "event-log-full",
			"the event log is out of storage; records not confirmed were not stored: resend once operators have made room")
		return true
	}
	return false
}
