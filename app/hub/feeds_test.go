package hub_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"contactpoint/adapters/hl7"
	"contactpoint/adapters/natsjs"
	"contactpoint/app/hub"
	"contactpoint/app/quarantine"
	"contactpoint/domain/access"
)

// feedsConfig is a hub with the MLLP listener on a free port and the CSV
// mapping of the csvfeed test data.
func feedsConfig(t *testing.T) hub.Config {
	cfg := newConfig(t)
	cfg.Feeds = hub.FeedsConfig{
		MLLPAddr:        "127.0.0.1:0",
		HL7:             hl7.Config{Systems: map[string]string{"RIH": "ri-pas"}, Peers: localPeer},
		CSVMappingFiles: map[string]string{"leeds-cms": filepath.Join("..", "..", "adapters", "csvfeed", "testdata", "mapping.yaml")},
	}
	return cfg
}

// localPeer lets the test's own host send MLLP for ri-pas.
var localPeer = []hl7.Peer{{System: "ri-pas", Addresses: []string{"127.0.0.1", "::1"}}}

// adt builds an ADT message from RIH with the given control id, event and
// PID (and any further segments).
func adt(control, event string, segs ...string) []byte {
	structure := map[string]string{"A40": "ADT_A39", "A23": "ADT_A21"}[event]
	if structure == "" {
		structure = "ADT_A01"
	}
	msg := "MSH|^~\\&|PAS|RIH|CONTACTPOINT|LEEDS|20261002091400||ADT^" + event + "^" + structure + "|" + control + "|P|2.5.1\r" +
		"EVN|" + event + "|20261002091400\r" + strings.Join(segs, "\r") + "\r"
	return []byte(msg)
}

type mllpClient struct {
	conn net.Conn
	br   *bufio.Reader
}

func dialMLLP(t *testing.T, addr string) *mllpClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &mllpClient{conn: c, br: bufio.NewReader(c)}
}

// send sends one message and returns MSA-1 of the ACK and the ACK.
func (c *mllpClient) send(t *testing.T, msg []byte) (string, *hl7.Message) {
	t.Helper()
	_ = c.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if err := hl7.WriteFrame(c.conn, msg); err != nil {
		t.Fatal(err)
	}
	frame, err := hl7.ReadFrame(c.br, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	ack, err := hl7.Parse(frame)
	if err != nil {
		t.Fatalf("ACK does not parse: %v", err)
	}
	return ack.Segment("MSA").Get(1, 1, 1), ack
}

func sourceState(t *testing.T, h *hub.Hub, agency, system, id string) (child string, withdrawn bool) {
	t.Helper()
	if err := h.DB.QueryRow(context.Background(), `select child_id::text, withdrawn from directory_sources where agency=$1 and system=$2 and record_id=$3`,
		agency, system, id).Scan(&child, &withdrawn); err != nil {
		t.Fatalf("no source %s/%s/%s: %v", agency, system, id, err)
	}
	return child, withdrawn
}

func TestMLLPThroughTheHub(t *testing.T) {
	h := startHub(t, feedsConfig(t))
	defer h.Close()
	c := dialMLLP(t, h.MLLPAddr())

	survivor := "PID|1||M0048213^^^RIH^MR~943 476 5919^^^NHS^NH||Hughes^Olivia^Grace||20150314|F|||14 Elm Grove^^Leeds^^LS6 2AB"
	// A temporary registration of the same girl at an old address, before
	// her NHS number was traced: too unlike the survivor for the hub to link.
	absorbed := "PID|1||M0099999^^^RIH^MR||Hughes^Olivia^Grace||20150314|F|||3 Oak Road^^Leeds^^LS12 3AB"
	other := "PID|1||M0077777^^^RIH^MR~401 023 2137^^^NHS^NH||Khan^Aisha||20160505|F|||1 Main Street^^Leeds^^LS1 1AA"

	for i, tc := range []struct {
		msg  []byte
		want string
	}{
		{adt("C1", "A08", survivor), hl7.AckAccept},
		{adt("C2", "A04", absorbed), hl7.AckAccept},
		{adt("C3", "A28", other), hl7.AckAccept},
		{adt("C3", "A28", other), hl7.AckAccept}, // a resend is harmless
	} {
		if code, _ := c.send(t, tc.msg); code != tc.want {
			t.Fatalf("message %d: MSA-1 = %s, want %s", i, code, tc.want)
		}
	}
	waitProjected(t, h)
	if got := streamMsgs(t, h, natsjs.StreamFeeds); got != 3 {
		t.Errorf("FEEDS holds %d records, want 3 (the resend is a duplicate)", got)
	}
	a, _ := sourceState(t, h, "health", "ri-pas", "M0048213")
	b, _ := sourceState(t, h, "health", "ri-pas", "M0099999")
	t.Logf("before merge: survivor child %s, absorbed child %s", a, b)

	// A40: the PAS merged M0099999 into M0048213.
	if code, _ := c.send(t, adt("C4", "A40", "PID|1||M0048213^^^RIH^MR||Hughes^Olivia", "MRG|M0099999^^^RIH^MR")); code != hl7.AckAccept {
		t.Fatalf("A40: MSA-1 = %s", code)
	}
	// A23: the PAS deleted the other patient's record.
	if code, _ := c.send(t, adt("C5", "A23", "PID|1||M0077777^^^RIH^MR")); code != hl7.AckAccept {
		t.Fatalf("A23: MSA-1 = %s", code)
	}
	waitProjected(t, h)
	a2, sw := sourceState(t, h, "health", "ri-pas", "M0048213")
	b2, bw := sourceState(t, h, "health", "ri-pas", "M0099999")
	if sw || !bw {
		t.Errorf("after A40: survivor withdrawn=%v, absorbed withdrawn=%v; want false, true", sw, bw)
	}
	// The source merged its two records: the hub's children are one.
	if a2 != b2 {
		t.Errorf("after A40 the records are still on two children (%s, %s)", a2, b2)
	}
	if a == b {
		t.Log("the two records had already been linked at intake")
	}
	var active int
	if err := h.DB.QueryRow(context.Background(), `select count(*) from directory where status = 'active' and child_id = $1`, a2).Scan(&active); err != nil || active != 1 {
		t.Errorf("surviving child %s not active: %d %v", a2, active, err)
	}
	if _, ow := sourceState(t, h, "health", "ri-pas", "M0077777"); !ow {
		t.Error("after A23 the record is not withdrawn")
	}

	// A message the hub refuses: AE with ERR, and the bytes in quarantine.
	bad := adt("C6", "A08", "PID|1||M0055555^^^RIH^MR~943 476 5918^^^NHS^NH||Lee^Ann||20140101|F")
	code, ack := c.send(t, bad)
	if code != hl7.AckError || ack.Segment("ERR") == nil {
		t.Fatalf("bad NHS number: MSA-1 = %s, ERR present %v", code, ack.Segment("ERR") != nil)
	}
	page, err := h.Feeds.Quarantine.List(context.Background(), quarantine.Filter{Agency: "health", System: "ri-pas"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 1 || page.Entries[0].Format != "hl7v2" || page.Entries[0].Channel != "mllp" {
		t.Fatalf("quarantine = %+v", page.Entries)
	}
	_, raw, err := h.Feeds.Quarantine.Get(context.Background(), page.Entries[0].Seq)
	if err != nil || !bytes.Equal(raw, bad) {
		t.Errorf("quarantined bytes differ from the message sent (%v)", err)
	}
}

func upload(t *testing.T, h *hub.Hub, key, agency, format string, body io.Reader) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+h.Addr()+"/v1/feeds/"+agency+"/files?format="+format, body)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("upload answer %d: %s", resp.StatusCode, b)
	}
	return resp.StatusCode, out
}

// logHolds reports whether any message of stream contains s.
func logHolds(t *testing.T, h *hub.Hub, stream, s string) bool {
	t.Helper()
	ctx := context.Background()
	st, err := h.NATS.JS.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		if bytes.Contains(m.Data, []byte(s)) {
			return true
		}
		for _, vs := range m.Header {
			for _, v := range vs {
				if strings.Contains(v, s) {
					return true
				}
			}
		}
	}
	return false
}

// databaseHolds reports whether any row of the hub's tables contains s.
func databaseHolds(t *testing.T, h *hub.Hub, s string) bool {
	t.Helper()
	ctx := context.Background()
	rows, err := h.DB.Query(ctx, `select table_name from information_schema.tables where table_schema = 'public'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		_ = rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	for _, tb := range tables {
		var n int
		if err := h.DB.QueryRow(ctx, `select count(*) from "`+tb+`" x where x::text like '%' || $1 || '%'`, s).Scan(&n); err != nil {
			t.Fatalf("%s: %v", tb, err)
		}
		if n > 0 {
			t.Logf("table %s holds %q", tb, s)
			return true
		}
	}
	return false
}

func num(m map[string]any, k string) int {
	f, _ := m[k].(float64)
	return int(f)
}

func TestCTFAndCSVFileImport(t *testing.T) {
	h := startHub(t, feedsConfig(t))
	defer h.Close()
	ctfFile, err := os.ReadFile(filepath.Join("..", "..", "adapters", "ctf", "testdata", "sample.xml"))
	if err != nil {
		t.Fatal(err)
	}
	csvFile, err := os.ReadFile(filepath.Join("..", "..", "adapters", "csvfeed", "testdata", "extract.csv"))
	if err != nil {
		t.Fatal(err)
	}
	school := systemKey(t, h, "education", "elm-grove-mis")
	council := systemKey(t, h, "social-care", "leeds-cms")
	tests := []struct {
		name                                       string
		key, agency, format                        string
		body                                       []byte
		status                                     int
		records, accepted, duplicates, quarantined int
		rule                                       string // a reason the report must give
	}{
		{name: "ctf", key: school, agency: "education", format: "ctf", body: ctfFile, status: 200, records: 4, accepted: 4},
		{name: "ctf resent", key: school, agency: "education", format: "ctf", body: ctfFile, status: 200, records: 4, duplicates: 4},
		{name: "csv with mapping", key: council, agency: "social-care", format: "csv", body: csvFile, status: 200, records: 4, accepted: 3, quarantined: 1, rule: "date"},
		{name: "csv without mapping", key: systemKey(t, h, "social-care", "other-cms"), agency: "social-care", format: "csv", body: csvFile, status: 422},
		{name: "ctf on another agency's key", key: council, agency: "education", format: "ctf", body: ctfFile, status: 403},
		{name: "broken ctf", key: school, agency: "education", format: "ctf", body: ctfFile[:len(ctfFile)/2], status: 422},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, rep := upload(t, h, tt.key, tt.agency, tt.format, bytes.NewReader(tt.body))
			if code != tt.status {
				t.Fatalf("status %d, want %d: %v", code, tt.status, rep)
			}
			if code != 200 {
				return
			}
			got := [4]int{num(rep, "records"), num(rep, "accepted"), num(rep, "duplicates"), num(rep, "quarantined")}
			if want := [4]int{tt.records, tt.accepted, tt.duplicates, tt.quarantined}; got != want {
				t.Errorf("records/accepted/duplicates/quarantined = %v, want %v: %v", got, want, rep)
			}
			if tt.rule != "" {
				b, _ := json.Marshal(rep["reasons"])
				if !strings.Contains(string(b), tt.rule) {
					t.Errorf("reasons %s lack rule %q", b, tt.rule)
				}
			}
		})
	}
	waitProjected(t, h)
	if n := search(t, h, map[string][]string{"family": {"Nowak"}, "birth_date": {"2018-09-30"}}).Count; n != 1 {
		t.Errorf("pupil from the CTF not in the directory: %d", n)
	}
	// Attainment, assessments and case notes are skipped by the parsers and
	// must appear nowhere: not in the log, the quarantine or the database.
	for _, secret := range []string{"SECRETGRADE", "SECRETNOTE", "SECRET"} {
		for _, st := range []string{natsjs.StreamFeeds, natsjs.StreamChildren, natsjs.StreamQuarantine} {
			if logHolds(t, h, st, secret) {
				t.Errorf("%s holds %q", st, secret)
			}
		}
		if databaseHolds(t, h, secret) {
			t.Errorf("the database holds %q", secret)
		}
	}
}

func TestQuarantineListShowResubmit(t *testing.T) {
	h := startHub(t, feedsConfig(t))
	defer h.Close()
	steward := tokenFor(t, h, "steward", access.RoleSteward)
	reader := readerToken(t, h)

	// One refused JSON record and one refused HL7 message.
	bad := bytes.Replace(example(t, "health"), []byte(`"birth_date":"2015-03-14"`), []byte(`"birth_date":"2015-02-30"`), 1)
	if code, body := post(t, h, "health", "application/json", bad); code != http.StatusUnprocessableEntity {
		t.Fatalf("bad record: %d %v", code, body)
	}
	badHL7 := adt("Q1", "A08", "PID|1||M0055555^^^RIH^MR~943 476 5918^^^NHS^NH||Lee^Ann||20140101|F")
	if code, _ := dialMLLP(t, h.MLLPAddr()).send(t, badHL7); code != hl7.AckError {
		t.Fatalf("bad HL7: %s", code)
	}

	list := func(query string) []map[string]any {
		t.Helper()
		code, body := status(t, h, http.MethodGet, steward, "/v1/quarantine"+query, nil)
		if code != 200 {
			t.Fatalf("list: %d %s", code, body)
		}
		var page struct{ Entries []map[string]any }
		if err := json.Unmarshal([]byte(body), &page); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(body, "Lee") || strings.Contains(body, "Hughes") {
			t.Errorf("the list shows personal data: %s", body)
		}
		return page.Entries
	}
	entries := list("")
	if len(entries) != 2 {
		t.Fatalf("entries = %v", entries)
	}
	if got := list("?agency=health&system=ri-pas"); len(got) != 1 || got[0]["format"] != "hl7v2" {
		t.Fatalf("filtered = %v", got)
	}
	if got := list("?limit=1"); len(got) != 1 {
		t.Errorf("limit=1 gave %d", len(got))
	}
	if code, _ := status(t, h, http.MethodGet, reader, "/v1/quarantine", nil); code != http.StatusForbidden {
		t.Errorf("a practitioner listed the quarantine: %d", code)
	}

	for _, e := range entries {
		seq := strconv.Itoa(num(e, "seq"))
		code, body := status(t, h, http.MethodGet, steward, "/v1/quarantine/"+seq, nil)
		if code != 200 {
			t.Fatalf("show %s: %d %s", seq, code, body)
		}
		var shown struct {
			Format   string
			Original string
		}
		_ = json.Unmarshal([]byte(body), &shown)
		var fixed, still []byte
		switch shown.Format {
		case "json":
			if shown.Original != string(bad) {
				t.Errorf("shown bytes differ from the record sent")
			}
			fixed = []byte(strings.Replace(shown.Original, "2015-02-30", "2015-03-14", 1))
			still = []byte(strings.Replace(shown.Original, "2015-02-30", "2015-02-31", 1))
		case "hl7v2":
			if shown.Original != string(badHL7) {
				t.Errorf("shown bytes differ from the message sent")
			}
			fixed = []byte(strings.Replace(shown.Original, "943 476 5918", "943 476 5919", 1))
			still = []byte(strings.Replace(shown.Original, "943 476 5918", "943 476 5917", 1))
		default:
			t.Fatalf("format %q", shown.Format)
		}
		// Still wrong: refused with the reasons, nothing stored, entry open.
		before := streamMsgs(t, h, natsjs.StreamQuarantine)
		if code, body := status(t, h, http.MethodPost, steward, "/v1/quarantine/"+seq+"/resubmit", still); code != http.StatusUnprocessableEntity {
			t.Errorf("%s still wrong: %d %s", shown.Format, code, body)
		}
		if after := streamMsgs(t, h, natsjs.StreamQuarantine); after != before {
			t.Errorf("a refused correction added %d quarantine entries", after-before)
		}
		if code, body := status(t, h, http.MethodPost, steward, "/v1/quarantine/"+seq+"/resubmit", fixed); code != 200 {
			t.Fatalf("%s fixed: %d %s", shown.Format, code, body)
		}
		if code, _ := status(t, h, http.MethodPost, steward, "/v1/quarantine/"+seq+"/resubmit", fixed); code != http.StatusConflict {
			t.Errorf("second resubmission: %d, want 409", code)
		}
	}
	if got := list(""); len(got) != 0 {
		t.Errorf("resolved entries still listed: %v", got)
	}
	if got := list("?resolved=true"); len(got) != 2 || got[0]["resolved"] == nil {
		t.Errorf("with resolved=true: %v", got)
	}
	waitProjected(t, h)
	if _, w := sourceState(t, h, "health", "ri-pas", "M0055555"); w {
		t.Error("the corrected HL7 record is withdrawn")
	}
	if n := search(t, h, map[string][]string{"family": {"Hughes"}, "birth_date": {"2015-03-14"}}).Count; n != 1 {
		t.Errorf("corrected JSON record not found: %d", n)
	}
	if n := auditCount(t, h, "route = 'GET /v1/quarantine/{seq}' and action = 'view'"); n != 2 {
		t.Errorf("%d audited views of quarantine entries, want 2", n)
	}
}
