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

	"contactpoint/domain/child"
)

// updateGuards works out, for the children a batch touched and every child
// a review task pairs them with, whether an open task pairs them with a
// shielded child, and keeps the guard and the restricted flag (shielded)
// in step: a possible duplicate of a shielded child is restricted until a
// steward decides (domain/access.Restricted). It runs in the batch's
// transaction, after the rows and the review tasks are written, so the
// flag never lags the task that causes it.
func updateGuards(ctx context.Context, tx pgx.Tx, ids []uuid.UUID) error {
	if len(ids) == 0 {
		return nil
	}
	// As [16]byte: see directoryRow.
	ids16 := make([][16]byte, len(ids))
	for i, id := range ids {
		ids16[i] = id
	}
	// Most batches touch no child that any review task names, nor one
	// that holds a guard: then no guard can change and the rows' upsert
	// has already set shielded from the child's own shield. (A merge moves
	// the absorbed child's tasks to the survivor, so the absorbed child can
	// hold a guard that no task names any more.)
	var any bool
	// Joined to the ids rather than "= any($1)", which tests a parameter
	// array end to end for every row: a bulk load passes every child.
	if err := tx.QueryRow(ctx, `with touched as (select unnest($1::uuid[]) as id)
		select exists(select 1 from review_tasks t join touched x on t.child_id = x.id)
			or exists(select 1 from review_tasks t join touched x on t.candidate_id = x.id)
			or exists(select 1 from directory d join touched x on d.child_id = x.id where d.guard is not null)`, ids16).Scan(&any); err != nil {
		return fmt.Errorf("directory: guards: %w", err)
	}
	if !any {
		return nil
	}
	// Set-based: the open tasks of every affected child as edges (both
	// ways), joined once to the other side's own shield.
	_, err := tx.Exec(ctx, `with touched as (select unnest($1::uuid[]) as id),
		affected as (
			select id from touched
			union select t.candidate_id from review_tasks t join touched x on t.child_id = x.id
			union select t.child_id from review_tasks t join touched x on t.candidate_id = x.id),
		edges as (
			select t.child_id as x, t.candidate_id as y from review_tasks t join affected a on a.id = t.child_id where t.status = 'open'
			union all
			select t.candidate_id, t.child_id from review_tasks t join affected a on a.id = t.candidate_id where t.status = 'open'),
		guards as (
			select e.x as id, jsonb_build_object('candidates', jsonb_agg(distinct s.child_id::text order by s.child_id::text),
				'contact', min(s.shield_contact)) as guard
			from edges e join directory s on s.child_id = e.y
			where s.shield_own and s.child_id <> e.x
			group by e.x),
		want as (select a.id, g.guard from affected a left join guards g on g.id = a.id)
		update directory d set guard = w.guard, shielded = d.shield_own or w.guard is not null
		from want w
		where d.child_id = w.id
		  and (d.guard is distinct from w.guard or d.shielded is distinct from (d.shield_own or w.guard is not null))`, ids16)
	if err != nil {
		return fmt.Errorf("directory: guards: %w", err)
	}
	return nil
}

// attachGuard puts the directory's guard column into a view read from it.
func attachGuard(v *child.View, raw []byte) error {
	if len(raw) == 0 {
		return nil
	}
	var g child.Guard
	if err := json.Unmarshal(raw, &g); err != nil {
		return fmt.Errorf("guard: %w", err)
	}
	v.Guard = &g
	return nil
}

// Reveal is a break-glass reveal.
type Reveal struct {
	Seq            int64     `json:"seq"`
	ChildID        uuid.UUID `json:"child_id"`
	PractitionerID string    `json:"practitioner_id"`
	Reason         string    `json:"reason"`
	RevealedAt     time.Time `json:"revealed_at"`
	Until          time.Time `json:"until"`
}

// ErrNoReveal is returned when the viewer has no reveal of the child open.
var ErrNoReveal = errors.New("no open reveal")

// ActiveReveal returns the practitioner's open reveal of the child at now.
func (s *Store) ActiveReveal(ctx context.Context, practitioner string, childID uuid.UUID, now time.Time) (Reveal, error) {
	var r Reveal
	err := s.pool.QueryRow(ctx, `select seq, child_id, practitioner_id, reason, revealed_at, until from shield_reveals
		where practitioner_id = $1 and child_id = $2 and until > $3 order by seq desc limit 1`, practitioner, childID, now).
		Scan(&r.Seq, &r.ChildID, &r.PractitionerID, &r.Reason, &r.RevealedAt, &r.Until)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, ErrNoReveal
	}
	if err != nil {
		return r, fmt.Errorf("active reveal: %w", err)
	}
	return r, nil
}

// RevealAt returns the reveal the event at CHILDREN sequence seq recorded,
// once the projection has applied it.
func (s *Store) RevealAt(ctx context.Context, seq uint64) (Reveal, error) {
	var r Reveal
	err := s.pool.QueryRow(ctx, `select seq, child_id, practitioner_id, reason, revealed_at, until from shield_reveals
		where seq = $1 limit 1`, int64(seq)).Scan(&r.Seq, &r.ChildID, &r.PractitionerID, &r.Reason, &r.RevealedAt, &r.Until)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, ErrNoReveal
	}
	if err != nil {
		return r, fmt.Errorf("reveal: %w", err)
	}
	return r, nil
}

// Reveals lists break-glass reveals since `since`, newest first, for shield
// officers to look into.
func (s *Store) Reveals(ctx context.Context, since time.Time, limit int) ([]Reveal, error) {
	if limit <= 0 || limit > 1000 {
		limit = 200
	}
	rows, err := s.pool.Query(ctx, `select seq, child_id, practitioner_id, reason, revealed_at, until from shield_reveals
		where revealed_at >= $1 order by revealed_at desc, seq desc limit $2`, since, limit)
	if err != nil {
		return nil, fmt.Errorf("reveals: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Reveal, error) {
		var r Reveal
		err := row.Scan(&r.Seq, &r.ChildID, &r.PractitionerID, &r.Reason, &r.RevealedAt, &r.Until)
		return r, err
	})
}

// Restricted returns which of ids are restricted (shielded, or guarded as a
// possible duplicate of a shielded child), following merges to survivors.
func (s *Store) Restricted(ctx context.Context, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(ids) == 0 {
		return out, nil
	}
	var us []uuid.UUID
	for _, id := range ids {
		if u, err := uuid.Parse(id); err == nil {
			us = append(us, u)
		}
	}
	rows, err := s.pool.Query(ctx, `with recursive chain(start, id, next, shielded, depth) as (
			select child_id, child_id, merged_into, shielded, 0 from directory where child_id = any($1)
			union all
			select c.start, d.child_id, d.merged_into, d.shielded, c.depth + 1 from directory d join chain c on d.child_id = c.next where c.depth < 32)
		select distinct start from chain where shielded`, us)
	if err != nil {
		return nil, fmt.Errorf("restricted: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("restricted: %w", err)
		}
		out[id.String()] = true
	}
	return out, rows.Err()
}

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
	rows, err := s.pool.Query(ctx, `select child_id, coalesce(shield_review::text, ''), view, guard from directory
		where shield_own and (shield_review is null or shield_review <= $1)
		order by shield_review nulls first, child_id limit $2`, by, limit)
	if err != nil {
		return nil, fmt.Errorf("shields due: %w", err)
	}
	defer rows.Close()
	var out []DueShield
	for rows.Next() {
		var d DueShield
		var raw, guard []byte
		if err := rows.Scan(&d.ChildID, &d.Review, &raw, &guard); err != nil {
			return nil, fmt.Errorf("shields due: %w", err)
		}
		if err := json.Unmarshal(raw, &d.View); err != nil {
			return nil, fmt.Errorf("shields due: %w", err)
		}
		if err := attachGuard(&d.View, guard); err != nil {
			return nil, fmt.Errorf("shields due: %w", err)
		}
		if d.View.Shield != nil {
			d.Shield = *d.View.Shield
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// SourceKey names one source record, for RestrictedSources.
type SourceKey struct{ Agency, System, RecordID string }

// RestrictedSources returns which of the source records belong to a
// restricted child, with the child's id.
func (s *Store) RestrictedSources(ctx context.Context, keys []SourceKey) (map[SourceKey]uuid.UUID, error) {
	out := map[SourceKey]uuid.UUID{}
	if len(keys) == 0 {
		return out, nil
	}
	ag, sy, id := make([]string, len(keys)), make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		ag[i], sy[i], id[i] = k.Agency, k.System, k.RecordID
	}
	rows, err := s.pool.Query(ctx, `select s.agency, s.system, s.record_id, d.child_id
		from unnest($1::text[], $2::text[], $3::text[]) k(agency, system, record_id)
		join directory_sources s using (agency, system, record_id)
		join directory d on d.child_id = s.child_id
		where d.shielded`, ag, sy, id)
	if err != nil {
		return nil, fmt.Errorf("restricted sources: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k SourceKey
		var c uuid.UUID
		if err := rows.Scan(&k.Agency, &k.System, &k.RecordID, &c); err != nil {
			return nil, fmt.Errorf("restricted sources: %w", err)
		}
		out[k] = c
	}
	return out, rows.Err()
}

// RestrictedByIdentifier returns a restricted child holding the NHS number
// or UPN, if there is one.
func (s *Store) RestrictedByIdentifier(ctx context.Context, nhs, upn string) (uuid.UUID, bool, error) {
	if nhs == "" && upn == "" {
		return uuid.Nil, false, nil
	}
	var id uuid.UUID
	err := s.pool.QueryRow(ctx, `select child_id from directory
		where shielded and ((nhs_number = $1 and $1 <> '') or (upn = $2 and $2 <> '')) limit 1`, nhs, strings.ToUpper(upn)).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, false, nil
	}
	if err != nil {
		return uuid.Nil, false, fmt.Errorf("restricted by identifier: %w", err)
	}
	return id, true, nil
}
