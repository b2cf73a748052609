package retention

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"contactpoint/adapters/postgres"
	"contactpoint/adapters/postgres/pgtest"
)

// TestSwapTableKeepsEveryWrite: audit_keys is copied to new files and
// swapped in while writers insert keys and readers read them without
// pause; every key written before, during and after is there once, under
// the table's own index and constraint names, the forwarding trigger is
// gone, the table has a new file, and a swap left half-done by a crash is
// cleaned up by the next.
func TestSwapTableKeepsEveryWrite(t *testing.T) {
	ctx := context.Background()
	pool, err := postgres.Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	s := &Service{DB: pool, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var written atomic.Int64
	insert := func() error {
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		_, err := pool.Exec(ctx, `insert into audit_keys (entry_id, key, children) values ($1, $2, $3)`, uuid.New(), key, []string{uuid.NewString()})
		if err == nil {
			written.Add(1)
		}
		return err
	}
	const preload = 100000
	if _, err := pool.Exec(ctx, `insert into audit_keys (entry_id, key, children)
		select gen_random_uuid(), sha256(i::text::bytea), array[gen_random_uuid()::text] from generate_series(1, $1) i`, preload); err != nil {
		t.Fatal(err)
	}
	written.Add(preload)
	names := func() (out []string) {
		rows, err := pool.Query(ctx, `select relname from pg_class where oid in (select indexrelid from pg_index where indrelid = 'audit_keys'::regclass)
			union all select conname from pg_constraint where conrelid = 'audit_keys'::regclass order by 1`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var n string
			_ = rows.Scan(&n)
			out = append(out, n)
		}
		return out
	}
	before := names()
	fileOf := func() (f string) {
		_ = pool.QueryRow(ctx, `select pg_relation_filepath('audit_keys')`).Scan(&f)
		return f
	}
	oldFile := fileOf()

	// A swap that stopped after its trigger was made, as a crash leaves it.
	if _, err := pool.Exec(ctx, `create table audit_keys_rewrite (like audit_keys)`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `create function audit_keys_rewrite_forward() returns trigger language plpgsql as $$ begin return new; end $$`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `create trigger rewrite_forward after insert on audit_keys for each row execute function audit_keys_rewrite_forward()`); err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := insert(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var reads, slowest atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			t0 := time.Now()
			var n int
			if err := pool.QueryRow(ctx, `select count(*) from audit_keys where children && $1`, []string{uuid.NewString()}).Scan(&n); err != nil {
				errs <- err
				return
			}
			if d := int64(time.Since(t0)); d > slowest.Load() {
				slowest.Store(d)
			}
			reads.Add(1)
		}
	}()
	held, err := s.swapTable(ctx, "audit_keys")
	time.Sleep(100 * time.Millisecond) // writes after the swap too
	close(stop)
	wg.Wait()
	close(errs)
	if err != nil {
		t.Fatal(err)
	}
	for err := range errs {
		t.Fatalf("a reader or writer failed during the swap: %v", err)
	}
	var n, distinct int
	if err := pool.QueryRow(ctx, `select count(*), count(distinct entry_id) from audit_keys`).Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if int64(n) != written.Load() || distinct != n {
		t.Fatalf("after the swap: %d rows (%d distinct), %d written", n, distinct, written.Load())
	}
	if after := names(); len(after) != len(before) || after[0] != before[0] || after[len(after)-1] != before[len(before)-1] {
		t.Fatalf("index and constraint names: %v, want %v", after, before)
	}
	var leftovers int
	if err := pool.QueryRow(ctx, `select (select count(*) from pg_trigger where tgrelid = 'audit_keys'::regclass and not tgisinternal)
		+ (select count(*) from pg_class where relname like 'audit\_keys\_rewrite%') + (select count(*) from pg_proc where proname = 'audit_keys_rewrite_forward')`).Scan(&leftovers); err != nil || leftovers != 0 {
		t.Fatalf("the swap left %d objects behind (%v)", leftovers, err)
	}
	if fileOf() == oldFile {
		t.Fatal("the table kept its file")
	}
	t.Logf("%d keys, %d written during the swap; exclusive lock held %s; %d reads, slowest %s", n, n-preload, held.Round(time.Microsecond),
		reads.Load(), time.Duration(slowest.Load()).Round(time.Millisecond))
}
