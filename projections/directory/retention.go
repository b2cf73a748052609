package directory

import (
	"context"
	"errors"
	"fmt"
	"time"

	json "github.com/goccy/go-json"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"contactpoint/domain/child"
	"contactpoint/domain/retention"
)

// ErrErased is returned for a child whose personal data has been erased.
// It matches ErrNotFound: to every ordinary read the child is absent.
var ErrErased = fmt.Errorf("%w: the record has been erased", ErrNotFound)

// ArchivedError is returned by ordinary reads of an archived child.
type ArchivedError struct{ On time.Time }

func (e *ArchivedError) Error() string {
	return "the record was archived on " + retention.Format(e.On) + " and is no longer in the directory"
}

// Is makes an archived child not found to every caller that asks.
func (e *ArchivedError) Is(target error) bool { return target == ErrNotFound }

func lifeError(status string, archivedOn *time.Time) error {
	switch status {
	case "erased":
		return ErrErased
	case "archived":
		var on time.Time
		if archivedOn != nil {
			on = *archivedOn
		}
		return &ArchivedError{On: on}
	}
	return nil
}

// retentionColumns are the archive day and the retention facts of a row.
func retentionColumns(st *child.State) (*time.Time, []byte) {
	r := st.Retention
	if r == nil {
		return nil, nil
	}
	var on *time.Time
	if d, err := retention.ParseDay(r.ArchivedOn); err == nil {
		on = &d
	}
	raw, err := json.Marshal(r)
	if err != nil {
		return on, nil
	}
	return on, raw
}

// Life is a child's place in its life, for stewards, auditors and the
// retention scheduler.
type Life struct {
	ChildID    uuid.UUID
	Status     string // active, archived, erased, merged
	ArchivedOn time.Time
	Facts      retention.Facts
}

// GetArchived returns a child's view whatever its place in its life
// (following merges), with that place: for a steward's enquiry within a
// year of archiving and an auditor's stated-reason read. An erased child's
// view holds its id only.
func (s *Store) GetArchived(ctx context.Context, id uuid.UUID) (child.View, Life, error) {
	var v child.View
	var raw, guard, ret []byte
	var l Life
	var on, birth *time.Time
	err := s.pool.QueryRow(ctx, `with recursive chain(id, next, depth) as (
			select child_id, merged_into, 0 from directory where child_id = $1
			union all
			select d.child_id, d.merged_into, c.depth + 1 from directory d join chain c on d.child_id = c.next where c.depth < 32)
		select d.child_id, d.view, d.guard, d.status, d.archived_on, d.birth_date, d.retention
		from chain c join directory d on d.child_id = c.id where c.next is null or d.status = 'erased'
		order by c.depth desc limit 1`, id).Scan(&l.ChildID, &raw, &guard, &l.Status, &on, &birth, &ret)
	if errors.Is(err, pgx.ErrNoRows) {
		return v, l, ErrNotFound
	}
	if err != nil {
		return v, l, fmt.Errorf("get archived child: %w", err)
	}
	l.Facts = facts(birth, on, ret)
	l.ArchivedOn = l.Facts.ArchivedOn
	if l.Status == "erased" {
		return child.View{ChildID: l.ChildID.String()}, l, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, l, fmt.Errorf("get archived child: %w", err)
	}
	if err := attachGuard(&v, guard); err != nil {
		return v, l, fmt.Errorf("get archived child: %w", err)
	}
	return v, l, nil
}

func facts(birth, archivedOn *time.Time, ret []byte) retention.Facts {
	st := child.NewState("")
	if len(ret) > 0 {
		var r child.RetentionState
		if json.Unmarshal(ret, &r) == nil {
			st.Retention = &r
		}
	}
	var b time.Time
	if birth != nil {
		b = *birth
	}
	f := st.RetentionFacts(b)
	if f.ArchivedOn.IsZero() && archivedOn != nil {
		f.ArchivedOn = *archivedOn
	}
	return f
}

// RetentionCandidates lists the children something could be due for on
// today: live children past their 18th birthday or with an exception on
// record, and archived ones. Merged children are their survivors' business
// and erased ones are done. The rules themselves are domain/retention's;
// this only narrows the rows read.
func (s *Store) RetentionCandidates(ctx context.Context, today time.Time) ([]Life, error) {
	adult := retention.Anniversary(today, -retention.ArchiveAge)
	rows, err := s.pool.Query(ctx, `select child_id, status, archived_on, birth_date, retention from directory
		where (status = 'active' and (birth_date <= $1 or retention is not null)) or status = 'archived'
		order by child_id`, adult)
	if err != nil {
		return nil, fmt.Errorf("retention candidates: %w", err)
	}
	defer rows.Close()
	var out []Life
	for rows.Next() {
		var l Life
		var on, birth *time.Time
		var ret []byte
		if err := rows.Scan(&l.ChildID, &l.Status, &on, &birth, &ret); err != nil {
			return nil, fmt.Errorf("retention candidates: %w", err)
		}
		l.Facts = facts(birth, on, ret)
		l.ArchivedOn = l.Facts.ArchivedOn
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("retention candidates: %w", err)
	}
	return out, nil
}

// erased clears what the directory's other tables hold about an erased
// child, in the transaction that applies the tombstone, so that a rebuild
// from CHILDREN ends the same way: its source links (record ids are
// identifiers; the fold drops them, see writeChildren), break-glass
// reveals (their reasons are free text), the
// evidence and source record of review tasks pairing it, and the reasons of
// decisions about it. Its open tasks close as "erased": there is no child
// left to compare, and a steward's queue holds only what can be decided.
// The ids stay: the audit trail and the decision log still prove that the
// child existed and what was decided.
type erased struct {
	child uuid.UUID
	by    string    // who erased it (the lifecycle)
	at    time.Time // the tombstone's time
}

// erasedTaskReason closes a review task whose child or candidate was erased.
const erasedTaskReason = "one of the two children was erased"

func (op erased) queue(b *pgx.Batch) {
	b.Queue(`delete from shield_reveals where child_id = $1`, op.child)
	b.Queue(`update review_tasks set status = 'erased', decided_by = $2, decided_at = $3, reason = $4
		where status = 'open' and (child_id = $1 or candidate_id = $1)`, op.child, op.by, pgTime(op.at), erasedTaskReason)
	b.Queue(`update review_tasks set evidence = null, source_agency = null, source_system = null, source_record_id = null
		where child_id = $1 or candidate_id = $1`, op.child)
	b.Queue(`update linkage_decisions set reason = null where (child_id = $1 or other_id = $1) and reason is not null`, op.child)
}

func (op erased) applyTo(t *bulkTables) {
	for k, r := range t.reveals {
		if r.child == op.child {
			delete(t.reveals, k)
		}
	}
	reason := erasedTaskReason
	clear := func(r *taskRow) {
		if r.status == "open" {
			r.decide("erased", op.by, op.at, &reason)
		}
		r.evidence, r.agency, r.system, r.recordID = nil, nil, nil, nil
	}
	for _, r := range t.byChild[op.child] {
		clear(r)
	}
	for _, r := range t.byCandidate[op.child] {
		clear(r)
	}
	for _, r := range t.decisions {
		if r.child == op.child || r.other == op.child {
			r.reason = nil
		}
	}
}
