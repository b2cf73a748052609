package hub_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"contactpoint/adapters/natsjs"
	"contactpoint/adapters/postgres"
	"contactpoint/app/hub"
	"contactpoint/projections/directory"
)

// cluster is a PostgreSQL server of the test's own, in a temporary
// directory, so that the test can crash it. Its WAL writer flushes only
// every 10 s, so that asynchronous commits are still in memory when it
// crashes, as they can be on a busy server.
type cluster struct {
	t         *testing.T
	bin, dir  string
	port      int
	asPostgre bool // root may not run PostgreSQL: run it as the postgres user
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		if p, err := exec.LookPath("pg_ctl"); err == nil {
			bins = []string{p}
		} else {
			t.Skip("no pg_ctl: install PostgreSQL's server binaries (Debian: postgresql)")
		}
	}
	c := &cluster{t: t, bin: filepath.Dir(bins[len(bins)-1]), asPostgre: os.Geteuid() == 0}
	dir, err := os.MkdirTemp("", "cp-pgcrash-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	c.dir = filepath.Join(dir, "data")
	if c.asPostgre {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skip("running as root and there is no postgres user to run PostgreSQL as")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	c.run("initdb", "-D", c.dir, "-A", "trust", "-U", "postgres", "--no-sync")
	c.start()
	t.Cleanup(func() { c.pgctl("stop", "-m", "immediate") })
	return c
}

func (c *cluster) run(name string, args ...string) {
	c.t.Helper()
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	if c.asPostgre {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(c.bin, name)}, args...)...)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		c.t.Fatalf("%s: %v\n%s", name, err, out)
	}
}

func (c *cluster) pgctl(args ...string) {
	c.t.Helper()
	c.run("pg_ctl", append([]string{"-D", c.dir, "-w", "-l", filepath.Join(filepath.Dir(c.dir), "log")}, args...)...)
}

func (c *cluster) start() {
	c.t.Helper()
	c.pgctl("start", "-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c wal_writer_delay=10s", c.port, filepath.Dir(c.dir)))
}

// crash stops the server as a power cut would: no checkpoint, no flush of
// what asynchronous commits left in the WAL buffers.
func (c *cluster) crash() { c.pgctl("stop", "-m", "immediate") }

func (c *cluster) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// PostgreSQL crashes and comes back while the hub keeps running — once just
// after the consumers caught up (idle, their last asynchronous commits not
// yet on disk: the pool then hands them a fresh connection without an
// error), once while they are catching up. The consumers resume from what
// the database holds, not from their memory, so every accepted record is in
// the directory once, and the directory equals a full replay.
func TestPostgresCrashLosesNothing(t *testing.T) {
	pg := newCluster(t)
	cfg := hub.Config{HTTPAddr: "127.0.0.1:0", DataDir: t.TempDir(), DatabaseURL: pg.url("contactpoint")}
	h := startHub(t, cfg)
	defer h.Close()
	ctx := context.Background()
	recs := population(9000)
	send := func(recs []map[string]any) {
		for i := 0; i < len(recs); i += 1000 {
			for attempt := 0; ; attempt++ {
				code, body := post(t, h, "health", "application/x-ndjson", ndjson(recs[i:i+1000]))
				if code == 202 {
					break
				}
				// Just after a crash the hub answers 503 until its pool
				// reconnects; resending is safe.
				if code != 503 || attempt > 50 {
					t.Fatalf("%d %v", code, body)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	recover := func() {
		wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		for {
			err := h.WaitProjected(wctx)
			if err == nil {
				return
			}
			if wctx.Err() != nil {
				t.Fatalf("hub did not recover: %v", err)
			}
			time.Sleep(200 * time.Millisecond) // the pool reconnects
		}
	}
	crash := func(when string) {
		dirAt, _ := postgres.Checkpoint(ctx, h.DB, directory.Name)
		head, _ := natsjs.LastSeq(ctx, h.NATS.JS, natsjs.StreamChildren)
		pg.crash()
		t.Logf("crashed PostgreSQL %s, the directory at %d of %d CHILDREN messages", when, dirAt, head)
		pg.start()
	}

	send(recs[:3000])
	recover()
	crash("with the consumers caught up")
	send(recs[3000:6000])
	crash("while the consumers catch up")
	send(recs[6000:])
	recover()

	n, s, err := h.Store.Count(ctx)
	if err != nil || n != len(recs) || s != len(recs) {
		t.Fatalf("want %d children and sources, got %d, %d (%v)", len(recs), n, s, err)
	}
	var dupes int
	if err := h.DB.QueryRow(ctx, `select count(*) from (select nhs_number from directory group by 1 having count(*) > 1) d`).Scan(&dupes); err != nil || dupes != 0 {
		t.Fatalf("duplicated children: %d (%v)", dupes, err)
	}
	before := dump(t, h)
	if err := h.Dir.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	if after := dump(t, h); after != before {
		t.Fatal("the directory after the crashes differs from a full replay")
	}
}
