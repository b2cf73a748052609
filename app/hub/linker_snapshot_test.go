package hub_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"contactpoint/adapters/postgres/pgtest"
	"contactpoint/app/hub"
	"contactpoint/app/linker"
)

// TestARestartedHubLinksFromTheSnapshot: a hub stopped cleanly leaves its
// linker's index in its data directory; started again, it reads that
// snapshot instead of the whole CHILDREN stream and links new records to
// the children it knew. The backup leaves the snapshot out.
func TestARestartedHubLinksFromTheSnapshot(t *testing.T) {
	ctx := context.Background()
	cfg := newConfig(t)
	snap := filepath.Join(cfg.DataDir, "linker", linker.SnapshotFile)
	start := func() (*hub.Hub, *lockedBuffer) {
		t.Helper()
		var logs lockedBuffer
		sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		h, err := hub.Start(sctx, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		return h, &logs
	}
	started := func(logs *lockedBuffer) string {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			for _, line := range strings.Split(logs.String(), "\n") {
				if strings.Contains(line, "linker started") {
					return line
				}
			}
		}
		t.Fatal("the linker did not start")
		return ""
	}

	h, logs := start()
	if line := started(logs); !strings.Contains(line, "from_snapshot=false") {
		t.Fatalf("first start: %s", line)
	}
	recs := population(600)
	if code, body := post(t, h, "health", "application/x-ndjson", ndjson(recs)); code != 202 {
		t.Fatalf("%d %v", code, body)
	}
	waitProjected(t, h)
	h.Close()
	if _, err := os.Stat(snap); err != nil {
		t.Fatalf("no snapshot after a clean stop: %v", err)
	}

	h, logs = start()
	defer h.Close()
	line := started(logs)
	if !strings.Contains(line, "from_snapshot=true") || !strings.Contains(line, "children=600") {
		t.Fatalf("restart: %s", line)
	}
	if strings.Contains(logs.String(), "snapshot not used") {
		t.Fatalf("restart: %s", logs.String())
	}
	// Another agency's records of the same children link to them.
	if code, body := post(t, h, "social-care", "application/x-ndjson", ndjson(restamp(recs[:100], "social-care", "lcs"))); code != 202 {
		t.Fatalf("%d %v", code, body)
	}
	waitProjected(t, h)
	n, s, err := h.Store.Count(ctx)
	if err != nil || n != 600 || s != 700 {
		t.Fatalf("want 600 children holding 700 sources, got %d, %d (%v)", n, s, err)
	}

	out := t.TempDir()
	if err := hub.Backup(ctx, cfg.DataDir, cfg.DatabaseURL, out); err != nil {
		t.Fatal(err)
	}
	err = filepath.Walk(out, func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(p, linker.SnapshotFile) {
			t.Errorf("the backup holds the index snapshot %s", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestAnInstanceWithoutTheLinkersLeaseDropsItsSnapshot: an instance that
// left a snapshot when it stopped, and finds on its return that another
// instance holds the linker's lease, deletes it (the holder may erase
// children the file would keep); when the lease comes back to it, it
// rebuilds from CHILDREN and links on.
func TestAnInstanceWithoutTheLinkersLeaseDropsItsSnapshot(t *testing.T) {
	natsURL := externalNATS(t)
	dbURL := pgtest.NewDatabase(t)
	cfgA := hub.Config{HTTPAddr: "127.0.0.1:0", DataDir: t.TempDir(), DatabaseURL: dbURL, NATSURL: natsURL}
	cfgB := cfgA
	cfgB.DataDir = t.TempDir()
	snapA := filepath.Join(cfgA.DataDir, "linker", linker.SnapshotFile)
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal(what)
			}
		}
	}
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }

	a := startHub(t, cfgA)
	recs := population(50)
	if code, body := post(t, a, "health", "application/x-ndjson", ndjson(recs)); code != 202 {
		t.Fatalf("%d %v", code, body)
	}
	waitProjected(t, a)
	a.Close()
	if !exists(snapA) {
		t.Fatal("no snapshot after a clean stop")
	}
	b := startHub(t, cfgB)
	defer func() { b.Close() }()
	waitFor("the second instance did not take the linker's lease", func() bool { return b.Holds(linker.CheckpointName) })
	a = startHub(t, cfgA)
	defer a.Close()
	waitFor("the instance without the lease kept its snapshot", func() bool { return !exists(snapA) })
	if a.Holds(linker.CheckpointName) {
		t.Fatal("both instances hold the linker's lease")
	}
	b.Close()
	waitFor("the lease did not come back", func() bool { return a.Holds(linker.CheckpointName) })
	if code, body := post(t, a, "social-care", "application/x-ndjson", ndjson(restamp(recs[:10], "social-care", "lcs"))); code != 202 {
		t.Fatalf("%d %v", code, body)
	}
	waitProjected(t, a)
	if n, s, err := a.Store.Count(context.Background()); err != nil || n != 50 || s != 60 {
		t.Fatalf("want 50 children holding 60 sources, got %d, %d (%v)", n, s, err)
	}
}

// TestLinkerSnapshotEveryIsChecked: a snapshot interval too short to be
// worth its copies is refused at start, naming the setting.
func TestLinkerSnapshotEveryIsChecked(t *testing.T) {
	for _, n := range []uint64{1, 500, hub.MinLinkerSnapshotEvery - 1} {
		cfg := hub.Config{HTTPAddr: "127.0.0.1:0", DataDir: t.TempDir(), DatabaseURL: "postgres://127.0.0.1:1/none", LinkerSnapshotEvery: n}
		h, err := hub.Start(context.Background(), cfg, quietLog())
		if err == nil {
			h.Close()
			t.Fatalf("%d: started", n)
		}
		if !strings.Contains(err.Error(), "linker-snapshot-every") {
			t.Fatalf("%d: %v", n, err)
		}
	}
}
