package retention

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"contactpoint/domain/retention"
	"contactpoint/projections/audit"
	"contactpoint/projections/directory"
)

// ActionRewrite is recorded in retention_runs, one row per erased child,
// once every table that held the child's personal data has been written
// to new files. An erasure recorded without it is finished by the next run.
const ActionRewrite = "rewrite"

// RuleFiles is the rule on a rewrite row: the files, not the law, ask it.
const RuleFiles = "erased-from-files"

// RewrittenProjections are rebuilt beside their live versions after an
// erasure: new tables (new files, new TOAST, new indexes) from the streams,
// which hold nothing of the child any more, then a switch and a drop of the
// old ones. An UPDATE or DELETE leaves the old row version's bytes in the
// heap, TOAST and index files, and even VACUUM does not zero a page's free
// space: only a table written to a new file, the old one unlinked, loses
// them.
var RewrittenProjections = []string{directory.Name, audit.Name}

// swappedTables are tables that are not projections and lose rows on
// erasure: audit_keys (a deleted key must not survive as a dead row, or
// the audit trail was never shredded). They are copied beside the live
// table and swapped in (swapTable).
var swappedTables = []string{"audit_keys"}

// vacuumedTables are rewritten with VACUUM FULL, last: pg_statistic, where
// ANALYZE keeps sample values of every column (names, postcodes, keys) and
// a rebuild or swap that drops the old tables only marks their rows dead.
// It is small (kilobytes per table), so its exclusive lock lasts
// milliseconds.
var vacuumedTables = []string{"pg_catalog.pg_statistic"}

// lockWait bounds how long a rewrite queues for a lock: a waiting
// exclusive lock makes every later reader wait behind it, so it gives up
// early and tries again rather than stall searches behind a long query.
const lockWait = "2s"

// RewriteReport says what the rewrite step did.
type RewriteReport struct {
	Children int      `json:"children"` // erased children whose data the step removed from the files
	Tables   []string `json:"tables,omitempty"`
	Seconds  float64  `json:"seconds,omitempty"`
	Done     bool     `json:"done"`
	Error    string   `json:"error,omitempty"`
}

// pendingRewrite lists the erased children whose tables have not been
// rewritten since.
func (s *Service) pendingRewrite(ctx context.Context) ([]uuid.UUID, error) {
	rows, err := s.DB.Query(ctx, `select e.child_id from retention_runs e where e.action = $1
		and not exists (select 1 from retention_runs w where w.child_id = e.child_id and w.action = $2)`, retention.Erase, ActionRewrite)
	if err != nil {
		return nil, fmt.Errorf("rewrite: %w", err)
	}
	defer rows.Close()
	var out []uuid.UUID
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("rewrite: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// Rewrite writes every table that held an erased child's personal data to
// new files, when an erasure is waiting for it: the projections by their
// rebuild beside the live version (readers are never blocked), the other
// tables by VACUUM FULL. It runs after the erasures of a run, under the
// lifecycle lock, and records one row per child when everything is done,
// so a crash or a failure part-way leaves the children pending and the
// next run does it all again (a rebuild is idempotent).
func (s *Service) Rewrite(ctx context.Context) (RewriteReport, error) {
	var rep RewriteReport
	ids, err := s.pendingRewrite(ctx)
	if err != nil || len(ids) == 0 {
		return rep, err
	}
	rep.Children = len(ids)
	if s.Rebuild == nil {
		return rep, errors.New("rewrite: no way to rebuild the projections")
	}
	start := time.Now()
	for _, name := range RewrittenProjections {
		if err := s.Rebuild(ctx, name); err != nil {
			return rep, fmt.Errorf("rewrite: rebuild %s: %w", name, err)
		}
		rep.Tables = append(rep.Tables, name)
	}
	for _, tb := range swappedTables {
		held, err := s.swapTable(ctx, tb)
		if err != nil {
			return rep, err
		}
		rep.Tables = append(rep.Tables, tb)
		s.Log.Info("erasure: table rewritten", "table", tb, "locked", held.Round(time.Millisecond))
	}
	for _, tb := range vacuumedTables {
		ok, err := s.vacuumFull(ctx, tb)
		if err != nil {
			return rep, err
		}
		if ok {
			rep.Tables = append(rep.Tables, tb)
		}
	}
	today := s.Today()
	for _, id := range ids {
		if err := s.record(ctx, id, ActionRewrite, RuleFiles, today); err != nil {
			return rep, err
		}
	}
	rep.Seconds = time.Since(start).Seconds()
	rep.Done = true
	return rep, nil
}

// vacuumFull rewrites one table into a new file. pg_statistic belongs to
// the bootstrap superuser: when the hub's role may not rewrite it
// (PostgreSQL 17: the pg_maintain role may), the log says so and the
// table is left for an administrator; ok is false then.
func (s *Service) vacuumFull(ctx context.Context, table string) (ok bool, err error) {
	conn, err := s.DB.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("rewrite %s: %w", table, err)
	}
	defer conn.Release()
	var allowed bool
	if err := conn.QueryRow(ctx, `select case when rolsuper or pg_has_role(current_user, c.relowner, 'usage') then true
			when current_setting('server_version_num')::int >= 170000 then pg_has_role(current_user, 'pg_maintain', 'member') else false end
		from pg_roles, pg_class c where rolname = current_user and c.oid = $1::regclass`, table).Scan(&allowed); err != nil {
		return false, fmt.Errorf("rewrite %s: %w", table, err)
	}
	if !allowed {
		s.Log.Warn("erasure: the database role may not rewrite a table; its dead rows keep their bytes until an administrator runs VACUUM FULL on it", "table", table)
		return false, nil
	}
	if _, err := conn.Exec(ctx, "set lock_timeout = '"+lockWait+"'"); err != nil {
		return false, fmt.Errorf("rewrite %s: %w", table, err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "reset lock_timeout") //nolint:errcheck // the pool resets sessions it cannot reuse
	if err := retryLocked(ctx, func() error {
		_, err := conn.Exec(ctx, "vacuum (full) "+table)
		return err
	}); err != nil {
		return false, fmt.Errorf("rewrite %s: %w", table, err)
	}
	return true, nil
}
