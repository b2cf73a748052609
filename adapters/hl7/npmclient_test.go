package hl7

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEndToEndWithNodeClient sends messages with node-hl7-client, an HL7
// implementation written independently of this package, so that framing
// and ACKs are checked against someone else's reading of the standard.
// It needs node (20.15+) and the client installed:
//
//	cd adapters/hl7/testdata/npmclient && npm ci
func TestEndToEndWithNodeClient(t *testing.T) {
	dir := filepath.Join("testdata", "npmclient")
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: skipping the end-to-end test with node-hl7-client")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "node-hl7-client", "package.json")); err != nil {
		t.Skip("node-hl7-client is not installed: run `npm ci` in adapters/hl7/testdata/npmclient")
	}
	rec := &recorder{}
	srv := startServer(t, Config{Systems: map[string]string{"RIH": "royal-infirmary-pas"}}, rec)
	host, port, _ := strings.Cut(srv.addr, ":")

	files := []string{"a08_v251.hl7", "a04_v23.hl7", "a40_v251.hl7"}
	args := []string{"send.cjs", host, port}
	for _, f := range files {
		abs, _ := filepath.Abs(filepath.Join("testdata", f))
		args = append(args, abs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("node client: %v\n%s\n%s", err, out, stderr)
	}
	type ack struct{ Code, Ref string }
	var acks []ack
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var a ack
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("client output %q: %v", line, err)
		}
		acks = append(acks, a)
	}
	want := []ack{{AckAccept, "MSG00001"}, {AckAccept, "CTRL23"}, {AckAccept, "MSG00040"}} // A40 travels as a merge record
	if len(acks) != len(want) {
		t.Fatalf("ACKs = %+v, want %+v", acks, want)
	}
	for i := range want {
		if acks[i] != want[i] {
			t.Errorf("ACK %d = %+v, want %+v", i, acks[i], want[i])
		}
	}
	if n, q := rec.counts(); n != 3 || q != 0 {
		t.Errorf("records/quarantined = %d/%d, want 3/0", n, q)
	}
	for _, s := range rec.records {
		mustValidate(t, s.rec)
	}
}

// TestEndToEndWithSimpleHL7 sends the same messages, and one with a bad
// date of birth, with simple-hl7: a second client, written independently
// of node-hl7-client and of this package, reads the hub's framing and ACKs.
func TestEndToEndWithSimpleHL7(t *testing.T) {
	dir := filepath.Join("testdata", "npmclient")
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: skipping the end-to-end test with simple-hl7")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "simple-hl7", "package.json")); err != nil {
		t.Skip("simple-hl7 is not installed: run `npm ci` in adapters/hl7/testdata/npmclient")
	}
	rec := &recorder{}
	srv := startServer(t, Config{Systems: map[string]string{"RIH": "royal-infirmary-pas"}}, rec)
	host, port, _ := strings.Cut(srv.addr, ":")
	args := []string{"send-simple.cjs", host, port}
	for _, f := range []string{"a08_v251.hl7", "a04_v23.hl7", "a40_v251.hl7", "a04_bad_dob.hl7"} {
		abs, _ := filepath.Abs(filepath.Join("testdata", f))
		args = append(args, abs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("simple-hl7: %v\n%s\n%s", err, out, stderr)
	}
	type ack struct{ Code, Ref, Err2 string }
	var acks []ack
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var a ack
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("client output %q: %v", line, err)
		}
		acks = append(acks, a)
	}
	want := []ack{{AckAccept, "MSG00001", ""}, {AckAccept, "CTRL23", ""}, {AckAccept, "MSG00040", ""}, {AckError, "BADDOB1", "PID^1^7"}}
	if len(acks) != len(want) {
		t.Fatalf("ACKs = %+v, want %+v", acks, want)
	}
	for i := range want {
		if acks[i] != want[i] {
			t.Errorf("ACK %d = %+v, want %+v", i, acks[i], want[i])
		}
	}
	if n, q := rec.counts(); n != 3 || q != 1 {
		t.Errorf("records/quarantined = %d/%d, want 3/1", n, q)
	}
}
