package directory

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"contactpoint/domain/child"
)

// shieldColumns gives the search columns that carry a child's shield.
func shieldColumns(s *child.State) (bool, *time.Time) {
	if s.Shield == nil {
		return false, nil
	}
	if d, err := time.Parse(time.DateOnly, s.Shield.ReviewDate); err == nil {
		return true, &d
	}
	return true, nil
}

// DueShield is a shield whose review date has come or is near.
type DueShield struct {
	ChildID uuid.UUID    `json:"child_id"`
	Review  string       `json:"review_date"`
	Shield  child.Shield `json:"shield"`
	View    child.View   `json:"-"`
}

// ShieldsDue lists shielded children whose review date is on or before
// `by`, earliest first. It is for shield officers only; callers check.
func (s *Store) ShieldsDue(ctx context.Context, by time.Time, limit int) ([]DueShield, error) {
	if limit <= 0 || limit > 1000 {
		limit = 200
	}
	rows, err := s.pool.Query(ctx, `select child_id, coalesce(shield_review::text, ''), view from directory
		where shielded and (shield_review is null or shield_review <= $1)
		order by shield_review nulls first, child_id limit $2`, by, limit)
	if err != nil {
		return nil, fmt.Errorf("shields due: %w", err)
	}
	defer rows.Close()
	var out []DueShield
	for rows.Next() {
		var d DueShield
		var raw []byte
		if err := rows.Scan(&d.ChildID, &d.Review, &raw); err != nil {
			return nil, fmt.Errorf("shields due: %w", err)
		}
		if err := json.Unmarshal(raw, &d.View); err != nil {
			return nil, fmt.Errorf("shields due: %w", err)
		}
		if d.View.Shield != nil {
			d.Shield = *d.View.Shield
		}
		out = append(out, d)
	}
	return out, rows.Err()
}
