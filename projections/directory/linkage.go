package directory

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"contactpoint/domain/child"
)

// linkageTables are the duplicate-resolution tables this projection keeps.
var linkageTables = []string{"review_tasks", "linkage_decisions"}

// A linkageOp is one change an event makes to the review queue, the
// decision log or the reveals. The live apply queues it as a statement on
// the live tables; a rebuild's bulk load applies it to the tables it holds
// in memory before writing them once (bulk.go). Each op's two forms sit
// side by side, and TestBulkLoadEqualsBatches holds them to the same rows.
type linkageOp interface {
	queue(b *pgx.Batch)
	applyTo(t *bulkTables)
}

// queueLinkage queues what one event means for the review queue and the
// decision log. seq is the CHILDREN sequence of the event's message.
func queueLinkage(b *pgx.Batch, seq uint64, id uuid.UUID, e child.Event) {
	for _, op := range linkageOps(seq, id, e) {
		op.queue(b)
	}
}

// linkageOps derives what one event means for the review queue, the
// decision log and the reveals, in the order the changes apply.
func linkageOps(seq uint64, id uuid.UUID, e child.Event) []linkageOp {
	switch e.Type {
	case child.TypeErased:
		by := ""
		var linked []string
		if e.Erased != nil {
			by, linked = e.Erased.By, e.Erased.Linked
		}
		ops := []linkageOp{erased{child: id, by: by, at: e.At}}
		// The joins the erased child's own events recorded go with its
		// subject; the tombstone keeps who it was joined to, for a later
		// erasure to follow (app/retention).
		for _, l := range linked {
			if other, err := uuid.Parse(l); err == nil {
				ops = append(ops, decisionLogged(seq, id, "erased-link", other, child.Decision{By: by}, e))
			}
		}
		return ops
	case child.TypeReviewRequested:
		r := e.Review
		cand, err := uuid.Parse(r.Candidate)
		if err != nil {
			return nil
		}
		var evidence *string
		if len(r.Evidence) > 0 {
			s := string(r.Evidence)
			evidence = &s
		}
		// Why the record was not linked travels in the evidence document,
		// so that the queue can be filtered by it.
		if r.Why != "" {
			extra := map[string]any{"why": r.Why, "why_reason": r.Reason}
			if r.Compared != nil {
				extra["compared"] = map[string]string{"agency": r.Compared.Agency, "system": r.Compared.System, "record_id": r.Compared.RecordID}
			}
			if r.ComparedRef != "" {
				extra["compared_ref"] = r.ComparedRef // resolved when read (comparedColumn)
			}
			doc := map[string]json.RawMessage{}
			if len(r.Evidence) > 0 && json.Unmarshal(r.Evidence, &doc) != nil {
				doc = map[string]json.RawMessage{}
			}
			for k, v := range extra {
				doc[k], _ = json.Marshal(v)
			}
			if b, err := json.Marshal(doc); err == nil {
				s := string(b)
				evidence = &s
			}
		}
		row := taskRow{id: int64(r.TaskID(seq)), child: id, candidate: cand,
			agency: nullIfEmpty(r.Source.Agency), system: nullIfEmpty(r.Source.System), recordID: nullIfEmpty(r.Source.RecordID),
			score: r.Score, evidence: evidence, requestedAt: e.At, status: "open"}
		if d := r.Decided; d != nil {
			// Said again by an erasure: the task as it was.
			row.decide(d.Status, d.By, d.At, nullIfEmpty(d.Reason))
		}
		return []linkageOp{taskRequested{row}}
	case child.TypeShieldRevealed:
		if r := e.Revealed; r != nil {
			return []linkageOp{revealed{revealRow{seq: int64(seq), child: id, practitioner: r.PractitionerID, reason: r.Reason, at: e.At, until: r.Until}}}
		}
	case child.TypeRevealEnded:
		if r := e.Revealed; r != nil {
			return []linkageOp{revealEnded{child: id, practitioner: r.PractitionerID, until: r.Until}}
		}
	case child.TypeNotLinked:
		other, err := uuid.Parse(e.NotLinked.Other)
		if err != nil {
			return nil
		}
		d := e.NotLinked.Decision
		return []linkageOp{
			tasksClosed{a: id, o: other, status: "not-linked", by: d.By, at: e.At, reason: nullIfEmpty(d.Reason)},
			decisionLogged(seq, id, "not-linked", other, d, e),
		}
	case child.TypeAbsorbed:
		other, err := uuid.Parse(e.Absorbed.Absorbed)
		if err != nil {
			return nil
		}
		d := e.Absorbed.Decision
		return []linkageOp{
			tasksClosed{a: id, o: other, status: "linked", by: d.By, at: e.At, reason: nullIfEmpty(d.Reason)},
			mergeFollowed{absorbed: other, survivor: id, by: e.Absorbed.By, at: e.At},
			decisionLogged(seq, id, "absorbed", other, d, e),
		}
	case child.TypeUnmerged:
		other, err := uuid.Parse(e.Unmerged.Survivor)
		if err != nil {
			return nil
		}
		return []linkageOp{decisionLogged(seq, id, "unmerged", other, e.Unmerged.Decision, e)}
	case child.TypeMergedInto:
		other, err := uuid.Parse(e.MergedInto.Survivor)
		if err != nil {
			return nil
		}
		return []linkageOp{decisionLogged(seq, id, "merged-into", other, e.MergedInto.Decision, e)}
	case child.TypeSourcesMovedOut:
		other, err := uuid.Parse(e.MovedOut.To)
		if err != nil {
			return nil
		}
		return []linkageOp{decisionLogged(seq, id, "moved-out", other, e.MovedOut.Decision, e)}
	}
	return nil
}

func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// taskRequested adds a review task; its id is the request's sequence, so a
// message applied twice adds it once.
type taskRequested struct{ row taskRow }

func (op taskRequested) queue(b *pgx.Batch) {
	r := op.row
	b.Queue(`insert into review_tasks (task_id, child_id, candidate_id, source_agency, source_system, source_record_id, score, evidence, requested_at,
			status, decided_by, decided_at, reason)
		values ($1,$2,$3,$4,$5,$6,$7,$8::jsonb,$9,$10,$11,$12,$13) on conflict (task_id) do nothing`,
		r.id, r.child, r.candidate, r.agency, r.system, r.recordID, r.score, r.evidence, r.requestedAt,
		r.status, r.decidedBy, r.decidedAt, r.reason)
}

func (op taskRequested) applyTo(t *bulkTables) {
	if _, ok := t.tasks[op.row.id]; ok {
		return
	}
	r := op.row
	r.requestedAt = pgTime(r.requestedAt)
	t.addTask(&r)
}

// tasksClosed decides the open tasks that pair a and o, either way round.
type tasksClosed struct {
	a, o   uuid.UUID
	status string
	by     string
	at     time.Time
	reason *string
}

func (op tasksClosed) queue(b *pgx.Batch) {
	b.Queue(`update review_tasks set status = $3, decided_by = $4, decided_at = $5, reason = $6
		where status = 'open' and ((child_id = $1 and candidate_id = $2) or (child_id = $2 and candidate_id = $1))`,
		op.a, op.o, op.status, op.by, op.at, op.reason)
}

func (op tasksClosed) applyTo(t *bulkTables) {
	for _, r := range t.byChild[op.a] {
		if r.status == "open" && r.candidate == op.o {
			r.decide(op.status, op.by, op.at, op.reason)
		}
	}
	for _, r := range t.byChild[op.o] {
		if r.status == "open" && r.candidate == op.a {
			r.decide(op.status, op.by, op.at, op.reason)
		}
	}
}

// mergeFollowed points the absorbed child's open tasks at the survivor:
// the question "is this the same child as that one?" is now about the
// survivor, and a possible duplicate of a shielded survivor is guarded as
// such. A task that the merge answered (the survivor against itself) is
// closed.
type mergeFollowed struct {
	absorbed, survivor uuid.UUID
	by                 string
	at                 time.Time
}

func (op mergeFollowed) queue(b *pgx.Batch) {
	// A reveal opened the absorbed child's record; that record stands no
	// more, and an unmerge must not bring the reveal back with it: the
	// merged record (or the restored one) needs a reveal of its own.
	b.Queue(`update shield_reveals set until = $2 where child_id = $1 and until > $2`, op.absorbed, pgTime(op.at))
	b.Queue(`update review_tasks set child_id = $2 where status = 'open' and child_id = $1`, op.absorbed, op.survivor)
	b.Queue(`update review_tasks set candidate_id = $2 where status = 'open' and candidate_id = $1`, op.absorbed, op.survivor)
	b.Queue(`update review_tasks set status = 'linked', decided_by = $2, decided_at = $3, reason = 'answered by a merge'
		where status = 'open' and child_id = candidate_id and child_id = $1`, op.survivor, op.by, op.at)
}

func (op mergeFollowed) applyTo(t *bulkTables) {
	at := pgTime(op.at)
	for _, r := range t.reveals {
		if r.child == op.absorbed && r.until.After(at) {
			r.until = at
		}
	}
	if op.absorbed != op.survivor {
		keep := t.byChild[op.absorbed][:0]
		for _, r := range t.byChild[op.absorbed] {
			if r.status == "open" {
				r.child = op.survivor
				t.byChild[op.survivor] = append(t.byChild[op.survivor], r)
			} else {
				keep = append(keep, r)
			}
		}
		t.byChild[op.absorbed] = keep
		keep = t.byCandidate[op.absorbed][:0]
		for _, r := range t.byCandidate[op.absorbed] {
			if r.status == "open" {
				r.candidate = op.survivor
				t.byCandidate[op.survivor] = append(t.byCandidate[op.survivor], r)
			} else {
				keep = append(keep, r)
			}
		}
		t.byCandidate[op.absorbed] = keep
	}
	reason := "answered by a merge"
	for _, r := range t.byChild[op.survivor] {
		if r.status == "open" && r.candidate == op.survivor {
			r.decide("linked", op.by, op.at, &reason)
		}
	}
}

// decisionLog adds an entry to the decision log, once per message.
type decisionLog struct{ row decisionRow }

func decisionLogged(seq uint64, id uuid.UUID, kind string, other uuid.UUID, d child.Decision, e child.Event) linkageOp {
	return decisionLog{decisionRow{decisionKey: decisionKey{seq: int64(seq), child: id, kind: kind, other: other},
		by: d.By, reason: nullIfEmpty(d.Reason), at: e.At}}
}

func (op decisionLog) queue(b *pgx.Batch) {
	r := op.row
	b.Queue(`insert into linkage_decisions (seq, child_id, kind, other_id, decided_by, reason, decided_at)
		values ($1,$2,$3,$4,$5,$6,$7) on conflict do nothing`,
		r.seq, r.child, r.kind, r.other, r.by, r.reason, r.at)
}

func (op decisionLog) applyTo(t *bulkTables) {
	if _, ok := t.decisions[op.row.decisionKey]; ok {
		return
	}
	r := op.row
	r.at = pgTime(r.at)
	t.decisions[r.decisionKey] = &r
}

// revealed records a break-glass reveal.
type revealed struct{ row revealRow }

func (op revealed) queue(b *pgx.Batch) {
	r := op.row
	b.Queue(`insert into shield_reveals (seq, child_id, practitioner_id, reason, revealed_at, until)
		values ($1,$2,$3,$4,$5,$6) on conflict do nothing`, r.seq, r.child, r.practitioner, r.reason, r.at, r.until)
}

func (op revealed) applyTo(t *bulkTables) {
	k := revealKey{op.row.seq, op.row.child}
	if _, ok := t.reveals[k]; ok {
		return
	}
	r := op.row
	r.at, r.until = pgTime(r.at), pgTime(r.until)
	t.reveals[k] = &r
}

// revealEnded ends a practitioner's open reveals of the child early.
type revealEnded struct {
	child        uuid.UUID
	practitioner string
	until        time.Time
}

func (op revealEnded) queue(b *pgx.Batch) {
	b.Queue(`update shield_reveals set until = $3 where child_id = $1 and practitioner_id = $2 and until > $3`, op.child, op.practitioner, op.until)
}

func (op revealEnded) applyTo(t *bulkTables) {
	until := pgTime(op.until)
	for _, r := range t.reveals {
		if r.child == op.child && r.practitioner == op.practitioner && r.until.After(until) {
			r.until = until
		}
	}
}
