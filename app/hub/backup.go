package hub

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
)

// Backup copies what the hub keeps into out: the embedded event log's store
// (data-dir/jetstream, copied file by file) and a pg_dump of the database
// (out/database.sql). Run it with the hub stopped, as the store is then at
// rest; an external NATS cluster is backed up with its own tools. The copy
// is what an erasure must reach too: erasure overwrites the messages in the
// store, so a backup taken after it holds none of the child's data, and
// one taken before ages out with the backup rotation.
func Backup(ctx context.Context, dataDir, databaseURL, out string) error {
	if err := os.MkdirAll(out, 0o700); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	src := filepath.Join(dataDir, "jetstream")
	if err := copyTree(src, filepath.Join(out, "jetstream")); err != nil {
		return fmt.Errorf("backup: event log: %w", err)
	}
	cmd := exec.CommandContext(ctx, "pg_dump", "--no-owner", "--file", filepath.Join(out, "database.sql"), databaseURL)
	if b, err := cmd.CombinedOutput(); err != nil {
		// pg_dump's output names objects, not rows; it is kept short.
		if len(b) > 300 {
			b = b[:300]
		}
		return fmt.Errorf("backup: pg_dump: %w: %s", err, b)
	}
	return nil
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		o, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(o, in); err != nil {
			o.Close()
			return err
		}
		return o.Close()
	})
}
