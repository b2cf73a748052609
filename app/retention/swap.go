package retention

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// swapTable writes a table that is not a projection to new files without
// holding up its writers: VACUUM FULL would lock it for the whole copy
// (audit_keys at a million keys: about 19 s of searches waiting, as every
// search writes a key before it answers). Instead, as pg_repack does:
//
//  1. a copy <table>_rewrite is made, with the table's columns and
//     constraints, and triggers on the live table forward every insert and
//     delete to it from now on (creating them waits only for writes in
//     flight);
//  2. the rows are copied and the indexes built concurrently, while the
//     live table is read and written as usual;
//  3. in one short transaction the live table is locked, dropped with its
//     triggers, and the copy renamed into its place with its indexes and
//     constraints under the old names. Readers waiting on the lock read
//     the new table once it is granted.
//
// A crash part-way leaves the copy and its triggers: the next run drops
// them first. The table must have no sequence, no foreign keys and no
// triggers of its own (checked). Deletes are forwarded too, but must not
// run during the copy (a row the copy holds uncommitted is not yet there
// to delete): the only deletes of audit_keys are erasures', which run
// before this step under the same lifecycle lock.
func (s *Service) swapTable(ctx context.Context, table string) (time.Duration, error) {
	conn, err := s.DB.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("rewrite %s: %w", table, err)
	}
	defer conn.Release()
	live := pgx.Identifier{table}.Sanitize()
	next := pgx.Identifier{table + "_rewrite"}.Sanitize()
	fn := pgx.Identifier{table + "_rewrite_forward"}.Sanitize()
	exec := func(q string, args ...any) error {
		if _, err := conn.Exec(ctx, q, args...); err != nil {
			return fmt.Errorf("rewrite %s: %w", table, err)
		}
		return nil
	}
	var others int
	if err := conn.QueryRow(ctx, `select (select count(*) from pg_trigger where tgrelid = $1::regclass and not tgisinternal and tgname <> 'rewrite_forward')
		+ (select count(*) from pg_constraint where contype = 'f' and (conrelid = $1::regclass or confrelid = $1::regclass))
		+ (select count(*) from pg_depend d join pg_class c on c.oid = d.objid where d.refobjid = $1::regclass and c.relkind = 'S')`, table).Scan(&others); err != nil {
		return 0, fmt.Errorf("rewrite %s: %w", table, err)
	}
	if others > 0 {
		return 0, fmt.Errorf("rewrite %s: has triggers, foreign keys or sequences that a swap would lose", table)
	}
	if err := exec("set lock_timeout = '" + lockWait + "'"); err != nil {
		return 0, err
	}
	defer conn.Exec(context.WithoutCancel(ctx), "reset lock_timeout") //nolint:errcheck // the pool resets sessions it cannot reuse
	// What an earlier attempt left.
	if err := retryLocked(ctx, func() error {
		return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			for _, q := range []string{"drop trigger if exists rewrite_forward on " + live, "drop table if exists " + next, "drop function if exists " + fn + "()"} {
				if _, err := tx.Exec(ctx, q); err != nil {
					return err
				}
			}
			return nil
		})
	}); err != nil {
		return 0, fmt.Errorf("rewrite %s: clean up: %w", table, err)
	}
	// The live table's indexes, to build on the copy under a temporary name.
	rows, err := conn.Query(ctx, `select i.relname, pg_get_indexdef(x.indexrelid), c.conname
		from pg_index x join pg_class i on i.oid = x.indexrelid
		left join pg_constraint c on c.conindid = x.indexrelid and c.conrelid = x.indrelid
		where x.indrelid = $1::regclass order by x.indexrelid`, table)
	if err != nil {
		return 0, fmt.Errorf("rewrite %s: %w", table, err)
	}
	type index struct{ name, def, constraint string }
	var idx []index
	for rows.Next() {
		var ix index
		var con *string
		if err := rows.Scan(&ix.name, &ix.def, &con); err != nil {
			rows.Close()
			return 0, fmt.Errorf("rewrite %s: %w", table, err)
		}
		if con != nil {
			ix.constraint = *con
		}
		idx = append(idx, ix)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("rewrite %s: %w", table, err)
	}
	tmpName := func(n string) string { return n + "_rw" }
	var cols []string
	crow, err := conn.Query(ctx, `select attname from pg_attribute where attrelid = $1::regclass and attnum > 0 and not attisdropped order by attnum`, table)
	if err != nil {
		return 0, fmt.Errorf("rewrite %s: %w", table, err)
	}
	for crow.Next() {
		var c string
		if err := crow.Scan(&c); err != nil {
			crow.Close()
			return 0, fmt.Errorf("rewrite %s: %w", table, err)
		}
		cols = append(cols, pgx.Identifier{c}.Sanitize())
	}
	crow.Close()
	if err := crow.Err(); err != nil {
		return 0, fmt.Errorf("rewrite %s: %w", table, err)
	}
	colList := strings.Join(cols, ", ")
	newCols := make([]string, len(cols))
	for i, c := range cols {
		newCols[i] = "new." + c
	}
	// The unique indexes first: the forwarding inserts need them to skip
	// a row the copy has too.
	if err := exec("create table " + next + " (like " + live + " including defaults including constraints including storage)"); err != nil {
		return 0, err
	}
	var key *index
	for i := range idx {
		if idx[i].constraint != "" && strings.Contains(idx[i].def, "UNIQUE") {
			key = &idx[i]
			break
		}
	}
	if key == nil {
		return 0, fmt.Errorf("rewrite %s: needs a primary key", table)
	}
	keyCols := key.def[strings.LastIndex(key.def, "("):]
	if err := exec("alter table " + next + " add constraint " + pgx.Identifier{tmpName(key.constraint)}.Sanitize() + " primary key " + keyCols); err != nil {
		return 0, err
	}
	keyMatch := make([]string, 0, 2)
	for _, c := range strings.Split(strings.Trim(keyCols, "()"), ",") {
		c = strings.TrimSpace(c)
		keyMatch = append(keyMatch, "t."+c+" = old."+c)
	}
	if err := exec(`create function ` + fn + `() returns trigger language plpgsql as $f$
		begin
			if tg_op = 'INSERT' then
				insert into ` + next + ` (` + colList + `) values (` + strings.Join(newCols, ", ") + `) on conflict do nothing;
				return new;
			end if;
			delete from ` + next + ` t where ` + strings.Join(keyMatch, " and ") + `;
			return old;
		end $f$`); err != nil {
		return 0, err
	}
	if err := retryLocked(ctx, func() error {
		_, err := conn.Exec(ctx, "create trigger rewrite_forward after insert or delete on "+live+" for each row execute function "+fn+"()")
		return err
	}); err != nil {
		return 0, fmt.Errorf("rewrite %s: forward: %w", table, err)
	}
	// Every write from here on is forwarded; the copy takes the rest.
	if err := exec("insert into " + next + " (" + colList + ") select " + colList + " from " + live + " on conflict do nothing"); err != nil {
		return 0, err
	}
	// Building concurrently waits for transactions in flight, which is no
	// lock a reader queues behind.
	if err := exec("set lock_timeout = 0"); err != nil {
		return 0, err
	}
	for _, ix := range idx {
		if ix == *key {
			continue
		}
		def := strings.Replace(ix.def, "INDEX "+ix.name+" ON ", "INDEX CONCURRENTLY "+pgx.Identifier{tmpName(ix.name)}.Sanitize()+" ON ", 1)
		if !strings.Contains(def, " ON public."+table+" ") {
			return 0, fmt.Errorf("rewrite %s: index %s is not defined on public.%s", table, ix.name, table)
		}
		def = strings.Replace(def, " ON public."+table+" ", " ON "+next+" ", 1)
		if err := exec(def); err != nil {
			return 0, err
		}
	}
	if err := exec("set lock_timeout = '" + lockWait + "'"); err != nil {
		return 0, err
	}
	var held time.Duration
	err = retryLocked(ctx, func() error {
		return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			t := time.Now()
			qs := []string{"lock table " + live + " in access exclusive mode", "drop table " + live, "drop function " + fn + "()",
				"alter table " + next + " rename to " + live,
				"alter table " + live + " rename constraint " + pgx.Identifier{tmpName(key.constraint)}.Sanitize() + " to " + pgx.Identifier{key.constraint}.Sanitize()}
			for _, ix := range idx {
				if ix != *key {
					qs = append(qs, "alter index "+pgx.Identifier{tmpName(ix.name)}.Sanitize()+" rename to "+pgx.Identifier{ix.name}.Sanitize())
				}
			}
			for _, q := range qs {
				if _, err := tx.Exec(ctx, q); err != nil {
					return err
				}
			}
			held = time.Since(t)
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("rewrite %s: switch: %w", table, err)
	}
	// The planner's statistics of the new table; the old table's, now dead
	// rows of pg_statistic, go with its rewrite after this.
	if err := exec("analyze " + live); err != nil {
		return held, err
	}
	return held, nil
}

// retryLocked runs fn again while it fails for want of a lock (lock_timeout),
// so that a statement queued behind a long reader gives way to the readers
// behind it instead of making them wait.
func retryLocked(ctx context.Context, fn func() error) error {
	for attempt := 0; ; attempt++ {
		err := fn()
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "55P03" || attempt >= 30 { // lock_not_available
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
