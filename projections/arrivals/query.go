package arrivals

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Store reads the counts.
type Store struct{ pool *pgxpool.Pool }

// NewStore returns a Store on pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Day is one agency system's arrivals on one UTC day.
type Day struct {
	Day         string `json:"day"` // YYYY-MM-DD
	Agency      string `json:"agency"`
	System      string `json:"system"`
	Received    int64  `json:"received"`
	Quarantined int64  `json:"quarantined"`
}

// Rule is how many entries one rule refused for one agency system.
type Rule struct {
	Agency  string `json:"agency"`
	System  string `json:"system"`
	Rule    string `json:"rule"`
	Entries int64  `json:"count"`
}

// Latest is when an agency system's last record reached FEEDS, and how many
// it has sent in all.
type Latest struct {
	Agency   string
	System   string
	Received int64
	At       time.Time
}

// Report is the counts from a day on.
type Report struct {
	// Daily is per day, agency and system from since on, in that order.
	Daily []Day
	// Rules counts quarantined entries by rule from since on, most first.
	Rules []Rule
	// Latest is per agency and system over all time.
	Latest []Latest
}

// Since reads the counts from the UTC day of since on.
func (s *Store) Since(ctx context.Context, since time.Time) (Report, error) {
	var rep Report
	day := since.UTC().Format(time.DateOnly)
	rows, err := s.pool.Query(ctx, `
		select to_char(day, 'YYYY-MM-DD'), agency, system, sum(received), sum(quarantined) from (
			select day, agency, system, received, 0 as quarantined from feed_arrivals where day >= $1
			union all
			select day, agency, system, 0, quarantined from quarantine_arrivals where day >= $1) a
		group by day, agency, system order by day, agency, system`, day)
	if err != nil {
		return rep, fmt.Errorf("arrivals per day: %w", err)
	}
	for rows.Next() {
		var d Day
		if err := rows.Scan(&d.Day, &d.Agency, &d.System, &d.Received, &d.Quarantined); err != nil {
			rows.Close()
			return rep, fmt.Errorf("arrivals per day: %w", err)
		}
		rep.Daily = append(rep.Daily, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return rep, fmt.Errorf("arrivals per day: %w", err)
	}
	rows, err = s.pool.Query(ctx, `select agency, system, rule, sum(entries) from quarantine_arrival_rules where day >= $1
		group by 1, 2, 3 order by 4 desc, 1, 2, 3`, day)
	if err != nil {
		return rep, fmt.Errorf("quarantine by rule: %w", err)
	}
	for rows.Next() {
		var r Rule
		if err := rows.Scan(&r.Agency, &r.System, &r.Rule, &r.Entries); err != nil {
			rows.Close()
			return rep, fmt.Errorf("quarantine by rule: %w", err)
		}
		rep.Rules = append(rep.Rules, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return rep, fmt.Errorf("quarantine by rule: %w", err)
	}
	rows, err = s.pool.Query(ctx, `select agency, system, sum(received), max(last_at) from feed_arrivals group by 1, 2 order by 1, 2`)
	if err != nil {
		return rep, fmt.Errorf("latest arrivals: %w", err)
	}
	for rows.Next() {
		var l Latest
		if err := rows.Scan(&l.Agency, &l.System, &l.Received, &l.At); err != nil {
			rows.Close()
			return rep, fmt.Errorf("latest arrivals: %w", err)
		}
		l.At = l.At.UTC()
		rep.Latest = append(rep.Latest, l)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return rep, fmt.Errorf("latest arrivals: %w", err)
	}
	return rep, nil
}
