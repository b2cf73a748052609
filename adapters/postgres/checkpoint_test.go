package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"contactpoint/adapters/postgres"
	"contactpoint/adapters/postgres/pgtest"
)

// A checkpoint moves only from where the database holds it: never back,
// never past messages whose rows the database does not hold.
func TestSaveCheckpointMovesOnlyFromTheStoredPosition(t *testing.T) {
	ctx := context.Background()
	pool, err := postgres.Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	save := func(after, seq uint64) error {
		return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return postgres.SaveCheckpoint(ctx, tx, "p", "S", after, seq) })
	}
	steps := []struct {
		name       string
		after, seq uint64
		ok         bool
	}{
		{"first write from nothing", 0, 10, true},
		{"again from nothing", 0, 5, false},
		{"from the stored position", 10, 25, true},
		{"from a position the database lost", 40, 60, false},
		{"backwards", 25, 20, false},
		{"standing still", 25, 25, false},
		{"on from the stored position", 25, 26, true},
	}
	for _, s := range steps {
		err := save(s.after, s.seq)
		if s.ok != (err == nil) || (err != nil && !errors.Is(err, postgres.ErrCheckpointMoved)) {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
	if cp, err := postgres.Checkpoint(ctx, pool, "p"); err != nil || cp != 26 {
		t.Fatalf("checkpoint %d: %v", cp, err)
	}
}
