// Package pgtest gives each test package a fresh PostgreSQL database on the
// local server, dropped when the test ends.
package pgtest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"contactpoint/adapters/postgres"
)

// ServerURL is the server tests use: CONTACTPOINT_TEST_DATABASE_URL, or the
// local trust-auth server.
func ServerURL() string {
	if u := os.Getenv("CONTACTPOINT_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// NewDatabase creates an empty database and returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	name := "cptest_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	dsn := strings.Replace(ServerURL(), "/postgres?", "/"+name+"?", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := postgres.CreateDatabase(ctx, dsn); err != nil {
		t.Fatalf("test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := postgres.DropDatabase(ctx, dsn); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
	})
	return dsn
}

// Name returns a database name usable in messages.
func Name(dsn string) string { return fmt.Sprint(dsn[strings.LastIndex(dsn, "/")+1:]) }
