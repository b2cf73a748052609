package audit

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	domainaudit "contactpoint/domain/audit"
)

// Thresholds of the misuse signals; deployments set them in config.
type Thresholds struct {
	// A practitioner who views more than PeerFactor times the median of
	// their peers' distinct children in an hour, and at least
	// MinViewsPerHour, is listed.
	PeerFactor      float64 `mapstructure:"peer-factor"`
	MinViewsPerHour int     `mapstructure:"min-views-per-hour"`
	// Refused attempts to open withheld (shielded) records in a day.
	WithheldAttempts int `mapstructure:"withheld-attempts"`
	// Searches in a day outside working hours (or at weekends).
	OffHoursSearches int    `mapstructure:"off-hours-searches"`
	WorkStart        int    `mapstructure:"work-start"` // hour, local time
	WorkEnd          int    `mapstructure:"work-end"`
	TimeZone         string `mapstructure:"time-zone"`
	// A practitioner who opens, in an hour, more than UnsearchedViews
	// distinct children that no search of theirs returned in the
	// SearchLookbackMinutes before is listed: they are opening records by
	// id rather than finding them, as someone holding a list of ids would.
	// Zero turns the signal off (configuration must set at least 1).
	UnsearchedViews       int `mapstructure:"unsearched-views"`
	SearchLookbackMinutes int `mapstructure:"search-lookback-minutes"`
}

// DefaultThresholds are a starting point for a pilot.
var DefaultThresholds = Thresholds{PeerFactor: 3, MinViewsPerHour: 20, WithheldAttempts: 3,
	OffHoursSearches: 20, WorkStart: 8, WorkEnd: 18, TimeZone: "Europe/London",
	UnsearchedViews: 10, SearchLookbackMinutes: 60}

// Signal kinds.
const (
	SignalHighVolume   = "high-volume-views"
	SignalWithheld     = "repeated-withheld-attempts"
	SignalOffHoursBulk = "off-hours-bulk-searches"
	SignalUnsearched   = "views-without-search"
	// SignalBreakGlass: every break-glass reveal is looked into, so each
	// day with one is a signal (threshold 1), whatever the other figures.
	SignalBreakGlass = "break-glass-reveal"
)

// Signal is one practitioner's pattern of use worth an auditor's look.
type Signal struct {
	Kind         string    `json:"kind"`
	Actor        string    `json:"actor"`
	ActorName    string    `json:"actor_name,omitempty"`
	Organisation string    `json:"organisation,omitempty"`
	Window       time.Time `json:"window"` // start of the hour or day
	Count        int       `json:"count"`
	Threshold    float64   `json:"threshold"`
}

// Signals lists the signals in r, by window then kind.
func (s *Store) Signals(ctx context.Context, t Thresholds, r Range) ([]Signal, error) {
	if r.To.IsZero() {
		r.To = time.Now().Add(time.Hour)
	}
	if _, err := time.LoadLocation(t.TimeZone); err != nil {
		return nil, fmt.Errorf("signals: time zone %q: %w", t.TimeZone, err)
	}
	rows, err := s.pool.Query(ctx, `
	with views as (
	  select actor, date_trunc('hour', at) w, count(distinct c)::int n
	  from audit_events, unnest(children) c
	  where action = 'view' and outcome = 'ok' and actor <> '' and at >= $1 and at < $2
	  group by 1, 2),
	peers as (select w, percentile_cont(0.5) within group (order by n) med from views group by w),
	high as (
	  select $3::text kind, v.actor, v.w, v.n, greatest($5::float8 * p.med, $4::float8) thr
	  from views v join peers p using (w)
	  where v.n >= $4 and v.n > $5 * p.med),
	withheld as (
	  select $6::text, actor, date_trunc('day', at at time zone $10) at time zone $10, count(*)::int, $7::float8
	  from audit_events
	  where outcome = 'refused' and reason in ('withheld', 'shielded') and actor <> '' and at >= $1 and at < $2
	  group by 2, 3 having count(*) >= $7),
	offhours as (
	  select $8::text, actor, date_trunc('day', at at time zone $10) at time zone $10, count(*)::int, $9::float8
	  from audit_events
	  where action = 'search' and actor <> '' and at >= $1 and at < $2
	    and (extract(hour from at at time zone $10) < $11 or extract(hour from at at time zone $10) >= $12
	         or extract(isodow from at at time zone $10) >= 6)
	  group by 2, 3 having count(*) >= $9),
	opened as (
	  -- every child a practitioner tried to open by id: shown (children)
	  -- or refused (subject)
	  select a.actor, a.at, c
	  from audit_events a, unnest(a.children || case when a.subject <> '' then array[a.subject] else '{}'::text[] end) c
	  where a.action = 'view' and a.actor <> '' and 'practitioner' = any(a.roles) and a.at >= $1 and a.at < $2),
	unsearched as (
	  select $13::text, o.actor, date_trunc('hour', o.at), count(distinct o.c)::int, $14::float8
	  from opened o
	  where $14 > 0 and not exists (
	    select 1 from audit_events s
	    where s.action = 'search' and s.actor = o.actor and s.children @> array[o.c]
	      and s.at <= o.at and s.at >= o.at - make_interval(mins => $15))
	  group by 2, 3 having count(distinct o.c) > $14),
	breakglass as (
	  select $16::text, actor, date_trunc('day', at at time zone $10) at time zone $10, count(*)::int, 1::float8
	  from audit_events
	  where action = $17 and outcome = 'ok' and actor <> '' and at >= $1 and at < $2
	  group by 2, 3)
	select s.kind, s.actor, coalesce(p.state->>'name', ''), coalesce(p.state->>'organisation', ''), s.w, s.n, s.thr
	from (select * from high union all select * from withheld union all select * from offhours
	      union all select * from unsearched union all select * from breakglass) s(kind, actor, w, n, thr)
	left join practitioners p on p.id::text = s.actor
	order by s.w, s.kind, s.n desc`,
		r.From, r.To, SignalHighVolume, t.MinViewsPerHour, t.PeerFactor, SignalWithheld, t.WithheldAttempts,
		SignalOffHoursBulk, t.OffHoursSearches, t.TimeZone, t.WorkStart, t.WorkEnd,
		SignalUnsearched, t.UnsearchedViews, t.SearchLookbackMinutes, SignalBreakGlass, domainaudit.ActReveal)
	if err != nil {
		return nil, fmt.Errorf("signals: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Signal, error) {
		var g Signal
		err := row.Scan(&g.Kind, &g.Actor, &g.ActorName, &g.Organisation, &g.Window, &g.Count, &g.Threshold)
		return g, err
	})
}
