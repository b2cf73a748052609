package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"contactpoint/app/notifier"
)

// NotificationQueue is the notifier's parked notices, for administrators.
type NotificationQueue interface {
	List(ctx context.Context, all bool, limit int) ([]notifier.ParkedNotice, error)
	Retry(ctx context.Context, id int64) (notifier.ParkedNotice, error)
}

// registerNotifications adds the parked notices: where and why a delivery
// failed (stream, sequence, kind, reason), never to whom or what it said.
func (s *Server) registerNotifications(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/notifications/parked", s.listParkedNotices)
	mux.HandleFunc("POST /v1/notifications/parked/{id}/retry", s.retryParkedNotice)
}

// listParkedNotices: GET /v1/notifications/parked?all=true&limit=. Open
// ones only unless all=true, newest first.
func (s *Server) listParkedNotices(w http.ResponseWriter, r *http.Request) {
	if s.Notifications == nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "notifications are not configured on this hub")
		return
	}
	q := r.URL.Query()
	limit := 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "invalid-limit", "limit must be a positive number")
			return
		}
		limit = n
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	list, err := s.Notifications.List(ctx, q.Get("all") == "true", limit)
	if err != nil {
		s.Log.Error("parked notices list failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "parked notices could not be read; try again")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": len(list), "parked": list})
}

// retryParkedNotice: POST /v1/notifications/parked/{id}/retry. Accepted,
// not done: the notifier delivers what is still missing and resolves the
// row, or parks it again with the new reason.
func (s *Server) retryParkedNotice(w http.ResponseWriter, r *http.Request) {
	if s.Notifications == nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "notifications are not configured on this hub")
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		writeError(w, http.StatusBadRequest, "invalid-id", "the id of a parked notice is a positive number")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	p, err := s.Notifications.Retry(ctx, id)
	if errors.Is(err, notifier.ErrNoParked) {
		writeError(w, http.StatusNotFound, "not-found", "no open parked notice with this id")
		return
	}
	if err != nil {
		s.Log.Error("parked notice retry failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the retry could not be queued; try again")
		return
	}
	writeJSON(w, http.StatusAccepted, p)
}
