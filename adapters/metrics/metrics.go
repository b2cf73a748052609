// Package metrics holds the hub's own Prometheus metrics, shared by the
// packages that count and the /metrics route that shows them. Every label
// comes from a fixed set (outcomes, route patterns, stream and consumer
// names) or from an authenticated channel's agency and system: never a
// value from a record, a query or a name.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	// IntakeRecords counts records by the channel's agency and system and
	// by outcome: accepted, duplicate or quarantined.
	IntakeRecords = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "contactpoint_intake_records_total",
		Help: "Feed records taken in, by agency, system and outcome (accepted, duplicate, quarantined).",
	}, []string{"agency", "system", "outcome"})

	// IntakeRefused counts submissions refused before validation, by
	// channel and reason (backlog, storage-full, unavailable).
	IntakeRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "contactpoint_intake_refused_total",
		Help: "Feed submissions refused before they were read, by channel (http, mllp, nats) and reason (backlog, storage-full).",
	}, []string{"channel", "reason"})

	// LinkerDecisions counts the linker's decisions on feed records.
	LinkerDecisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "contactpoint_linker_decisions_total",
		Help: "Linker decisions by outcome: linked (to an existing child), new (a child registered), review (sent to a steward), updated (a known record changed).",
	}, []string{"outcome"})

	// HTTPDuration times every request by method, route pattern and status
	// class; the search is route "GET /v1/children", the record view
	// "GET /v1/children/{id}".
	HTTPDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "contactpoint_http_request_duration_seconds",
		Help:    "HTTP request duration by method, route pattern and status class (search: GET /v1/children, view: GET /v1/children/{id}).",
		Buckets: []float64{.001, .0025, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"method", "route", "status"})

	// AuditWrite times writes to the audit trail (every read waits for one).
	AuditWrite = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "contactpoint_audit_write_seconds",
		Help:    "Time to write one audit entry to the AUDIT stream, by result (ok, failed).",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .02, .05, .1, .25, 1},
	}, []string{"result"})
)

// Collectors are the metrics above, for a registry.
func Collectors() []prometheus.Collector {
	return []prometheus.Collector{IntakeRecords, IntakeRefused, LinkerDecisions, HTTPDuration, AuditWrite}
}

// Since observes the time from start on h.
func Since(h prometheus.Observer, start time.Time) { h.Observe(time.Since(start).Seconds()) }
