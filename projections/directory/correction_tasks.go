package directory

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"contactpoint/domain/child"
)

// Correction-conflict tasks live in review_tasks beside the linker's, so
// that one queue, one filter, one order and one pager serve both. They are
// derived from the child's state (child.State.ConflictTasks, the rule the
// view's correction_conflicts follows), never from single events: a rebuild
// gives the same rows, and a task closes by leaving the queue the moment the
// conflict ends (a steward kept the correction or withdrew it, a source
// restated the corrected value or was withdrawn); the decision itself is in
// the child's timeline.
//
// Their ids are conflictTaskBase + 4 × the FEEDS sequence of the
// contradicting statement + the field's place, which a rebuild also
// reproduces. The linker's tasks are numbered by CHILDREN sequence, far
// below 2^52; and 2^52 + 2^52 stays within the integers a JSON number
// (a float64, as browsers read it) holds exactly.
const conflictTaskBase int64 = 1 << 52

// conflictFields numbers the correctable fields within a statement's ids.
var conflictFields = map[string]int64{"name": 0, "birth_date": 1, "gender": 2, "address": 3}

// conflictExplanation is the sentence a conflict task shows; it names no
// value.
const conflictExplanation = "A source stated a value of the field, after a data steward's correction, that differs from it: keep the correction or accept the source's value."

// ConflictTaskID is the review task id of a correction conflict.
func ConflictTaskID(c child.ConflictTask) (int64, error) {
	idx, ok := conflictFields[c.Field]
	if !ok || c.FeedSeq >= 1<<50 {
		return 0, fmt.Errorf("directory: correction task: no id for field %q at feed sequence %d", c.Field, c.FeedSeq)
	}
	return conflictTaskBase + int64(c.FeedSeq)<<2 + idx, nil
}

// IsConflictTask reports whether a review task is a correction conflict.
func IsConflictTask(id int64) bool { return id >= conflictTaskBase }

// conflictEvidence is the evidence document of a correction-conflict task.
type conflictEvidence struct {
	Why        string             `json:"why"`
	Reason     string             `json:"why_reason"`
	Correction child.ConflictTask `json:"correction"`
}

// updateCorrectionTasks writes the open correction-conflict tasks of the
// children a batch touched and removes those that no longer stand, in the
// batch's transaction and after its review-queue writes (a merge moves the
// absorbed child's tasks onto the survivor; this puts the survivor's right).
// Set-based: one upsert and one delete for each correctionTaskChunk
// children, so that a rebuild's bulk load, which calls this once over every
// child, sends arrays of a bounded size.
func updateCorrectionTasks(ctx context.Context, tx pgx.Tx, ids []uuid.UUID, states map[uuid.UUID]*touched) error {
	for len(ids) > 0 {
		n := min(len(ids), correctionTaskChunk)
		if err := correctionTasks(ctx, tx, ids[:n], states); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// correctionTaskChunk is the most children one pair of statements covers:
// a live batch's worth, or a rebuild batch's.
const correctionTaskChunk = 20_000

func correctionTasks(ctx context.Context, tx pgx.Tx, ids []uuid.UUID, states map[uuid.UUID]*touched) error {
	var (
		taskIDs   = []int64{} // never nil: "<> all(null)" matches no row
		children  []uuid.UUID
		agencies  []string
		systems   []string
		records   []string
		evidences []string
		at        []time.Time
	)
	for _, id := range ids {
		t := states[id]
		if t == nil {
			continue
		}
		for _, c := range t.state.ConflictTasks() {
			tid, err := ConflictTaskID(c)
			if err != nil {
				return err
			}
			doc, err := json.Marshal(conflictEvidence{Why: child.WhyCorrectionConflict, Reason: conflictExplanation, Correction: c})
			if err != nil {
				return fmt.Errorf("directory: correction task: %w", err)
			}
			taskIDs = append(taskIDs, tid)
			children = append(children, id)
			agencies = append(agencies, c.Source.Agency)
			systems = append(systems, c.Source.System)
			records = append(records, c.Source.RecordID)
			evidences = append(evidences, string(doc))
			at = append(at, c.StatedAt)
		}
	}
	if len(taskIDs) > 0 {
		// A correction conflict concerns one child: it is its own
		// candidate, which no guard or link decision treats as a pair. The
		// update touches only rows that changed (a later batch touching the
		// child for another reason rewrites nothing).
		if _, err := tx.Exec(ctx, `insert into review_tasks (task_id, child_id, candidate_id, source_agency, source_system, source_record_id,
				score, evidence, requested_at, status)
			select t, c, c, nullif(a, ''), nullif(s, ''), nullif(r, ''), 0, e::jsonb, at, 'open'
			from unnest($1::bigint[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[]) as x(t, c, a, s, r, e, at)
			on conflict (task_id) do update set child_id = excluded.child_id, candidate_id = excluded.candidate_id,
				source_agency = excluded.source_agency, source_system = excluded.source_system, source_record_id = excluded.source_record_id,
				score = 0, evidence = excluded.evidence, requested_at = excluded.requested_at, status = 'open',
				decided_by = null, decided_at = null, reason = null
			where (review_tasks.child_id, review_tasks.evidence, review_tasks.status, review_tasks.requested_at)
				is distinct from (excluded.child_id, excluded.evidence, 'open', excluded.requested_at)`,
			taskIDs, children, agencies, systems, records, evidences, at); err != nil {
			return fmt.Errorf("directory: write correction tasks: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, `delete from review_tasks where task_id >= $1 and child_id = any($2) and task_id <> all($3)`,
		conflictTaskBase, ids, taskIDs); err != nil {
		return fmt.Errorf("directory: remove correction tasks: %w", err)
	}
	return nil
}
