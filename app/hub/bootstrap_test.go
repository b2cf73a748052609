package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"contactpoint/adapters/auth"
)

// TestFirstStartEnrolsAnAdministrator: a hub started on an empty register
// enrols its administrator and writes the credentials once, mode 0600, to
// the data directory; they sign in. A second start leaves the file and the
// register as they are.
func TestFirstStartEnrolsAnAdministrator(t *testing.T) {
	cfg := newConfig(t)
	cfg.Auth.BootstrapAdmin = "admin"
	path := filepath.Join(cfg.DataDir, "bootstrap-admin.json")

	h := startHub(t, cfg)
	st, err := os.Stat(path)
	if err != nil {
		h.Close()
		t.Fatalf("no credentials file after the first start: %v", err)
	}
	if mode := st.Mode().Perm(); mode != 0o600 {
		t.Errorf("credentials file mode %o, want 600", mode)
	}
	first, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cred auth.Credentials
	if err := json.Unmarshal(first, &cred); err != nil || cred.Username != "admin" || cred.Password == "" || cred.TOTPSecret == "" {
		t.Fatalf("credentials file %v: %+v", err, cred)
	}
	st2, body := login(t, h, cred.Username, cred.Password, code(t, cred.TOTPSecret))
	if st2 != http.StatusOK {
		t.Fatalf("the bootstrap credentials do not sign in: %d %v", st2, body)
	}
	if c, b := status(t, h, http.MethodGet, body["token"].(string), "/v1/practitioners", nil); c != http.StatusOK {
		t.Fatalf("the bootstrap administrator cannot list the register: %d %s", c, b)
	}
	h.Close()

	// The second start, even asked for another name, enrols nobody and
	// leaves the file alone.
	cfg.Auth.BootstrapAdmin = "root"
	h = startHub(t, cfg)
	defer h.Close()
	again, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(again, first) {
		t.Fatalf("the second start changed the credentials file (%v)", err)
	}
	list, err := h.Registry.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Username != "admin" {
		t.Fatalf("register after the second start: %d entries", len(list))
	}
	if _, err := h.Registry.ByUsername(context.Background(), "root"); err == nil {
		t.Fatal("the second start enrolled another administrator")
	}
}

// TestNoBootstrapOverAnOldFile: an empty register with a credentials file
// left from an earlier start enrols nobody and keeps the file: the hub will
// not hand out an account whose credentials it could not write.
func TestNoBootstrapOverAnOldFile(t *testing.T) {
	cfg := newConfig(t)
	cfg.Auth.BootstrapAdmin = "admin"
	path := filepath.Join(cfg.DataDir, "bootstrap-admin.json")
	old := []byte(`{"username":"admin","password":"from an earlier start"}`)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, old, 0o600); err != nil {
		t.Fatal(err)
	}
	h := startHub(t, cfg)
	defer h.Close()
	if got, _ := os.ReadFile(path); !bytes.Equal(got, old) {
		t.Fatal("the old credentials file was overwritten")
	}
	if list, err := h.Registry.List(context.Background()); err != nil || len(list) != 0 {
		t.Fatalf("register: %d entries (%v), want none", len(list), err)
	}
}
