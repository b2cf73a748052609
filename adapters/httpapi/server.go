// Package httpapi is the hub's HTTP interface: feed intake for agency
// systems and the directory queries for practitioners. Every outward answer
// about a child passes through one Policy before it is written.
package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"contactpoint/adapters/httpjson"
	"contactpoint/adapters/parked"
	"contactpoint/adapters/web"
	"contactpoint/app/intake"
	"contactpoint/domain/audit"
	"contactpoint/domain/child"
	"contactpoint/projections/arrivals"
	"contactpoint/projections/checkpointed"
	"contactpoint/projections/directory"
)

// Limits on intake, each with a clear error when exceeded.
const (
	DefaultMaxBody  = 32 << 20 // bytes in one request
	DefaultMaxBatch = 10000    // records in one NDJSON request
)

// Policy decides what a viewer may see of a child. Every path that answers
// about a child calls it; nil fields of the result are not shown.
type Policy interface {
	View(r *http.Request, v child.View) (child.View, bool)
}

// OpenPolicy shows every view as the directory holds it.
type OpenPolicy struct{}

// View implements Policy.
func (OpenPolicy) View(_ *http.Request, v child.View) (child.View, bool) { return v, true }

// Server holds the handlers' dependencies.
type Server struct {
	Intake   *intake.Service
	Store    *directory.Store
	Linker   Linkage // steward commands; nil leaves their routes out
	Policy   Policy
	Log      *slog.Logger
	MaxBody  int64
	MaxBatch int
	// Audit records every read before it is answered; a read whose record
	// cannot be written is not answered. Nil records nothing (handler tests).
	Audit audit.Recorder
	// Mount, when set, adds the routes of other packages (sign-in, register,
	// audit) to the mux and returns it wrapped in authentication.
	Mount func(*http.ServeMux) http.Handler
	// Children appends shield and involvement decisions; nil refuses them.
	Children ChildLog
	Now      func() time.Time // nil is time.Now
	// Feeds serves file upload and the quarantine; nil answers them 503.
	Feeds *Feeds
	// Timeline reads children's histories (the timeline and ?as_of=); nil
	// answers them 503.
	Timeline Timeline
	// Rules are the directory's survivorship rules, for previews and as_of
	// views; nil is child.DefaultRules.
	Rules child.Rules
	// AuditEntries reads the audit trail, to replay what a view showed; nil
	// answers the replay 503.
	AuditEntries AuditEntries
	// Parked lists parked messages and counts them for /metrics; nil
	// answers the list 503.
	Parked *parked.Store
	// Arrivals counts what reached FEEDS and QUARANTINE per day, for the
	// data-quality report; nil answers the report 503.
	Arrivals *arrivals.Store
	// Notifications lists and retries parked notices; nil answers 503.
	Notifications NotificationQueue
	// FHIR configures the FHIR facade: trusted proxies, throttling.
	FHIR FHIROptions
	// Lags reports how far the linker and each projection are behind
	// their streams, for GET /v1/status and /metrics; nil answers 503.
	Lags func(context.Context) ([]checkpointed.Lag, error)
	// Ready answers GET /readyz's checks; nil is always ready.
	Ready func(context.Context) []Check
	// Collectors are further metrics for /metrics (the hub's leases).
	Collectors []prometheus.Collector
	// Retention records retention exceptions and gives the lifecycle's
	// day; nil answers the exception route 503.
	Retention RetentionService
}

// Handler returns the routes.
func (s *Server) Handler() http.Handler {
	if s.Policy == nil {
		s.Policy = AccessPolicy{}
	}
	if s.MaxBody == 0 {
		s.MaxBody = DefaultMaxBody
	}
	if s.MaxBatch == 0 {
		s.MaxBatch = DefaultMaxBatch
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/feeds/{agency}/records", s.postRecords)
	s.registerFeeds(mux)
	mux.HandleFunc("GET /v1/children", s.searchChildren)
	mux.HandleFunc("GET /v1/children/{id}", s.getChild)
	s.registerRetention(mux)
	mux.HandleFunc("GET /v1/children/{id}/history", s.history)
	mux.HandleFunc("GET /v1/audit/views/{seq}/replay", s.replayView)
	mux.HandleFunc("POST /v1/children/{id}/corrections", s.correct)
	mux.HandleFunc("DELETE /v1/children/{id}/corrections/{field}", s.withdrawCorrection)
	mux.HandleFunc("POST /v1/children/{id}/rejections", s.rejectValue)
	if s.Linker != nil {
		s.registerSteward(mux)
	}
	web.Register(mux)
	mux.HandleFunc("POST /v1/children/{id}/shield", s.applyShield)
	mux.HandleFunc("DELETE /v1/children/{id}/shield", s.liftShield)
	mux.HandleFunc("POST /v1/children/{id}/shield/lift", s.liftShield)
	mux.HandleFunc("GET /v1/shields/due", s.shieldsDue)
	mux.HandleFunc("GET /v1/shields/reveals", s.listReveals)
	mux.HandleFunc("POST /v1/children/{id}/reveal", s.reveal)
	mux.HandleFunc("DELETE /v1/children/{id}/reveal", s.endReveal)
	mux.HandleFunc("POST /v1/children/{id}/involvement", s.indicateInvolvement)
	mux.HandleFunc("GET /fhir/metadata", s.fhirMetadata)
	mux.HandleFunc("GET /fhir/Patient", s.fhirSearch)
	mux.HandleFunc("GET /fhir/Patient/{id}", s.fhirRead)
	mux.HandleFunc("GET /fhir/Patient/{id}/_history/{vid}", s.fhirRead)
	mux.HandleFunc("GET /fhir/Patient/{id}/_history", s.fhirHistory)
	mux.HandleFunc("GET /fhir/Patient/_history", s.fhirHistory)
	mux.HandleFunc("POST /fhir/Patient/_search", s.fhirSearch)
	mux.HandleFunc("GET /fhir/.well-known/smart-configuration", s.fhirSmart)
	s.registerParked(mux)
	s.registerNotifications(mux)
	s.registerQuality(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	s.registerOps(mux)
	if s.Audit == nil {
		s.Audit = audit.Discard{}
	}
	var h http.Handler = mux
	if s.Mount != nil {
		h = s.Mount(mux)
	}
	return s.observe(mux, fhirErrors(recoverer(s.Log, plainParams(h))))
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	httpjson.Error(w, status, code, msg)
}

func writeJSON(w http.ResponseWriter, status int, v any) { httpjson.Write(w, status, v) }

// recoverer turns a panic into a 500 without the panic's text, which could
// hold personal data, reaching the client or the log.
func recoverer(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				log.Error("http: handler panicked", "route", r.Pattern)
				writeError(w, http.StatusInternalServerError, "internal", "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func (s *Server) getChild(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid-id", "child id must be a UUID")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	v, position, err := s.Store.GetAt(ctx, id)
	if s.retired(w, r, id, err) {
		return
	}
	if err == directory.ErrNotFound {
		if !s.audited(w, r, audit.Entry{Action: audit.ActView, Outcome: audit.Refused, Reason: "not-found", Subject: id.String(), Status: http.StatusNotFound}) {
			return
		}
		writeError(w, http.StatusNotFound, "not-found", "no child with that id")
		return
	}
	if err != nil {
		s.Log.Error("get child failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the directory is unavailable; try again")
		return
	}
	if q := r.URL.Query().Get("as_of"); q != "" {
		s.asOf(w, r, id, v, q)
		return
	}
	r, revealed, err := s.revealing(r, v)
	if err != nil {
		s.Log.Error("reveal lookup failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the directory is unavailable; try again")
		return
	}
	shown, ok := s.Policy.View(r, v)
	if !ok {
		if !s.audited(w, r, audit.Entry{Action: audit.ActView, Outcome: audit.Refused, Reason: "withheld", Subject: id.String(), Status: http.StatusNotFound}) {
			return
		}
		writeError(w, http.StatusNotFound, "not-found", "no child with that id")
		return
	}
	entry := audit.Entry{Action: audit.ActView, Children: viewed(id.String(), v.ChildID), Status: http.StatusOK,
		Answer: &audit.Answer{Child: v.ChildID, Position: position, Revealed: revealed}}
	if v.Guard != nil {
		entry.Answer.GuardContact, entry.Answer.GuardCandidates = v.Guard.Contact, v.Guard.Candidates
	}
	if revealed {
		entry.Reason = "break-glass"
	}
	if !s.audited(w, r, entry) {
		return
	}
	writeJSON(w, http.StatusOK, shown)
}

// viewed lists the ids an audit entry of a view names: the id asked for
// and, when it led to a survivor, the survivor, so that "who looked at
// this child" finds the view under either id.
func viewed(asked, shown string) []string {
	if shown == "" || shown == asked {
		return []string{asked}
	}
	return []string{asked, shown}
}

func parseChildID(s string) (uuid.UUID, error) { return uuid.Parse(s) }

// plainParams refuses a request whose query has a control character (NUL,
// a line break, an escape) in a parameter's name or value, naming the
// parameter: no such character belongs in a search, and passed on it would
// reach the database as an error rather than an answer. It runs before
// routing and authentication, so every route gets the same answer.
func plainParams(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			badParams(w, r, "invalid-query", "the query string is not valid URL encoding")
			return
		}
		for k, vs := range q {
			bad := hasControl(k)
			for _, v := range vs {
				bad = bad || hasControl(v)
			}
			if bad {
				name := k
				if hasControl(k) || len(k) > 40 {
					name = "(a parameter name)"
				}
				badParams(w, r, "invalid-parameter", fmt.Sprintf("parameter %q contains a control character", name))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func badParams(w http.ResponseWriter, r *http.Request, code, msg string) {
	if strings.HasPrefix(r.URL.Path, "/fhir/") {
		fhirError(w, http.StatusBadRequest, "invalid", msg)
		return
	}
	writeError(w, http.StatusBadRequest, code, msg)
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return true
		}
	}
	return false
}
