package directory

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"contactpoint/adapters/postgres"
	"contactpoint/adapters/postgres/pgtest"
	"contactpoint/domain/child"
	"contactpoint/domain/record"
)

// BenchmarkCorrectionTasks is the cost the correction-conflict derivation
// adds to one rebuild-sized batch: 20,000 touched children, one in twenty
// with a correction a source contradicts. "write" puts the tasks in an
// empty queue; "again" derives the same batch over the rows already there
// (what a later batch touching the same children costs). The queue holds
// 50,000 of the linker's tasks besides.
func BenchmarkCorrectionTasks(b *testing.B) {
	ctx := context.Background()
	pool, err := postgres.Open(ctx, pgtest.NewDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	const n, every = 20_000, 20
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	states := map[uuid.UUID]*touched{}
	ids := make([]uuid.UUID, 0, n)
	for i := range n {
		id := uuid.Must(uuid.NewV7())
		s := child.NewState(id.String())
		c := record.Child{Name: record.Name{Given: "Olivia", Family: "Hughes"}, BirthDate: "2015-03-14", Gender: "female"}
		s.Apply(child.Batch{Events: []child.Event{{Type: child.TypeStated, At: at, Stated: &child.Stated{
			Source: record.Source{Agency: "health", System: "pas", RecordID: fmt.Sprint("H", i)}, Child: c, FeedSeq: uint64(2*i + 1)}}}})
		if i%every == 0 {
			c.BirthDate = "2015-04-14"
			s.Apply(child.Batch{Events: []child.Event{
				{Type: child.TypeCorrected, At: at.Add(time.Hour), Corrected: &child.Correction{Field: "birth_date", Value: json.RawMessage(`"2015-03-15"`), By: "s"}},
				{Type: child.TypeStated, At: at.Add(2 * time.Hour), Stated: &child.Stated{
					Source: record.Source{Agency: "education", System: "sims", RecordID: fmt.Sprint("E", i)}, Child: c, FeedSeq: uint64(2*i + 2)}},
			}})
		}
		states[id] = &touched{state: s}
		ids = append(ids, id)
	}
	// The queue also holds the linker's tasks, as a live one does.
	if _, err := pool.Exec(ctx, `insert into review_tasks (task_id, child_id, candidate_id, score, requested_at)
		select g, gen_random_uuid(), gen_random_uuid(), 10, now() from generate_series(1, 50000) g`); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `analyze review_tasks`); err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, keep bool) {
		for b.Loop() {
			tx, err := pool.Begin(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if err := updateCorrectionTasks(ctx, tx, ids, states); err != nil {
				b.Fatal(err)
			}
			if keep {
				err = tx.Commit(ctx)
			} else {
				err = tx.Rollback(ctx)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		var open int
		if err := pool.QueryRow(ctx, `select count(*) from review_tasks where task_id >= $1`, conflictTaskBase).Scan(&open); err != nil {
			b.Fatal(err)
		}
		if want := map[bool]int{true: n / every, false: 0}[keep]; open != want {
			b.Fatalf("%d tasks, want %d", open, want)
		}
	}
	b.Run("write", func(b *testing.B) { run(b, false) })
	b.Run("again", func(b *testing.B) {
		run(b, true) // the first commit writes them; the rest find them there
	})
}
