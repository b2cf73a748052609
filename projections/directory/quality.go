package directory

import (
	"context"
	"fmt"
	"time"
)

// Quality figures drawn from the directory: counts only, never a child's
// data, so that stewards and administrators see how each agency's feeds are
// doing without opening a record.
//
// What arrived per day is not here: the directory keeps each record once,
// as it stands now, so projections/arrivals counts arrivals instead.
type Quality struct {
	// Freshness is, per agency and system, how many records the directory
	// holds and when the latest of them was stated.
	Freshness []QualityFreshness
	// Reviews counts open review tasks by reason and age.
	Reviews []QualityReviews
	// ShieldsDue counts shields by how soon their review falls due.
	ShieldsDue []QualityShields
}

// QualityFreshness is one agency system's records and latest statement.
type QualityFreshness struct {
	Agency     string    `json:"agency"`
	System     string    `json:"system"`
	Records    int       `json:"records"`
	LastRecord time.Time `json:"last_record"`
}

// QualityReviews counts open tasks of one reason in one age band.
type QualityReviews struct {
	Why   string `json:"why"`
	Age   string `json:"age"`
	Count int    `json:"count"`
}

// QualityShields counts shields whose review falls in one period.
type QualityShields struct {
	Period string `json:"period"`
	Count  int    `json:"count"`
}

// ReviewAges and ShieldPeriods are the bands, in the order they are shown.
var (
	ReviewAges    = []string{"under a day", "1 to 7 days", "1 to 4 weeks", "over 4 weeks"}
	ShieldPeriods = []string{"overdue", "within 30 days", "within 90 days", "later"}
)

// Quality computes the figures.
func (s *Store) Quality(ctx context.Context) (Quality, error) {
	var q Quality
	// The view holds each active source with the time of its latest
	// statement; only children the directory shows (not merged or erased).
	rows, err := s.pool.Query(ctx, `
		with src as (
			select src->'source'->>'agency' as agency, src->'source'->>'system' as system, (src->>'updated_at')::timestamptz as at
			from directory d, jsonb_array_elements(convert_from(d.view, 'UTF8')::jsonb->'sources') src
			where d.status in ('active', 'archived'))
		select agency, system, count(*), max(at) from src group by 1, 2 order by 1, 2`)
	if err != nil {
		return q, fmt.Errorf("quality: %w", err)
	}
	for rows.Next() {
		var agency, system string
		var n int
		var last *time.Time
		if err := rows.Scan(&agency, &system, &n, &last); err != nil {
			rows.Close()
			return q, fmt.Errorf("quality: %w", err)
		}
		if last != nil {
			q.Freshness = append(q.Freshness, QualityFreshness{Agency: agency, System: system, Records: n, LastRecord: last.UTC()})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return q, fmt.Errorf("quality: %w", err)
	}
	rows, err = s.pool.Query(ctx, `
		select coalesce(evidence->>'why', 'score band'),
			case when now() - requested_at < interval '1 day' then 0 when now() - requested_at < interval '7 days' then 1
				when now() - requested_at < interval '28 days' then 2 else 3 end as band, count(*)
		from review_tasks where status = 'open' group by 1, 2 order by 1, 2`)
	if err != nil {
		return q, fmt.Errorf("quality: %w", err)
	}
	for rows.Next() {
		var r QualityReviews
		var band int
		if err := rows.Scan(&r.Why, &band, &r.Count); err != nil {
			rows.Close()
			return q, fmt.Errorf("quality: %w", err)
		}
		r.Age = ReviewAges[band]
		q.Reviews = append(q.Reviews, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return q, fmt.Errorf("quality: %w", err)
	}
	// A shield's own review date (shield_own), not one a possible
	// duplicate borrows from its guard.
	rows, err = s.pool.Query(ctx, `
		select case when shield_review < current_date then 0 when shield_review < current_date + 30 then 1
			when shield_review < current_date + 90 then 2 else 3 end as band, count(*)
		from directory where shield_own and status = 'active' and shield_review is not null group by 1 order by 1`)
	if err != nil {
		return q, fmt.Errorf("quality: %w", err)
	}
	counts := make([]int, len(ShieldPeriods))
	for rows.Next() {
		var band, n int
		if err := rows.Scan(&band, &n); err != nil {
			rows.Close()
			return q, fmt.Errorf("quality: %w", err)
		}
		counts[band] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return q, fmt.Errorf("quality: %w", err)
	}
	for i, p := range ShieldPeriods {
		q.ShieldsDue = append(q.ShieldsDue, QualityShields{Period: p, Count: counts[i]})
	}
	return q, nil
}
