package directory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Superseded is a child absorbed into another: its id and the CHILDREN
// sequence of the last message the directory applied to its own row,
// which is the last version of that record.
type Superseded struct {
	ID  string
	Seq uint64
}

// absorbedQuery walks merged_into down from survivors, chains included.
const absorbedQuery = `with recursive chain(root, id, seq, depth) as (
		select merged_into, child_id, last_seq, 0 from directory where merged_into = any($1::uuid[])
		union all
		select c.root, d.child_id, d.last_seq, c.depth + 1 from directory d join chain c on d.merged_into = c.id where c.depth < 32)
	select root::text, id::text, seq from chain order by root, id`

// Absorbed returns, for each of ids, the children merged into it, directly
// or through a chain of merges: the records a survivor replaces, each with
// its last version. The walk follows merged_into downwards, which the
// partial index directory_merged_into serves.
func (s *Store) Absorbed(ctx context.Context, ids []string) (map[string][]Superseded, error) {
	out := map[string][]Superseded{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, absorbedQuery, ids)
	if err != nil {
		return nil, fmt.Errorf("absorbed children: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var root, id string
		var seq int64
		if err := rows.Scan(&root, &id, &seq); err != nil {
			return nil, fmt.Errorf("absorbed children: %w", err)
		}
		out[root] = append(out[root], Superseded{ID: id, Seq: uint64(seq)})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("absorbed children: %w", err)
	}
	return out, nil
}

// Own is what the directory holds of one id's own row, merges not
// followed: the sequence of the last message applied to it and whether it
// was absorbed into another child. An archived or erased row is absent,
// as GetAt answers it.
func (s *Store) Own(ctx context.Context, id uuid.UUID) (seq uint64, absorbed bool, err error) {
	var last int64
	var status string
	var archivedOn *time.Time
	err = s.pool.QueryRow(ctx, `select last_seq, merged_into is not null, status, archived_on from directory where child_id = $1`, id).
		Scan(&last, &absorbed, &status, &archivedOn)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, ErrNotFound
	}
	if err != nil {
		return 0, false, fmt.Errorf("own row: %w", err)
	}
	if err := lifeError(status, archivedOn); err != nil {
		return 0, false, err
	}
	return uint64(last), absorbed, nil
}
