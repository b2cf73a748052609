package directory

import (
	"encoding/json"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"contactpoint/domain/child"
)

// linkageTables are the duplicate-resolution tables this projection keeps.
var linkageTables = []string{"review_tasks", "linkage_decisions"}

// queueLinkage writes what one event means for the review queue and the
// decision log. seq is the CHILDREN sequence of the event's message.
func queueLinkage(b *pgx.Batch, seq uint64, id uuid.UUID, e child.Event) {
	switch e.Type {
	case child.TypeErased:
		queueErased(b, id)
	case child.TypeReviewRequested:
		r := e.Review
		cand, err := uuid.Parse(r.Candidate)
		if err != nil {
			return
		}
		var evidence any
		if len(r.Evidence) > 0 {
			evidence = string(r.Evidence)
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
				evidence = string(b)
			}
		}
		b.Queue(`insert into review_tasks (task_id, child_id, candidate_id, source_agency, source_system, source_record_id, score, evidence, requested_at)
			values ($1,$2,$3,nullif($4,''),nullif($5,''),nullif($6,''),$7,$8::jsonb,$9) on conflict (task_id) do nothing`,
			int64(seq), id, cand, r.Source.Agency, r.Source.System, r.Source.RecordID, r.Score, evidence, e.At)
	case child.TypeShieldRevealed:
		if r := e.Revealed; r != nil {
			b.Queue(`insert into shield_reveals (seq, child_id, practitioner_id, reason, revealed_at, until)
				values ($1,$2,$3,$4,$5,$6) on conflict do nothing`, int64(seq), id, r.PractitionerID, r.Reason, e.At, r.Until)
		}
	case child.TypeRevealEnded:
		if r := e.Revealed; r != nil {
			b.Queue(`update shield_reveals set until = $3 where child_id = $1 and practitioner_id = $2 and until > $3`, id, r.PractitionerID, r.Until)
		}
	case child.TypeNotLinked:
		other, err := uuid.Parse(e.NotLinked.Other)
		if err != nil {
			return
		}
		closeTasks(b, id, other, "not-linked", e.NotLinked.Decision, e)
		logDecision(b, seq, id, "not-linked", other, e.NotLinked.Decision, e)
	case child.TypeAbsorbed:
		other, err := uuid.Parse(e.Absorbed.Absorbed)
		if err != nil {
			return
		}
		closeTasks(b, id, other, "linked", e.Absorbed.Decision, e)
		followMerge(b, other, id, e)
		logDecision(b, seq, id, "absorbed", other, e.Absorbed.Decision, e)
	case child.TypeUnmerged:
		other, err := uuid.Parse(e.Unmerged.Survivor)
		if err != nil {
			return
		}
		logDecision(b, seq, id, "unmerged", other, e.Unmerged.Decision, e)
	case child.TypeMergedInto:
		other, err := uuid.Parse(e.MergedInto.Survivor)
		if err != nil {
			return
		}
		logDecision(b, seq, id, "merged-into", other, e.MergedInto.Decision, e)
	case child.TypeSourcesMovedOut:
		other, err := uuid.Parse(e.MovedOut.To)
		if err != nil {
			return
		}
		logDecision(b, seq, id, "moved-out", other, e.MovedOut.Decision, e)
	}
}

// followMerge points the absorbed child's open tasks at the survivor: the
// question "is this the same child as that one?" is now about the survivor,
// and a possible duplicate of a shielded survivor is guarded as such. A task
// that the merge answered (the survivor against itself) is closed.
func followMerge(b *pgx.Batch, absorbed, survivor uuid.UUID, e child.Event) {
	b.Queue(`update review_tasks set child_id = $2 where status = 'open' and child_id = $1`, absorbed, survivor)
	b.Queue(`update review_tasks set candidate_id = $2 where status = 'open' and candidate_id = $1`, absorbed, survivor)
	b.Queue(`update review_tasks set status = 'linked', decided_by = $2, decided_at = $3, reason = 'answered by a merge'
		where status = 'open' and child_id = candidate_id and child_id = $1`, survivor, e.Absorbed.By, e.At)
}

func closeTasks(b *pgx.Batch, a, o uuid.UUID, status string, d child.Decision, e child.Event) {
	b.Queue(`update review_tasks set status = $3, decided_by = $4, decided_at = $5, reason = nullif($6,'')
		where status = 'open' and ((child_id = $1 and candidate_id = $2) or (child_id = $2 and candidate_id = $1))`,
		a, o, status, d.By, e.At, d.Reason)
}

func logDecision(b *pgx.Batch, seq uint64, id uuid.UUID, kind string, other uuid.UUID, d child.Decision, e child.Event) {
	b.Queue(`insert into linkage_decisions (seq, child_id, kind, other_id, decided_by, reason, decided_at)
		values ($1,$2,$3,$4,$5,nullif($6,''),$7) on conflict do nothing`,
		int64(seq), id, kind, other, d.By, d.Reason, e.At)
}
