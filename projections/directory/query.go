package directory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"contactpoint/domain/child"
)

// Store answers queries over the directory tables.
type Store struct{ pool *pgxpool.Pool }

// NewStore returns a query store.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Criteria of a directory search.
type Criteria struct {
	Family    string
	Given     string
	BirthDate string // YYYY-MM-DD
	Postcode  string // normalised
	Limit     int
}

// Hit is one search result: the child's view and how close it came.
type Hit struct {
	View  child.View
	Score float64
}

// ErrNotFound is returned for an id the directory does not hold.
var ErrNotFound = errors.New("child not found")

// Search finds children by name (typo-tolerant by trigram similarity),
// date of birth and postcode, closest first.
func (s *Store) Search(ctx context.Context, c Criteria) ([]Hit, error) {
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	score := []string{"0"}
	if c.Family != "" {
		a := arg(strings.ToLower(c.Family))
		where = append(where, fmt.Sprintf("(family_name %% %s or dmetaphone(family_name) = dmetaphone(%s))", a, a))
		score = append(score, fmt.Sprintf("similarity(family_name, %s)", a))
	}
	if c.Given != "" {
		a := arg(strings.ToLower(c.Given))
		where = append(where, fmt.Sprintf("(given_name %% %s or dmetaphone(given_name) = dmetaphone(%s) or names ilike '%%' || %s || '%%')", a, a, a))
		score = append(score, fmt.Sprintf("similarity(given_name, %s)", a))
	}
	if c.BirthDate != "" {
		d, err := time.Parse(time.DateOnly, c.BirthDate)
		if err != nil {
			return nil, fmt.Errorf("birth_date: %w", err)
		}
		where = append(where, "birth_date = "+arg(d))
	}
	if c.Postcode != "" {
		where = append(where, "postcode = "+arg(c.Postcode))
	}
	if len(where) == 0 {
		return nil, errors.New("search needs at least one criterion")
	}
	limit := c.Limit
	if limit <= 0 || limit > 100 {
		limit = 50
	}
	q := fmt.Sprintf(`select view, (%s) as score from directory where status = 'active' and %s order by score desc, child_id limit %d`,
		strings.Join(score, " + "), strings.Join(where, " and "), limit)
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("search directory: %w", err)
	}
	defer rows.Close()
	var out []Hit
	for rows.Next() {
		var raw []byte
		var h Hit
		if err := rows.Scan(&raw, &h.Score); err != nil {
			return nil, fmt.Errorf("search directory: %w", err)
		}
		if err := json.Unmarshal(raw, &h.View); err != nil {
			return nil, fmt.Errorf("search directory: %w", err)
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// Get returns one child's view.
func (s *Store) Get(ctx context.Context, id uuid.UUID) (child.View, error) {
	var v child.View
	var raw []byte
	err := s.pool.QueryRow(ctx, "select view from directory where child_id = $1", id).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return v, ErrNotFound
	}
	if err != nil {
		return v, fmt.Errorf("get child: %w", err)
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, fmt.Errorf("get child: %w", err)
	}
	return v, nil
}

// Count returns how many children and source records the directory holds.
func (s *Store) Count(ctx context.Context) (children, sources int, err error) {
	err = s.pool.QueryRow(ctx, "select (select count(*) from directory), (select count(*) from directory_sources)").Scan(&children, &sources)
	return
}
