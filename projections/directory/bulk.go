package directory

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"contactpoint/adapters/childmsg"
	"contactpoint/domain/child"
	"contactpoint/domain/record"
	"contactpoint/projections/checkpointed"
)

// bulkLoader is the directory's load phase of a rebuild: it folds the
// whole stream up to the head into one fold (the live apply's), applies
// the fold's linkage ops to tables held in memory, and writes every row
// once by COPY into the new version's empty, unindexed tables, then runs
// afterWrite once over every child. Nothing is read back and no row is
// written twice, which is what makes it several times faster than
// applying batch after batch.
type bulkLoader struct {
	rules child.Rules
	fold  *fold
}

func (p *Projection) openBulk() checkpointed.BulkLoader {
	return &bulkLoader{rules: p.rules, fold: newFold(nil)}
}

type decodedMsg struct {
	seq uint64
	id  uuid.UUID
	b   child.Batch
}

// Decode implements checkpointed.BulkLoader.
func (l *bulkLoader) Decode(m jetstream.Msg) (any, error) {
	md, err := m.Metadata()
	if err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	id, b, err := childmsg.Decode(m.Subject(), m.Data())
	if err != nil {
		return nil, err // parked with its reason; nothing of it is folded
	}
	return decodedMsg{md.Sequence.Stream, id, b}, nil
}

// Add implements checkpointed.BulkLoader.
func (l *bulkLoader) Add(v any) {
	d := v.(decodedMsg)
	l.fold.add(d.seq, d.id, d.b)
}

// Write implements checkpointed.BulkLoader.
func (l *bulkLoader) Write(ctx context.Context, tx pgx.Tx) error {
	f := l.fold
	t := newBulkTables(f.links)
	for _, op := range f.ops {
		op.applyTo(t)
	}
	if err := l.copyChildren(ctx, tx); err != nil {
		return err
	}
	if err := t.copy(ctx, tx); err != nil {
		return err
	}
	return afterWrite(ctx, tx, f.ids, f.states)
}

// copyChildren derives the children's rows on every core while COPY
// streams them, so that PostgreSQL writing and the hub deriving overlap.
func (l *bulkLoader) copyChildren(ctx context.Context, tx pgx.Tx) error {
	ids := l.fold.ids
	const chunk = 512
	type part struct {
		rows [][]any
		err  error
	}
	// Chunks are handed out in order and each result goes to its own
	// channel, so rows go to COPY in the order the children were first
	// touched, whatever the worker that derived them.
	chunks := make(chan int)
	results := make([]chan part, (len(ids)+chunk-1)/chunk)
	for i := range results {
		results[i] = make(chan part, 1)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range chunks {
				end := min((c+1)*chunk, len(ids))
				rows := make([][]any, 0, end-c*chunk)
				var err error
				for _, id := range ids[c*chunk : end] {
					st := l.fold.states[id]
					var row []any
					if row, err = directoryRow(id, st.state, st.lastSeq, l.rules); err != nil {
						break
					}
					rows = append(rows, row)
				}
				results[c] <- part{rows, err}
			}
		}()
	}
	// Workers run at most a few chunks ahead of COPY: rows derived far
	// ahead would hold every child's documents in memory at once.
	slots := make(chan struct{}, 2*runtime.GOMAXPROCS(0))
	go func() {
		defer close(chunks)
		for c := range results {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case chunks <- c:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer wg.Wait()
	defer cancel()
	next, i := 0, 0
	var cur [][]any
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"directory"}, rowColumns, pgx.CopyFromFunc(func() ([]any, error) {
		for i == len(cur) {
			if next == len(results) {
				return nil, nil
			}
			var p part
			select {
			case p = <-results[next]:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			<-slots
			if p.err != nil {
				return nil, p.err
			}
			next, cur, i = next+1, p.rows, 0
		}
		i++
		return cur[i-1], nil
	}))
	if err != nil {
		return fmt.Errorf("directory: bulk rows: %w", err)
	}
	return nil
}

// pgTime is t as PostgreSQL keeps it (whole microseconds; pgx truncates),
// so that comparisons in memory agree with the statements' in SQL.
func pgTime(t time.Time) time.Time { return t.Truncate(time.Microsecond) }

// bulkTables are the directory's tables other than the rows, held in
// memory while a bulk load applies the fold's linkage ops to them.
type bulkTables struct {
	sources map[record.SourceKey]sourceLink
	tasks   map[int64]*taskRow
	// The tasks by child_id and by candidate_id, as the ops select them.
	byChild, byCandidate map[uuid.UUID][]*taskRow
	decisions            map[decisionKey]*decisionRow
	reveals              map[revealKey]*revealRow
}

func newBulkTables(sources map[record.SourceKey]sourceLink) *bulkTables {
	return &bulkTables{sources: sources, tasks: map[int64]*taskRow{},
		byChild: map[uuid.UUID][]*taskRow{}, byCandidate: map[uuid.UUID][]*taskRow{},
		decisions: map[decisionKey]*decisionRow{}, reveals: map[revealKey]*revealRow{}}
}

func (t *bulkTables) addTask(r *taskRow) {
	t.tasks[r.id] = r
	t.byChild[r.child] = append(t.byChild[r.child], r)
	t.byCandidate[r.candidate] = append(t.byCandidate[r.candidate], r)
}

// copy writes the tables by COPY.
func (t *bulkTables) copy(ctx context.Context, tx pgx.Tx) error {
	sources := make([][]any, 0, len(t.sources))
	for k, l := range t.sources {
		sources = append(sources, []any{k.Agency, k.System, k.RecordID, [16]byte(l.child), l.withdrawn, l.sensitive})
	}
	tasks := make([][]any, 0, len(t.tasks))
	for _, r := range t.tasks {
		tasks = append(tasks, []any{r.id, r.child, r.candidate, r.agency, r.system, r.recordID, r.score, r.evidence,
			r.requestedAt, r.status, r.decidedBy, r.decidedAt, r.reason})
	}
	decisions := make([][]any, 0, len(t.decisions))
	for _, r := range t.decisions {
		decisions = append(decisions, []any{r.seq, r.child, r.kind, r.other, r.by, r.reason, r.at})
	}
	reveals := make([][]any, 0, len(t.reveals))
	for _, r := range t.reveals {
		reveals = append(reveals, []any{r.seq, r.child, r.practitioner, r.reason, r.at, r.until})
	}
	for _, c := range []struct {
		table string
		cols  string
		rows  [][]any
	}{
		{"directory_sources", "agency system record_id child_id withdrawn sensitive", sources},
		{"review_tasks", "task_id child_id candidate_id source_agency source_system source_record_id score evidence requested_at status decided_by decided_at reason", tasks},
		{"linkage_decisions", "seq child_id kind other_id decided_by reason decided_at", decisions},
		{"shield_reveals", "seq child_id practitioner_id reason revealed_at until", reveals},
	} {
		if len(c.rows) == 0 {
			continue
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{c.table}, strings.Fields(c.cols), pgx.CopyFromRows(c.rows)); err != nil {
			return fmt.Errorf("directory: bulk %s: %w", c.table, err)
		}
	}
	return nil
}

type taskRow struct {
	id                       int64
	child, candidate         uuid.UUID
	agency, system, recordID *string
	score                    float64
	evidence                 *string
	requestedAt              time.Time
	status                   string
	decidedBy                *string
	decidedAt                *time.Time
	reason                   *string
}

func (r *taskRow) decide(status, by string, at time.Time, reason *string) {
	at = pgTime(at)
	r.status, r.decidedBy, r.decidedAt, r.reason = status, &by, &at, reason
}

type decisionKey struct {
	seq   int64
	child uuid.UUID
	kind  string
	other uuid.UUID
}

type decisionRow struct {
	decisionKey
	by     string
	reason *string
	at     time.Time
}

type revealKey struct {
	seq   int64
	child uuid.UUID
}

type revealRow struct {
	seq          int64
	child        uuid.UUID
	practitioner string
	reason       string
	at, until    time.Time
}
