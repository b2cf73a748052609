package directory

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"contactpoint/adapters/childmsg"
	"contactpoint/adapters/natsjs"
	"contactpoint/adapters/postgres"
	"contactpoint/adapters/postgres/pgtest"
	"contactpoint/domain/child"
	"contactpoint/domain/record"
)

// TestCorrectionConflictTasks follows one child through the life of a
// correction conflict on the live projection: the task opens when a source
// contradicts the correction, closes when the steward keeps the correction
// or withdraws it, reopens when a source states yet another value, lists in
// the queue under its reason, and a rebuild from the log gives the same
// rows.
func TestCorrectionConflictTasks(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pool, err := postgres.Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	nc, err := natsjs.Open(ctx, natsjs.Config{DataDir: t.TempDir()}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := natsjs.EnsureStreams(ctx, nc.JS); err != nil {
		t.Fatal(err)
	}
	p := New(nc.JS, pool, log, nil)
	id := uuid.Must(uuid.NewV7())
	// other has a correction nobody contradicts: it never has a task, and
	// its batches share the projection's with id's.
	other := uuid.Must(uuid.NewV7())
	day := func(d int) time.Time { return time.Date(2026, 3, d, 9, 0, 0, 0, time.UTC) }
	statement := func(agency, system, rid, dob string, d int, feedSeq uint64) child.Event {
		src := record.Source{Agency: agency, System: system, RecordID: rid}
		return child.Event{Type: child.TypeStated, At: day(d), Stated: &child.Stated{Source: src, FeedSeq: feedSeq,
			Child: record.Child{Name: record.Name{Given: "Olivia", Family: "Hughes"}, BirthDate: dob, Gender: "female"}}}
	}
	correction := func(dob string, d int) child.Event {
		return child.Event{Type: child.TypeCorrected, At: day(d), Corrected: &child.Correction{Field: "birth_date",
			Value: json.RawMessage(`"` + dob + `"`), Reason: "birth certificate seen", By: "steward-1"}}
	}
	publish := func(to uuid.UUID, es ...child.Event) {
		t.Helper()
		m, err := childmsg.Message(to, child.Batch{ChildID: to.String(), Events: es}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := nc.JS.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	// keep decides the open task by keeping the correction, as the
	// steward's command does: from the child's state as the directory
	// holds it.
	keep := func() child.Event {
		t.Helper()
		tasks := conflictRows(t, pool)
		if len(tasks) != 1 {
			t.Fatalf("keep: %d tasks open", len(tasks))
		}
		st := storedState(t, pool, id)
		cf, err := st.Confirm("birth_date", tasks[0].Correction.FeedSeq, "the school's register is wrong", "steward-2")
		if err != nil {
			t.Fatal(err)
		}
		return child.Event{Type: child.TypeCorrectionConfirmed, At: day(20), Confirmed: cf}
	}
	withdraw := child.Event{Type: child.TypeCorrectionWithdrawn, At: day(21),
		CorrectionWithdrawn: &child.CorrectionWithdrawn{Field: "birth_date", Reason: "the school was right", By: "steward-2"}}
	publish(other, statement("health", "pas", "H9", "2014-01-01", 1, 90), correction("2014-01-02", 2))

	steps := []struct {
		name   string
		events func() []child.Event
		// want: the open conflict tasks as "source stated-value".
		want []string
	}{
		{"a correction alone opens nothing", func() []child.Event {
			return []child.Event{statement("health", "pas", "H1", "2015-03-14", 1, 1), correction("2015-03-15", 2)}
		}, nil},
		{"a source restating the corrected value opens nothing", func() []child.Event {
			return []child.Event{statement("education", "sims", "E1", "2015-03-15", 3, 2)}
		}, nil},
		{"a source stating a different value after it opens a task", func() []child.Event {
			return []child.Event{statement("education", "sims", "E1", "2015-04-14", 4, 3)}
		}, []string{`education/sims/E1 "2015-04-14"`}},
		{"keeping the correction closes it", func() []child.Event { return []child.Event{keep()} }, nil},
		{"the same value again keeps it closed", func() []child.Event {
			e := statement("education", "sims", "E1", "2015-04-14", 5, 4)
			e.Stated.Child.Name.Given = "Olive"
			return []child.Event{e}
		}, nil},
		{"yet another value reopens it", func() []child.Event {
			return []child.Event{statement("education", "sims", "E1", "2015-05-14", 6, 5)}
		}, []string{`education/sims/E1 "2015-05-14"`}},
		{"withdrawing the correction closes it", func() []child.Event { return []child.Event{withdraw} }, nil},
		{"a new correction contradicted later opens a new task", func() []child.Event {
			return []child.Event{correction("2015-03-16", 22), statement("health", "pas", "H1", "2015-03-17", 23, 6)}
		}, []string{`health/pas/H1 "2015-03-17"`}},
	}
	var lastIDs []int64
	for _, s := range steps {
		publish(id, s.events()...)
		if err := p.CatchUp(ctx); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		rows := conflictRows(t, pool)
		var got []string
		lastIDs = nil
		for _, r := range rows {
			if r.ChildID != id || r.CandidateID != id {
				t.Fatalf("%s: task %d is about %s/%s", s.name, r.ID, r.ChildID, r.CandidateID)
			}
			c := r.Correction
			if r.Why != child.WhyCorrectionConflict || c == nil || c.Field != "birth_date" || string(c.Corrected) == "" || !r.RequestedAt.Equal(c.StatedAt) {
				t.Fatalf("%s: task %+v lacks its reason or detail", s.name, r)
			}
			got = append(got, c.Source.String()+" "+string(c.Stated))
			lastIDs = append(lastIDs, r.ID)
		}
		if strings.Join(got, "; ") != strings.Join(s.want, "; ") {
			t.Fatalf("%s: open tasks %q, want %q", s.name, got, s.want)
		}
	}
	// The queue lists it under its reason, in either order, and not under
	// another reason.
	st := NewStore(pool)
	for _, q := range []ReviewQuery{{Why: child.WhyCorrectionConflict}, {Why: child.WhyCorrectionConflict, ByScore: true}, {}} {
		tasks, _, err := st.ReviewPage(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(tasks) != 1 || tasks[0].ID != lastIDs[0] || tasks[0].Correction == nil || string(tasks[0].Correction.Stated) != `"2015-03-17"` {
			t.Fatalf("queue %+v: %+v", q, tasks)
		}
	}
	if tasks, _, _ := st.ReviewPage(ctx, ReviewQuery{Why: "score band"}); len(tasks) != 0 {
		t.Fatalf("a correction conflict listed as score band: %+v", tasks)
	}
	before := reviewTable(t, pool)
	if err := p.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	if after := reviewTable(t, pool); after != before {
		t.Fatalf("rebuild changed the review queue:\n%s\n%s", before, after)
	}
}

// conflictRows reads the correction-conflict tasks, by id.
func conflictRows(t *testing.T, pool *pgxpool.Pool) []ReviewTask {
	t.Helper()
	rows, err := pool.Query(context.Background(), `select `+taskColumns+` from review_tasks where task_id >= $1 order by task_id`, conflictTaskBase)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []ReviewTask
	for rows.Next() {
		r, err := scanTask(rows)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// storedState is the child's state as the directory row holds it.
func storedState(t *testing.T, pool *pgxpool.Pool, id uuid.UUID) *child.State {
	t.Helper()
	var raw []byte
	if err := pool.QueryRow(context.Background(), `select state from directory where child_id = $1`, id).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	st := child.NewState(id.String())
	if err := json.Unmarshal(raw, st); err != nil {
		t.Fatal(err)
	}
	return st
}

// reviewTable is every review task, every column, as text.
func reviewTable(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var s string
	if err := pool.QueryRow(context.Background(), `select coalesce(string_agg(r::text, E'\n' order by task_id), '') from review_tasks r`).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}
