package hub_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"contactpoint/adapters/auth"
	"contactpoint/adapters/natsjs"
	"contactpoint/adapters/postgres"
	"contactpoint/adapters/postgres/pgtest"
	"contactpoint/app/hub"
	"contactpoint/app/linker"
	"contactpoint/domain/child"
	"contactpoint/projections/directory"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// natsCluster starts three nats-server processes clustered on loopback,
// each with its own store, and returns their client URLs and processes.
func natsCluster(t *testing.T) ([]string, []*exec.Cmd) {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nats-server"); serr != nil {
			t.Skip("no nats-server binary to run a cluster")
		}
		bin = "/usr/sbin/nats-server"
	}
	const n = 3
	client, route := make([]int, n), make([]int, n)
	for i := range client {
		client[i], route[i] = freePort(t), freePort(t)
	}
	var urls []string
	var cmds []*exec.Cmd
	for i := 0; i < n; i++ {
		var routes []string
		for j := 0; j < n; j++ {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", route[j]))
			}
		}
		dir := t.TempDir()
		conf := fmt.Sprintf("server_name: n%d\nlisten: 127.0.0.1:%d\njetstream { store_dir: %q }\ncluster { name: cp, listen: 127.0.0.1:%d, routes: [%s] }\n",
			i+1, client[i], dir, route[i], strings.Join(routes, ", "))
		file := filepath.Join(dir, "nats.conf")
		if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-c", file)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", client[i]))
		cmds = append(cmds, cmd)
	}
	// The cluster is ready when JetStream can place a stream of three.
	nc, err := nats.Connect(strings.Join(urls, ","), nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "READY", Subjects: []string{"ready"}, Replicas: 3})
		cancel()
		if err == nil {
			_ = js.DeleteStream(context.Background(), "READY")
			return urls, cmds
		}
		if time.Now().After(deadline) {
			t.Fatalf("NATS cluster did not form: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// buildBinary builds the contactpoint command into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "contactpoint")
	cmd := exec.Command("go", "build", "-o", bin, "../../cmd/contactpoint")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

type instance struct {
	addr string
	cmd  *exec.Cmd
	log  *bytes.Buffer
}

func startInstance(t *testing.T, bin, natsURL, dbURL string) *instance {
	t.Helper()
	in := &instance{addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), log: &bytes.Buffer{}}
	in.cmd = exec.Command(bin, "serve", "--http-addr", in.addr, "--data-dir", t.TempDir(), "--database-url", dbURL,
		"--nats-url", natsURL, "--stream-replicas", "3", "--bootstrap-admin", "")
	in.cmd.Stdout, in.cmd.Stderr = in.log, in.log
	if err := in.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.cmd.Process.Kill(); _, _ = in.cmd.Process.Wait() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + in.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return in
			}
		}
		if time.Now().After(deadline) || in.cmd.ProcessState != nil {
			t.Fatalf("instance did not start:\n%s", in.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fleetRecords are 360 records of 240 children: every child from one PAS,
// half of them again from a second with the same NHS numbers.
func fleetRecords() [][]byte {
	recs := population(240)
	recs = append(recs, restamp(recs[:120], "health", "pas2")...)
	out := make([][]byte, 0, len(recs))
	for i := 0; i < len(recs); i += 12 {
		out = append(out, ndjson(recs[i:min(i+12, len(recs))]))
	}
	return out
}

// TestFleetSurvivesLosingTheLinkerAndANATSNode runs three hub processes
// against a three-node NATS cluster (streams at three replicas) and one
// database, kills -9 the instance holding the linker's lease in the middle
// of an ingest and then one NATS node, and checks that every accepted
// record is linked once, nothing is duplicated, and the directory groups
// the records as a single instance does on the same input.
func TestFleetSurvivesLosingTheLinkerAndANATSNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	urls, nodes := natsCluster(t)
	bin := buildBinary(t)
	dbURL := pgtest.NewDatabase(t)
	natsURL := strings.Join(urls, ",")
	ctx := context.Background()

	fleet := []*instance{startInstance(t, bin, natsURL, dbURL)}
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	nc, err := nats.Connect(natsURL, nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	keys := map[string]string{}
	for _, sys := range []string{"pas", "pas2"} {
		k, _, err := auth.NewRegistry(js, pool).IssueKey(ctx, "health", sys, "test")
		if err != nil {
			t.Fatal(err)
		}
		keys[sys] = k
	}
	fleet = append(fleet, startInstance(t, bin, natsURL, dbURL), startInstance(t, bin, natsURL, dbURL))
	for _, name := range []string{natsjs.StreamFeeds, natsjs.StreamChildren, natsjs.StreamAudit} {
		st, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if r := st.CachedInfo().Config.Replicas; r != 3 {
			t.Fatalf("stream %s has %d replicas, want 3", name, r)
		}
	}

	alive := func() []*instance {
		var out []*instance
		for _, in := range fleet {
			if in.cmd.ProcessState == nil && in.cmd.Process.Signal(syscall.Signal(0)) == nil {
				out = append(out, in)
			}
		}
		return out
	}
	// send posts one batch, moving to another instance and trying again
	// after any failure: a resend is dropped by the dedupe window.
	send := func(i int, body []byte) {
		sys := "pas"
		if bytes.Contains(body, []byte(`"pas2"`)) {
			sys = "pas2"
		}
		for attempt := 0; ; attempt++ {
			in := alive()[(i+attempt)%len(alive())]
			req, _ := http.NewRequest(http.MethodPost, "http://"+in.addr+"/v1/feeds/health/records", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/x-ndjson")
			req.Header.Set("X-API-Key", keys[sys])
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusAccepted {
					return
				}
			}
			if attempt > 200 {
				t.Fatalf("batch %d not accepted: %v", i, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	holder := func(name string) string {
		h, err := postgres.LeaseHolder(ctx, pool, name)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}

	batches := fleetRecords()
	third := len(batches) / 3
	for i, b := range batches[:third] {
		send(i, b)
	}
	// Kill -9 the linker's holder while it links.
	was := holder(linker.CheckpointName)
	var victim *instance
	for _, in := range fleet {
		if strings.HasSuffix(was, fmt.Sprintf("/%d", in.cmd.Process.Pid)) {
			victim = in
		}
	}
	if victim == nil {
		t.Fatalf("no instance holds the linker's lease (holder %q)", was)
	}
	_ = victim.cmd.Process.Kill()
	_, _ = victim.cmd.Process.Wait()
	killed := time.Now()
	for i, b := range batches[third : 2*third] {
		send(third+i, b)
	}
	// Then one NATS node.
	_ = nodes[2].Process.Kill()
	_, _ = nodes[2].Process.Wait()
	for i, b := range batches[2*third:] {
		send(2*third+i, b)
	}
	for {
		now := holder(linker.CheckpointName)
		if now != "" && now != was {
			t.Logf("linker's lease moved %s after the kill", time.Since(killed).Round(time.Millisecond))
			break
		}
		if time.Since(killed) > 30*time.Second {
			t.Fatalf("linker's lease did not move (holder %q)", now)
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitCaught(t, pool, js)

	n, s, err := directory.NewStore(pool).Count(ctx)
	if err != nil || n != 240 || s != 360 {
		t.Fatalf("want 240 children of 360 sources, got %d, %d (%v)", n, s, err)
	}
	if feeds := streamState(t, js, natsjs.StreamFeeds); feeds != 360 {
		t.Fatalf("FEEDS holds %d messages, want 360 (a resend duplicated)", feeds)
	}
	var dupes int
	if err := pool.QueryRow(ctx, `select count(*) from (select nhs_number from directory group by 1 having count(*) > 1) d`).Scan(&dupes); err != nil || dupes != 0 {
		t.Fatalf("duplicated children: %d (%v)", dupes, err)
	}
	// Every source record was stated once on CHILDREN, whichever linker ran.
	if stated := countStated(t, js); stated != 360 {
		t.Fatalf("CHILDREN states %d source records, want 360", stated)
	}
	fleetGroups := groups(t, pool)

	// The same input through one instance.
	single := startHub(t, newConfig(t))
	defer single.Close()
	for _, b := range batches {
		if code, body := post(t, single, "health", "application/x-ndjson", b); code != http.StatusAccepted {
			t.Fatalf("%d %v", code, body)
		}
	}
	waitProjected(t, single)
	if got := groups(t, single.DB); got != fleetGroups {
		t.Fatalf("the fleet's directory differs from a single instance's:\n%s\n---\n%s", fleetGroups, got)
	}
}

// groups is the directory as a partition of source records into children,
// which holds whichever instance named the children.
func groups(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `select string_agg(agency||'/'||system||'/'||record_id, ' ' order by agency, system, record_id)
		from directory_sources group by child_id`)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			t.Fatal(err)
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

func streamState(t *testing.T, js jetstream.JetStream, name string) uint64 {
	t.Helper()
	st, err := js.Stream(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// countStated counts source.stated events on CHILDREN. A read can time
// out while the stream's replicas elect a leader after a node was lost:
// it is tried again.
func countStated(t *testing.T, js jetstream.JetStream) int {
	t.Helper()
	var err error
	for attempt := 0; attempt < 10; attempt++ {
		n := 0
		err = linker.ReadChildren(context.Background(), js, 1, func(_ uint64, _ uuid.UUID, b child.Batch) error {
			for _, e := range b.Events {
				if e.Type == child.TypeStated {
					n++
				}
			}
			return nil
		})
		if err == nil {
			return n
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatal(err)
	return 0
}

// waitCaught waits until the linker has linked all of FEEDS and the
// directory has applied all of CHILDREN, reading the checkpoints.
func waitCaught(t *testing.T, pool *pgxpool.Pool, js jetstream.JetStream) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(90 * time.Second)
	for {
		ok := true
		for _, c := range []struct{ stream, name string }{{natsjs.StreamFeeds, linker.CheckpointName}, {natsjs.StreamChildren, directory.Name}} {
			last, err1 := natsjs.LastSeq(ctx, js, c.stream)
			done, err2 := postgres.Checkpoint(ctx, pool, c.name)
			ok = ok && err1 == nil && err2 == nil && done >= last && last > 0
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the fleet did not catch up")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestStewardCommandsReachTheLinkersInstance runs two hubs on one NATS
// server and one database: a merge and its preview asked of the instance
// that does not hold the linker's lease are carried out by the one that
// does, and refusals come back by name.
func TestStewardCommandsReachTheLinkersInstance(t *testing.T) {
	natsURL := externalNATS(t)
	dbURL := pgtest.NewDatabase(t)
	key := strings.Repeat("ab", 32)
	start := func() *hub.Hub {
		cfg := hub.Config{HTTPAddr: "127.0.0.1:0", DataDir: t.TempDir(), DatabaseURL: dbURL, NATSURL: natsURL}
		cfg.Auth.TokenKey = key
		return startHub(t, cfg)
	}
	a := start()
	defer a.Close()
	b := start()
	defer b.Close()
	if code, body := post(t, a, "health", "application/x-ndjson", ndjson(population(4))); code != http.StatusAccepted {
		t.Fatalf("%d %v", code, body)
	}
	var holder, other *hub.Hub
	deadline := time.Now().Add(20 * time.Second)
	for holder == nil {
		switch {
		case a.Holds(linker.CheckpointName):
			holder, other = a, b
		case b.Holds(linker.CheckpointName):
			holder, other = b, a
		case time.Now().After(deadline):
			t.Fatal("no instance holds the linker's lease")
		default:
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitProjected(t, holder)
	ids := childIDs(t, holder)
	if len(ids) != 4 {
		t.Fatalf("want 4 children, got %v", ids)
	}
	// Until the non-holder sees the steward, retry: it reads the register
	// from REGISTRY as the other wrote it.
	path := "/v1/children/" + ids[0] + "/merge"
	var code int
	var body []byte
	for time.Now().Before(deadline.Add(10 * time.Second)) {
		code, body = call(t, other, "POST", path+"?dry_run=true", map[string]string{"other": ids[1], "reason": "same child"})
		if code != http.StatusServiceUnavailable {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code != http.StatusOK {
		t.Fatalf("preview through the other instance: %d %s", code, body)
	}
	if code, body = call(t, other, "POST", path, map[string]string{"other": ids[1], "reason": "same child"}); code != http.StatusOK {
		t.Fatalf("merge through the other instance: %d %s", code, body)
	}
	if code, body = call(t, other, "POST", path, map[string]string{"other": ids[0], "reason": "again"}); code != http.StatusConflict {
		t.Fatalf("a merge of a child with itself through the other instance: %d %s", code, body)
	}
	waitProjected(t, holder)
	if n, _, err := holder.Store.Count(context.Background()); err != nil || n != 3 {
		t.Fatalf("want 3 children after the merge, got %d (%v)", n, err)
	}
}

func childIDs(t *testing.T, h *hub.Hub) []string {
	t.Helper()
	rows, err := h.DB.Query(context.Background(), "select child_id::text from directory order by 1")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}
