package directory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"contactpoint/adapters/postgres"
	"contactpoint/adapters/postgres/pgtest"
	"contactpoint/domain/child"
	"contactpoint/domain/record"
)

// TestReviewPagesReachEveryTask: the queue pages through every open task,
// past the 500 a page may hold, each once, filtered by why and ordered by
// score when asked, with why and the compared source on each task.
func TestReviewPagesReachEveryTask(t *testing.T) {
	ctx := context.Background()
	pool, err := postgres.Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	whys := []string{"score band", "twin guard", "identifier conflict", "household conflict"}
	const n = 1234
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	b := &pgx.Batch{}
	for i := 0; i < n; i++ {
		ev, _ := json.Marshal(map[string]any{"score": 20, "fields": []any{}})
		queueLinkage(b, uint64(i+1), uuid.New(), child.Event{Type: child.TypeReviewRequested,
			// Several tasks share a request time, as one batch's do.
			At: at.Add(time.Duration(i/7) * time.Second),
			Review: &child.ReviewRequested{Candidate: uuid.NewString(), Score: float64(i % 97), Evidence: ev,
				Source: record.SourceKey{Agency: "health", System: "pas", RecordID: fmt.Sprint(i)},
				Why:    whys[i%len(whys)], Reason: "because",
				Compared: &record.SourceKey{Agency: "education", System: "sims", RecordID: fmt.Sprint("c", i)}}})
	}
	// One decided task, which no page shows.
	b.Queue(`update review_tasks set status = 'linked' where task_id = 5`)
	if err := pool.SendBatch(ctx, b).Close(); err != nil {
		t.Fatal(err)
	}
	s := NewStore(pool)
	open := map[string]int{}
	for i := 0; i < n; i++ {
		if i+1 != 5 {
			open[whys[i%len(whys)]]++
		}
	}
	tests := []struct {
		name  string
		q     ReviewQuery
		want  int
		check func(prev, t ReviewTask) bool
	}{
		{"all, oldest first", ReviewQuery{Limit: 500}, n - 1, func(p, t ReviewTask) bool {
			return p.RequestedAt.Before(t.RequestedAt) || (p.RequestedAt.Equal(t.RequestedAt) && p.ID < t.ID)
		}},
		{"all by score, small pages", ReviewQuery{Limit: 77, ByScore: true}, n - 1, func(p, t ReviewTask) bool {
			return p.Score > t.Score || (p.Score == t.Score && p.ID < t.ID)
		}},
		{"twin guard only", ReviewQuery{Limit: 100, Why: "twin guard"}, open["twin guard"], func(p, t ReviewTask) bool { return t.Why == "twin guard" }},
		{"identifier conflict by score", ReviewQuery{Limit: 500, Why: "identifier conflict", ByScore: true}, open["identifier conflict"], func(p, t ReviewTask) bool {
			return t.Why == "identifier conflict" && p.Score >= t.Score
		}},
	}
	for _, tt := range tests {
		seen := map[int64]bool{}
		var prev *ReviewTask
		pages := 0
		for q := tt.q; ; pages++ {
			tasks, next, err := s.ReviewPage(ctx, q)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if len(tasks) > tt.q.Limit {
				t.Fatalf("%s: a page of %d, limit %d", tt.name, len(tasks), tt.q.Limit)
			}
			for i := range tasks {
				task := tasks[i]
				if seen[task.ID] {
					t.Fatalf("%s: task %d on two pages", tt.name, task.ID)
				}
				seen[task.ID] = true
				if task.Compared == nil || task.Explanation != "because" || task.Why == "" {
					t.Fatalf("%s: task %d lacks why or compared source: %+v", tt.name, task.ID, task)
				}
				if prev != nil && !tt.check(*prev, task) {
					t.Fatalf("%s: task %d out of order or filter after %d", tt.name, task.ID, prev.ID)
				}
				prev = &task
			}
			if next == "" {
				break
			}
			q.After = next
		}
		if len(seen) != tt.want || seen[5] {
			t.Errorf("%s: %d tasks over %d pages, want %d (decided task shown: %v)", tt.name, len(seen), pages+1, tt.want, seen[5])
		}
	}
	if _, _, err := s.ReviewPage(ctx, ReviewQuery{After: "x1_2"}); !errors.Is(err, ErrBadCursor) {
		t.Errorf("a made-up cursor: %v, want ErrBadCursor", err)
	}
}
