package auth_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
)

// TestBootstrapAdminOnce: hub instances starting together on an empty
// register enrol one administrator between them, and write one file.
func TestBootstrapAdminOnce(t *testing.T) {
	reg, _, _ := signInService(t)
	dir := t.TempDir()
	const n = 4
	var wg sync.WaitGroup
	created := make(chan bool, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each instance has its own data directory.
			ok, err := reg.BootstrapAdmin(context.Background(), "admin", filepath.Join(dir, string(rune('a'+i)), "bootstrap-admin.json"))
			if err != nil {
				t.Error(err)
			}
			created <- ok
		}()
	}
	wg.Wait()
	close(created)
	count := 0
	for ok := range created {
		if ok {
			count++
		}
	}
	if count != 1 {
		t.Fatalf("%d instances enrolled an administrator, want 1", count)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*", "bootstrap-admin.json"))
	if len(files) != 1 {
		t.Fatalf("%d credentials files written, want 1", len(files))
	}
	if list, err := reg.List(context.Background()); err != nil || len(list) != 1 {
		t.Fatalf("register holds %d entries (%v), want 1", len(list), err)
	}
}
