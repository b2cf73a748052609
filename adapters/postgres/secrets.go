package postgres

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Secret returns the deployment's secret called name, creating it (size
// random bytes) on first use. Every instance of the hub reads the same
// value: the first start inserts and concurrent ones keep what landed
// first (insert ... on conflict do nothing, then read back). Callers must
// never log it.
func Secret(ctx context.Context, pool *pgxpool.Pool, name string, size int) ([]byte, error) {
	fresh := make([]byte, size)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	if _, err := pool.Exec(ctx, "insert into hub_secrets (name, value) values ($1, $2) on conflict (name) do nothing", name, fresh); err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	var value []byte
	if err := pool.QueryRow(ctx, "select value from hub_secrets where name = $1", name).Scan(&value); err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	if len(value) < size {
		return nil, fmt.Errorf("secret %s: stored value is %d bytes, want at least %d", name, len(value), size)
	}
	return value, nil
}
