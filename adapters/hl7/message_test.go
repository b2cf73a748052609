package hl7

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func mustRead(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustParse(t testing.TB, raw string) *Message {
	t.Helper()
	m, err := Parse([]byte(raw))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return m
}

func TestParseValues(t *testing.T) {
	const hdr = "MSH|^~\\&|APP|FAC|||20260101||ADT^A08|1|P|2.5.1\r"
	tests := []struct {
		name    string
		msg     string
		seg     string
		field   int
		rep     int
		comp    int
		sub     int
		want    string
		wantLen int // number of repetitions, when non-zero
	}{
		{name: "plain field", msg: hdr + "PID|1||X1", seg: "PID", field: 3, comp: 1, sub: 1, want: "X1"},
		{name: "component", msg: hdr + "PID|||||Lee^Ann^May", seg: "PID", field: 5, comp: 2, sub: 1, want: "Ann"},
		{name: "missing component", msg: hdr + "PID|||||Lee", seg: "PID", field: 5, comp: 3, sub: 1, want: ""},
		{name: "missing field", msg: hdr + "PID|1", seg: "PID", field: 30, comp: 1, sub: 1, want: ""},
		{name: "second repetition", msg: hdr + "PID|||A1^^^^MR~B2^^^^PI", seg: "PID", field: 3, rep: 1, comp: 1, sub: 1, want: "B2", wantLen: 2},
		{name: "subcomponent", msg: hdr + "PID|||A1^^^NHS&2.16.840.1.113883.2.1.4.1&ISO", seg: "PID", field: 3, comp: 4, sub: 2, want: "2.16.840.1.113883.2.1.4.1"},
		{name: "escape field sep", msg: hdr + `PID|||||A\F\B`, seg: "PID", field: 5, comp: 1, sub: 1, want: "A|B"},
		{name: "escape component sep", msg: hdr + `PID|||||A\S\B^C`, seg: "PID", field: 5, comp: 1, sub: 1, want: "A^B"},
		{name: "escape subcomponent sep", msg: hdr + `PID|||||Smith\T\Jones`, seg: "PID", field: 5, comp: 1, sub: 1, want: "Smith&Jones"},
		{name: "escape repetition sep", msg: hdr + `PID|||||A\R\B`, seg: "PID", field: 5, comp: 1, sub: 1, want: "A~B", wantLen: 1},
		{name: "escape escape", msg: hdr + `PID|||||A\E\B`, seg: "PID", field: 5, comp: 1, sub: 1, want: `A\B`},
		{name: "hex escape", msg: hdr + `PID|||||O\X27\Brien`, seg: "PID", field: 5, comp: 1, sub: 1, want: "O'Brien"},
		{name: "hex escape multibyte", msg: hdr + `PID|||||Zo\XC3AB\`, seg: "PID", field: 5, comp: 1, sub: 1, want: "Zoë"},
		{name: "formatting dropped", msg: hdr + `PID|||||A\.br\B`, seg: "PID", field: 5, comp: 1, sub: 1, want: "AB"},
		{name: "bad hex kept", msg: hdr + `PID|||||A\XZZ\B`, seg: "PID", field: 5, comp: 1, sub: 1, want: `A\XZZ\B`},
		{name: "unterminated escape kept", msg: hdr + `PID|||||A\F`, seg: "PID", field: 5, comp: 1, sub: 1, want: `A\F`},
		{name: "explicit null", msg: hdr + `PID|||||""`, seg: "PID", field: 5, comp: 1, sub: 1, want: ""},
		{name: "MSH-1", msg: hdr, seg: "MSH", field: 1, comp: 1, sub: 1, want: "|"},
		{name: "MSH-2 not unescaped", msg: hdr, seg: "MSH", field: 2, comp: 1, sub: 1, want: `^~\&`},
		{name: "MSH-9 event", msg: hdr, seg: "MSH", field: 9, comp: 2, sub: 1, want: "A08"},
		{name: "MSH-12", msg: hdr, seg: "MSH", field: 12, comp: 1, sub: 1, want: "2.5.1"},
		{name: "custom separators", msg: "MSH#*@!%#APP#FAC####ADT*A01#1#P#2.3\rPID#1##X1*a%b*c@Y2", seg: "PID", field: 3, rep: 1, comp: 1, sub: 1, want: "Y2", wantLen: 2},
		{name: "custom subcomponent", msg: "MSH#*@!%#APP#FAC####ADT*A01#1#P#2.3\rPID#1##X1*a%b*c@Y2", seg: "PID", field: 3, comp: 2, sub: 2, want: "b"},
		{name: "custom escape", msg: "MSH#*@!%#APP#FAC####ADT*A01#1#P#2.3\rPID#1##X!F!Y", seg: "PID", field: 3, comp: 1, sub: 1, want: "X#Y"},
		{name: "LF separated", msg: "MSH|^~\\&|A|B|||1||ADT^A01|1|P|2.3\nPID|1||Z9", seg: "PID", field: 3, comp: 1, sub: 1, want: "Z9"},
		{name: "CRLF separated", msg: "MSH|^~\\&|A|B|||1||ADT^A01|1|P|2.3\r\nPID|1||Z9\r\n", seg: "PID", field: 3, comp: 1, sub: 1, want: "Z9"},
		{name: "blank lines tolerated", msg: "MSH|^~\\&|A|B|||1||ADT^A01|1|P|2.3\r\r\n\nPID|1||Z9\r\r", seg: "PID", field: 3, comp: 1, sub: 1, want: "Z9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustParse(t, tt.msg)
			s := m.Segment(tt.seg)
			if s == nil {
				t.Fatalf("no %s segment", tt.seg)
			}
			reps := s.Reps(tt.field)
			got := ""
			if tt.rep < len(reps) {
				got = reps[tt.rep].Sub(tt.comp, tt.sub)
			}
			if got != tt.want {
				t.Errorf("%s-%d[%d].%d.%d = %q, want %q", tt.seg, tt.field, tt.rep, tt.comp, tt.sub, got, tt.want)
			}
			if tt.wantLen != 0 && len(reps) != tt.wantLen {
				t.Errorf("got %d repetitions, want %d", len(reps), tt.wantLen)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	tests := []struct {
		name, msg, field string
		partial          bool
	}{
		{"empty", "", "MSH", false},
		{"not HL7", "hello world, this is not a message", "MSH", false},
		{"short header", "MSH|^", "MSH", false},
		{"duplicate separators", "MSH|^^\\&|A", "MSH-2", false},
		{"alphanumeric separators", "MSH|ab\\&|A", "MSH-2", false},
		{"too many encoding chars", "MSH|^~\\&#!|A", "MSH-2", false},
		{"bad segment name", "MSH|^~\\&|A|B|||1||ADT^A01|1|P|2.3\rP!D|1", "segment 2", true},
		{"second MSH", "MSH|^~\\&|A|B|||1||ADT^A01|1|P|2.3\rMSH|^~\\&|A", "segment 2", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte(tt.msg))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *ParseError", err)
			}
			if pe.Field != tt.field {
				t.Errorf("field = %q, want %q", pe.Field, tt.field)
			}
			if (m != nil) != tt.partial {
				t.Errorf("partial message returned = %v, want %v", m != nil, tt.partial)
			}
			if m != nil && m.ControlID() != "1" {
				t.Errorf("partial message control id = %q", m.ControlID())
			}
		})
	}
}

func TestParseSampleSegments(t *testing.T) {
	m, err := Parse(mustRead(t, "a08_v251.hl7"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range m.Segments {
		names = append(names, s.Name)
	}
	want := []string{"MSH", "EVN", "PID", "PD1", "NK1", "NK1", "NK1", "PV1", "OBX", "DG1", "AL1", "PR1", "ZPI"}
	if len(names) != len(want) {
		t.Fatalf("segments = %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("segments = %v, want %v", names, want)
		}
	}
	if n := len(m.All("NK1")); n != 3 {
		t.Errorf("NK1 count = %d", n)
	}
	if code, ev := m.Type(); code != "ADT" || ev != "A08" {
		t.Errorf("type = %s^%s", code, ev)
	}
}

func TestTypeFallsBackToEVN(t *testing.T) {
	m := mustParse(t, "MSH|^~\\&|A|B|||1||ADT|1|P|2.3\rEVN|A28|20260101")
	if code, ev := m.Type(); code != "ADT" || ev != "A28" {
		t.Errorf("type = %s^%s, want ADT^A28", code, ev)
	}
}

func TestEscapeRoundTrip(t *testing.T) {
	d := DefaultDelimiters
	for _, s := range []string{"plain", `a|b^c~d\e&f`, "tab\tnew\rline", "Zoë"} {
		esc := Escape(s, d)
		m := mustParse(t, "MSH|^~\\&|A|B|||1||ADT^A01|1|P|2.3\rNTE|1||"+esc)
		got := m.Segment("NTE").Get(3, 1, 1)
		want := s
		if s == "tab\tnew\rline" {
			want = "tab new line" // control characters cannot travel in a field
		}
		if got != want {
			t.Errorf("round trip %q: got %q (escaped %q)", s, got, esc)
		}
	}
}
