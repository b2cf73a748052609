package hl7

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"contactpoint/app/intake"
	"contactpoint/domain/record"
)

// rawExchange writes bytes exactly as given and reads one MLLP frame back,
// byte for byte as the MLLP specification (HL7 v2 Appendix C) frames it:
// <VT> content <FS><CR>. It is the hub's own reading of the standard kept
// apart from ReadFrame, so the two cannot share a mistake.
func rawExchange(t *testing.T, conn net.Conn, out []byte) string {
	t.Helper()
	if _, err := conn.Write(out); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got []byte
	buf := make([]byte, 4096)
	for !bytes.HasSuffix(got, []byte{0x1c, 0x0d}) {
		n, err := conn.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("read ACK: %v (have %q)", err, got)
		}
	}
	if got[0] != 0x0b {
		t.Fatalf("ACK does not start with <VT>: %q", got)
	}
	body := got[1 : len(got)-2]
	if bytes.ContainsAny(body, "\x0b\x1c\n") {
		t.Fatalf("ACK holds framing bytes or LF: %q", body)
	}
	return string(body)
}

func frame(s string) []byte { return append(append([]byte{0x0b}, s...), 0x1c, 0x0d) }

func segment(ack, name string) []string {
	for _, s := range strings.Split(ack, "\r") {
		if strings.HasPrefix(s, name+"|") {
			return strings.Split(s, "|")
		}
	}
	return nil
}

const rawA04 = "MSH|^~\\&|PAS|RIH|HUB|HUB|20240501093000||ADT^A04^ADT_A01|RAW1|P|2.5.1\r" +
	"EVN|A04|20240501093000\r" +
	"PID|1||RIH123^^^RIH^MR~9434765919^^^NHS^NH||Hughes^Olivia||20150314|F\r"

func TestRawSocketClient(t *testing.T) {
	rec := &recorder{}
	srv := startServer(t, Config{Systems: map[string]string{"RIH": "royal-infirmary-pas"}}, rec)
	conn, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	// Segment separators: CR as the standard says, and LF or CRLF as
	// files and some senders write them, read alike.
	for i, sep := range []string{"\r", "\n", "\r\n"} {
		msg := strings.ReplaceAll(strings.Replace(rawA04, "RAW1", "RAW1"+string(rune('a'+i)), 1), "\r", sep)
		ack := rawExchange(t, conn, frame(msg))
		if msa := segment(ack, "MSA"); msa == nil || msa[1] != AckAccept {
			t.Fatalf("separator %q: %q", sep, ack)
		}
	}
	if n, _ := rec.counts(); n != 3 {
		t.Fatalf("stored %d, want 3", n)
	}
	for _, s := range rec.records {
		if s.rec.Child.Name.Family != "Hughes" || s.rec.Child.BirthDate != "2015-03-14" {
			t.Fatalf("separator changed the reading: %+v", s.rec.Child)
		}
	}

	// A frame with no MSH: AR, and the reason.
	ack := rawExchange(t, conn, frame("PID|1||X\r"))
	if msa := segment(ack, "MSA"); msa == nil || msa[1] != AckReject {
		t.Fatalf("no MSH: %q", ack)
	}
	if e := segment(ack, "ERR"); e == nil || !strings.HasPrefix(e[2], "MSH") || !strings.Contains(e[8], "no MSH segment") {
		t.Fatalf("no MSH: ERR does not say why: %q", ack)
	}

	// A message sent without framing is answered, and the log has the
	// count of bytes, not the bytes.
	ack = rawExchange(t, conn, []byte(rawA04))
	if msa := segment(ack, "MSA"); msa == nil || msa[1] != AckReject || !strings.Contains(ack, "outside MLLP framing") {
		t.Fatalf("unframed: %q", ack)
	}
	// The connection still works.
	if msa := segment(rawExchange(t, conn, frame(strings.Replace(rawA04, "RAW1", "RAW9", 1))), "MSA"); msa[1] != AckAccept {
		t.Fatal("connection unusable after unframed bytes")
	}
	time.Sleep(50 * time.Millisecond)
	logs := srv.logs.String()
	if !strings.Contains(logs, "bytes outside MLLP framing") || strings.Contains(logs, "Hughes") || strings.Contains(logs, "9434765919") {
		t.Fatalf("log of unframed bytes: %s", logs)
	}
}

// TestSchemaRefusalNamesTheHL7Field: a refusal by the hub's schema (a
// JSON pointer into the record) comes back with the HL7 location the field
// came from in ERR-2 and the readable reason in ERR-8.
func TestSchemaRefusalNamesTheHL7Field(t *testing.T) {
	rec := &recorder{status: intake.StatusQuarantined, errs: []record.FieldError{
		{Field: "/child/birth_date", Rule: "format:child-birth-date", Message: "date of birth is in the future"}}}
	srv := startServer(t, Config{Systems: map[string]string{"RIH": "royal-infirmary-pas"}}, rec)
	conn, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ack := rawExchange(t, conn, frame(rawA04))
	e := segment(ack, "ERR")
	if msa := segment(ack, "MSA"); msa[1] != AckError || e == nil {
		t.Fatalf("ack: %q", ack)
	}
	if e[2] != "PID^1^7" {
		t.Errorf("ERR-2 = %q, want PID^1^7: %q", e[2], ack)
	}
	if !strings.Contains(e[8], "date of birth is in the future") {
		t.Errorf("ERR-8 = %q", e[8])
	}
}
