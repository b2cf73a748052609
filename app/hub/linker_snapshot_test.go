package hub_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
