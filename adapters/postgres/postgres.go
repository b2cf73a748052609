// Package postgres opens the hub's PostgreSQL database and keeps its schema
// current with migrations embedded in the binary.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DefaultURL is a local server with trust authentication.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/contactpoint?sslmode=disable"

// Open connects, creating the database if the server has none of that name,
// and migrates it. Errors are one clear line saying what to do.
func Open(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("database URL is not valid: %w", err)
	}
	if cfg.MaxConns < 8 {
		cfg.MaxConns = 8
	}
	pool, err := connect(ctx, cfg)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "3D000" { // invalid_catalog_name
		if cerr := CreateDatabase(ctx, dsn); cerr != nil {
			return nil, cerr
		}
		pool, err = connect(ctx, cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot reach PostgreSQL at %s: %v — start PostgreSQL or pass --database-url (CONTACTPOINT_DATABASE_URL)", Redact(dsn), rootCause(err))
	}
	if err := Migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

func connect(ctx context.Context, cfg *pgxpool.Config) (*pgxpool.Pool, error) {
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

func rootCause(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Message
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && i+2 < len(s) {
		return s[i+2:]
	}
	return s
}

// CreateDatabase creates the database named in dsn, connecting to the
// server's "postgres" database to do so.
func CreateDatabase(ctx context.Context, dsn string) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("database URL is not valid: %w", err)
	}
	name := cfg.Database
	cfg.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("cannot reach PostgreSQL at %s to create database %q: %v — start PostgreSQL or pass --database-url", Redact(dsn), name, rootCause(err))
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "create database "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if err != nil && !(errors.As(err, &pgErr) && pgErr.Code == "42P04") { // duplicate_database
		return fmt.Errorf("create database %q: %w", name, err)
	}
	return nil
}

// DropDatabase removes the database named in dsn; tests and benchmarks use
// it to leave nothing behind.
func DropDatabase(ctx context.Context, dsn string) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return err
	}
	name := cfg.Database
	cfg.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "drop database if exists "+pgx.Identifier{name}.Sanitize()+" with (force)")
	return err
}

// Migrate applies the embedded migrations.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	m, err := migrate.NewMigrator(ctx, conn.Conn(), "schema_version")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	if err := m.LoadMigrations(sub); err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate database: %w", err)
	}
	return nil
}

// Redact hides the password in a database URL.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "***")
	}
	return u.String()
}

// Checkpoint reads a consumer's last processed sequence (0 if none).
func Checkpoint(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, name string) (uint64, error) {
	var seq int64
	err := q.QueryRow(ctx, "select last_seq from checkpoints where name = $1", name).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read checkpoint %s: %w", name, err)
	}
	return uint64(seq), nil
}

// ErrCheckpointMoved refuses a checkpoint write whose writer's idea of the
// stored position is not the database's: rows and checkpoint were lost (an
// asynchronous commit that a PostgreSQL crash undid) or another writer
// moved it. The writer must read the checkpoint again and resume from it.
var ErrCheckpointMoved = errors.New("checkpoint is not where its consumer left it")

// SaveCheckpoint moves a consumer's position from after to seq; call it
// inside the transaction that wrote the rows of the messages after `after`
// up to seq. It refuses (ErrCheckpointMoved) unless the stored position is
// exactly after (no row counts as 0) and seq is beyond it: a checkpoint
// never moves backwards, and never skips messages whose rows the database
// does not hold, however the consumer's memory got ahead of it.
func SaveCheckpoint(ctx context.Context, tx pgx.Tx, name, stream string, after, seq uint64) error {
	if seq <= after {
		return fmt.Errorf("save checkpoint %s: %d is not after %d: %w", name, seq, after, ErrCheckpointMoved)
	}
	tag, err := tx.Exec(ctx, `update checkpoints set last_seq = $3, stream = $2, updated_at = now()
		where name = $1 and last_seq = $4`, name, stream, int64(seq), int64(after))
	if err == nil && tag.RowsAffected() == 0 && after == 0 {
		tag, err = tx.Exec(ctx, `insert into checkpoints (name, stream, last_seq) values ($1, $2, $3)
			on conflict (name) do nothing`, name, stream, int64(seq))
	}
	if err != nil {
		return fmt.Errorf("save checkpoint %s: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		stored, err := Checkpoint(ctx, tx, name)
		if err != nil {
			return fmt.Errorf("save checkpoint %s: %w", name, err)
		}
		return fmt.Errorf("save checkpoint %s: stored %d, consumer was at %d: %w", name, stored, after, ErrCheckpointMoved)
	}
	return nil
}

// AsyncCommit lets the transaction commit without waiting for its WAL to
// reach disk. Only for transactions whose rows can be rebuilt from the
// event log and that carry their own checkpoint: a crash can lose the last
// few such commits whole (rows and checkpoint together, never one without
// the other), and the consumer re-applies them from the older checkpoint.
func AsyncCommit(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, "set local synchronous_commit = off"); err != nil {
		return fmt.Errorf("async commit: %w", err)
	}
	return nil
}
