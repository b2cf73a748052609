package checkpointed

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"contactpoint/adapters/natsjs"
	"contactpoint/adapters/parked"
	"contactpoint/adapters/postgres"
)

// A rebuild builds a new version of the projection's tables beside the live
// ones while the live version keeps following and answering readers:
//
//  1. schema <name>_next gets a copy of each table (CREATE TABLE ... LIKE
//     public.t INCLUDING ALL, so columns, defaults, generated columns,
//     storage and checks are the migrations' own) with only its primary
//     key and unique indexes;
//  2. the stream is read up to its head into those tables, through a pool
//     whose search_path puts <name>_next first, so the projection's own
//     code writes the new version unchanged, under the checkpoint
//     <name>@next: folded whole in memory and written once by the
//     projection's BulkLoader when it has one, else in large batches
//     through its Applier;
//  3. the other indexes are built (copied from the live tables' definitions,
//     same names) and the tables analysed;
//  4. it catches up with the head, then, holding the live version's batch
//     lock, catches up the last few messages and switches in one
//     transaction: lock the live tables, drop them, move the new ones into
//     public, hand the new checkpoint and parked rows to the projection's
//     name. A search waiting on the lock then reads the new tables (a query
//     resolves a name again after waiting for a relation that a
//     concurrent transaction replaced), so readers never fail and never
//     see a half-built directory;
//  5. the live run notices the switch at its next batch and starts again
//     from the new checkpoint, with nothing of the old version in memory.

// RebuildStats says what a rebuild did.
type RebuildStats struct {
	Events  uint64        // stream messages applied to the new version
	Load    time.Duration // reading the stream up to its head without secondary indexes
	Fold    time.Duration // of Load, a bulk load's reading and folding (the rest is its write)
	Indexes time.Duration // building the secondary indexes
	CatchUp time.Duration // catching up with what arrived meanwhile
	Switch  time.Duration // the switch, live batches held
	Total   time.Duration
}

// NextSuffix names a rebuild's checkpoint and consumer: <name>@next.
const NextSuffix = "@next"

// ErrRebuilding refuses a second rebuild of a projection while one runs.
var ErrRebuilding = errors.New("a rebuild of this projection is already running")

func (p *Projection) schema() string { return p.Name + "_next" }

// Rebuild builds a new version of the projection from its stream and
// switches readers and the live run to it.
func (p *Projection) Rebuild(ctx context.Context) (RebuildStats, error) {
	var st RebuildStats
	start := time.Now()
	if !p.rebuilding.TryLock() {
		return st, fmt.Errorf("rebuild %s: %w", p.Name, ErrRebuilding)
	}
	defer p.rebuilding.Unlock()
	// Across processes: the lock lives as long as this connection.
	conn, err := p.Pool.Acquire(ctx)
	if err != nil {
		return st, fmt.Errorf("rebuild %s: %w", p.Name, err)
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, "select pg_try_advisory_lock(hashtext($1))", "rebuild:"+p.Name).Scan(&locked); err != nil {
		return st, fmt.Errorf("rebuild %s: %w", p.Name, err)
	}
	if !locked {
		return st, fmt.Errorf("rebuild %s: %w", p.Name, ErrRebuilding)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "select pg_advisory_unlock(hashtext($1))", "rebuild:"+p.Name) //nolint:errcheck // the session ends soon anyway

	deferred, err := p.prepare(ctx)
	if err != nil {
		return st, fmt.Errorf("rebuild %s: %w", p.Name, err)
	}
	// A failure leaves the half-built schema: the next rebuild drops it.
	cfg := p.Pool.Config()
	cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{p.schema()}.Sanitize() + ", public"
	// The new version is not read until the switch, whose own commit
	// waits for the WAL before it (so for all of the rebuild's): its
	// commits need not wait. Index builds get memory enough to sort in it.
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	cfg.ConnConfig.RuntimeParams["maintenance_work_mem"] = "512MB"
	cfg.ConnConfig.RuntimeParams["work_mem"] = "64MB"
	cfg.MaxConns = 4
	next, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return st, fmt.Errorf("rebuild %s: %w", p.Name, err)
	}
	defer next.Close()
	f := &follower{p: p, pool: next, name: p.Name + NextSuffix}

	t := time.Now()
	head, err := natsjs.LastSeq(ctx, p.JS, p.Stream)
	if err != nil {
		return st, fmt.Errorf("rebuild %s: %w", p.Name, err)
	}
	f.batchSize = p.RebuildBatch
	if head > 0 {
		var err error
		if p.Bulk != nil {
			st.Fold, err = f.bulk(ctx, head)
		} else {
			err = f.follow(ctx, true, head)
		}
		if err != nil {
			return st, fmt.Errorf("rebuild %s: load: %w", p.Name, err)
		}
	}
	st.Load = time.Since(t)

	t = time.Now()
	if err := buildIndexes(ctx, next, deferred); err != nil {
		return st, fmt.Errorf("rebuild %s: build index: %w", p.Name, err)
	}
	for _, tb := range p.Tables {
		if _, err := next.Exec(ctx, "analyze "+p.qualified(tb)); err != nil {
			return st, fmt.Errorf("rebuild %s: analyze: %w", p.Name, err)
		}
	}
	st.Indexes = time.Since(t)

	t = time.Now()
	f.batchSize = p.Batch
	if err := f.follow(ctx, true, 0); err != nil {
		return st, fmt.Errorf("rebuild %s: catch up: %w", p.Name, err)
	}
	st.CatchUp = time.Since(t)

	t = time.Now()
	p.mu.Lock()
	err = f.follow(ctx, true, 0)
	if err == nil {
		err = p.switchTo(ctx, f.name)
	}
	if err == nil {
		p.version.Add(1)
	}
	p.mu.Unlock()
	if err != nil {
		return st, fmt.Errorf("rebuild %s: switch: %w", p.Name, err)
	}
	st.Switch = time.Since(t)
	st.Events = f.pos
	st.Total = time.Since(start)
	p.Log.Info("projection rebuilt and switched", "projection", p.Name, "through_seq", f.pos,
		"load", st.Load.Round(time.Millisecond), "indexes", st.Indexes.Round(time.Millisecond),
		"switch", st.Switch.Round(time.Millisecond))
	return st, nil
}

// bulk is the load phase through the projection's BulkLoader: the stream
// up to head is folded in memory and written in one transaction with the
// checkpoint and what was parked. When that transaction fails for a reason
// of the messages' own (parked.Poisoned), the load falls back to applying
// batch after batch, which parks what fails alone; an outage is returned.
func (f *follower) bulk(ctx context.Context, head uint64) (fold time.Duration, err error) {
	start := time.Now()
	b := f.p.Bulk()
	var poisoned []parked.Message
	var last uint64
	type decoded struct {
		v   any
		err error
	}
	var out []decoded
	workers := runtime.GOMAXPROCS(0)
	err = natsjs.Follow(ctx, f.p.JS, f.p.Stream, 1, head, f.batchSize, func(msgs []jetstream.Msg) error {
		// Decoding costs most of the fold, and each message's is its own.
		out = append(out[:0], make([]decoded, len(msgs))...)
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < len(msgs); i += workers {
					out[i].v, out[i].err = b.Decode(msgs[i])
				}
			}()
		}
		wg.Wait()
		for i, m := range msgs {
			seq, err := seqOf(m)
			if err != nil {
				return err
			}
			last = seq
			if out[i].err != nil {
				pm, err := parked.Of(f.name, m, parked.ReasonOf(out[i].err))
				if err != nil {
					return err
				}
				poisoned = append(poisoned, pm)
				continue
			}
			b.Add(out[i].v)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("%s: read: %w", f.name, err)
	}
	fold = time.Since(start)
	err = parked.Safely(func() error {
		return pgx.BeginFunc(ctx, f.pool, func(tx pgx.Tx) error {
			if err := b.Write(ctx, tx); err != nil {
				return err
			}
			for _, pm := range poisoned {
				if err := parked.Park(ctx, tx, pm); err != nil {
					return err
				}
			}
			return postgres.SaveCheckpoint(ctx, tx, f.name, f.p.Stream, 0, last)
		})
	})
	if err == nil {
		f.pos = last
		for _, pm := range poisoned {
			parked.Logged(f.p.Log, pm)
		}
		return fold, nil
	}
	if !parked.Poisoned(ctx, f.pool, f.p.JS, err) {
		return fold, fmt.Errorf("%s: write: %w", f.name, err)
	}
	f.p.Log.Warn("bulk load failed; loading batch after batch", "consumer", f.name, "stream", f.p.Stream,
		"reason", parked.ReasonOf(err).Kind)
	return fold, f.follow(ctx, true, head)
}

// buildIndexes runs the index builds two at a time: a GIN build uses one
// core, and even a btree's parallel build leaves part of a second idle.
func buildIndexes(ctx context.Context, pool *pgxpool.Pool, defs []string) error {
	work := make(chan string)
	errs := make(chan error, 2)
	for w := 0; w < 2; w++ {
		go func() {
			var err error
			for q := range work {
				if err == nil {
					_, err = pool.Exec(ctx, q)
				}
			}
			errs <- err
		}()
	}
	for _, q := range defs {
		work <- q
	}
	close(work)
	return errors.Join(<-errs, <-errs)
}

func (p *Projection) qualified(table string) string {
	return pgx.Identifier{p.schema(), table}.Sanitize()
}

// prepare creates the new version's schema and tables with the keys that
// the apply's upserts need, forgets an earlier attempt's checkpoint and
// parked rows, and returns the statements that build the other indexes.
func (p *Projection) prepare(ctx context.Context) (deferred []string, err error) {
	err = pgx.BeginFunc(ctx, p.Pool, func(tx pgx.Tx) error {
		// Fully qualified definitions, whatever the session's path.
		if _, err := tx.Exec(ctx, "set local search_path = pg_catalog"); err != nil {
			return err
		}
		sch := pgx.Identifier{p.schema()}.Sanitize()
		for _, q := range []string{"drop schema if exists " + sch + " cascade", "create schema " + sch} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		for _, tb := range p.Tables {
			live := pgx.Identifier{"public", tb}.Sanitize()
			if _, err := tx.Exec(ctx, "create table "+p.qualified(tb)+" (like "+live+" including all excluding indexes)"); err != nil {
				return err
			}
			// How the definitions name the live table (quoted only if need be).
			var liveText string
			if err := tx.QueryRow(ctx, "select $1::regclass::text", live).Scan(&liveText); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, `select pg_get_indexdef(x.indexrelid), x.indisunique, c.conname, pg_get_constraintdef(c.oid)
				from pg_index x left join pg_constraint c on c.conindid = x.indexrelid and c.conrelid = x.indrelid
				where x.indrelid = $1::regclass order by x.indexrelid`, live)
			if err != nil {
				return err
			}
			var now []string
			for rows.Next() {
				var def string
				var unique bool
				var con, conDef *string
				if err := rows.Scan(&def, &unique, &con, &conDef); err != nil {
					rows.Close()
					return err
				}
				switch {
				case con != nil:
					now = append(now, "alter table "+p.qualified(tb)+" add constraint "+pgx.Identifier{*con}.Sanitize()+" "+*conDef)
				case unique:
					now = append(now, retarget(def, liveText, p.qualified(tb)))
				default:
					deferred = append(deferred, retarget(def, liveText, p.qualified(tb)))
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			for _, q := range now {
				if _, err := tx.Exec(ctx, q); err != nil {
					return err
				}
			}
		}
		name := p.Name + NextSuffix
		if _, err := tx.Exec(ctx, "delete from public.checkpoints where name = $1", name); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "delete from public.parked_messages where consumer = $1", name)
		return err
	})
	return deferred, err
}

// retarget points an index definition of the live table at the new one.
func retarget(def, live, next string) string {
	return strings.Replace(def, " ON "+live+" ", " ON "+next+" ", 1)
}

// switchTo replaces the live tables with the new version's in one
// transaction. A deadlock with a reader that holds one table and waits for
// another ends this transaction, not the reader's (the switch waits
// first, so its deadlock check fires first): the switch is tried again.
func (p *Projection) switchTo(ctx context.Context, nextName string) error {
	var err error
	for attempt := 0; attempt < 10; attempt++ {
		err = pgx.BeginFunc(ctx, p.Pool, func(tx pgx.Tx) error {
			live := make([]string, len(p.Tables))
			for i, tb := range p.Tables {
				live[i] = pgx.Identifier{"public", tb}.Sanitize()
			}
			qs := []string{
				"lock table " + strings.Join(live, ", ") + " in access exclusive mode",
				"drop table " + strings.Join(live, ", "),
			}
			for _, tb := range p.Tables {
				qs = append(qs, "alter table "+p.qualified(tb)+" set schema public")
			}
			qs = append(qs, "drop schema "+pgx.Identifier{p.schema()}.Sanitize())
			for _, q := range qs {
				if _, err := tx.Exec(ctx, q); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, `insert into public.checkpoints (name, stream, last_seq)
				select $1, stream, last_seq from public.checkpoints where name = $2
				on conflict (name) do update set last_seq = excluded.last_seq, updated_at = now()`, p.Name, nextName); err != nil {
				return err
			}
			for _, q := range []string{
				"delete from public.checkpoints where name = $2 and $1 <> ''",
				"delete from public.parked_messages where consumer = $1 and $2 <> ''",
				"update public.parked_messages set consumer = $1 where consumer = $2",
			} {
				if _, err := tx.Exec(ctx, q, p.Name, nextName); err != nil {
					return err
				}
			}
			return nil
		})
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "40P01" { // deadlock_detected
			return err
		}
		p.Log.Info("switch met a reader's lock order; trying again", "projection", p.Name)
	}
	return err
}
