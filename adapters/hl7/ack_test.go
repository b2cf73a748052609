package hl7

import (
	"strings"
	"testing"
	"time"

	"contactpoint/domain/record"
)

var ackTime = time.Date(2026, 10, 2, 9, 15, 0, 0, time.UTC)

func TestBuildAck(t *testing.T) {
	orig := mustParse(t, "MSH|^~\\&|PAS|RIH|CP|LEEDS|20261002091400||ADT^A08^ADT_A01|MSG1|P|2.5.1\rPID|1")
	orig23 := mustParse(t, "MSH|^~\\&|PAS|RIH|||20081002||ADT^A04|OLD7|T|2.3\rPID|1")
	tests := []struct {
		name     string
		orig     *Message
		info     AckInfo
		wantMSH  []string // MSH fields 3..12
		wantMSA  string
		wantERRs []string
	}{
		{
			name:    "accept swaps sender and receiver",
			orig:    orig,
			info:    AckInfo{Code: AckAccept, ControlID: "A1", Time: ackTime},
			wantMSH: []string{"CP", "LEEDS", "PAS", "RIH", "20261002091500+0000", "", "ACK^A08^ACK", "A1", "P", "2.5.1"},
			wantMSA: "MSA|AA|MSG1|",
		},
		{
			name: "error with 2.5 ERR segments",
			orig: orig,
			info: AckInfo{Code: AckError, ControlID: "A2", Time: ackTime, Text: "quarantined", Problems: []Problem{
				{Field: "PID-7", Code: CodeRequiredFieldMissing, Message: "date of birth is required"},
				{Field: "PID-11.5", Code: CodeDataTypeError, Message: "postcode | bad"},
			}},
			wantMSA: "MSA|AE|MSG1|quarantined",
			wantERRs: []string{
				"ERR||PID^1^7|101^Required field missing^HL70357|E||||date of birth is required",
				"ERR||PID^1^11^^5|102^Data type error^HL70357|E||||postcode \\F\\ bad",
			},
		},
		{
			name: "2.3 uses ERR-1 and keeps version and processing id",
			orig: orig23,
			info: AckInfo{Code: AckReject, ControlID: "A3", Time: ackTime, Application: "CONTACTPOINT", Facility: "HUB",
				Problems: []Problem{{Field: "NK1[2]-5", Code: CodeDataTypeError, Message: "x"}}},
			wantMSH:  []string{"CONTACTPOINT", "HUB", "PAS", "RIH", "20261002091500+0000", "", "ACK^A04^ACK", "A3", "T", "2.3"},
			wantMSA:  "MSA|AR|OLD7|",
			wantERRs: []string{"ERR|NK1^2^5^102&Data type error&HL70357"},
		},
		{
			name:    "unparseable original",
			orig:    nil,
			info:    AckInfo{Code: AckReject, ControlID: "A4", Time: ackTime, Application: "CONTACTPOINT"},
			wantMSH: []string{"CONTACTPOINT", "", "", "", "20261002091500+0000", "", "ACK", "A4", "P", "2.5.1"},
			wantMSA: "MSA|AR||",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := BuildAck(tt.orig, tt.info)
			if strings.ContainsAny(string(raw), "\n\x0b\x1c") {
				t.Fatalf("ACK carries framing or newline bytes: %q", raw)
			}
			segs := strings.Split(strings.TrimSuffix(string(raw), "\r"), "\r")
			if tt.wantMSH != nil {
				got := strings.Split(segs[0], "|")[2:]
				if strings.Join(got, "|") != strings.Join(tt.wantMSH, "|") {
					t.Errorf("MSH-3.. = %q\nwant      %q", got, tt.wantMSH)
				}
			}
			if segs[1] != tt.wantMSA {
				t.Errorf("MSA = %q, want %q", segs[1], tt.wantMSA)
			}
			if got := segs[2:]; strings.Join(got, "\n") != strings.Join(tt.wantERRs, "\n") {
				t.Errorf("ERR = %q\nwant  %q", got, tt.wantERRs)
			}
			// Every ACK must itself be a message our parser reads.
			m, err := Parse(raw)
			if err != nil {
				t.Fatalf("ACK does not parse: %v", err)
			}
			if code, _ := m.Type(); code != "ACK" {
				t.Errorf("ACK type = %q", code)
			}
		})
	}
}

func TestBuildAckBoundsProblems(t *testing.T) {
	var ps []Problem
	for range 50 {
		ps = append(ps, Problem{Code: CodeApplicationError, Message: strings.Repeat("x", 1000)})
	}
	raw := BuildAck(nil, AckInfo{Code: AckError, ControlID: "A", Time: ackTime, Problems: ps})
	if n := strings.Count(string(raw), "\rERR|"); n != maxProblems {
		t.Errorf("%d ERR segments, want %d", n, maxProblems)
	}
	if len(raw) > 4000 {
		t.Errorf("ACK is %d bytes", len(raw))
	}
}

func TestProblemsFromSchemaErrors(t *testing.T) {
	ps := Problems(CodeApplicationError, []record.FieldError{
		{Field: "/child/birth_date", Rule: "format:child-birth-date", Message: "in the future"},
		{Field: "/child/name", Rule: "required", Message: "missing"},
		{Field: "/child/involvements/0/kind", Rule: "sensitive-service-consent", Message: "needs consent"},
		{Field: "PID-7", Rule: "date", Message: "bad"},
	})
	want := []Problem{
		{Field: "PID-7", Code: CodeDataTypeError, Message: "/child/birth_date in the future (format:child-birth-date)"},
		{Field: "PID-5", Code: CodeRequiredFieldMissing, Message: "/child/name missing (required)"},
		{Code: CodeApplicationError, Message: "/child/involvements/0/kind needs consent (sensitive-service-consent)"},
		{Field: "PID-7", Code: CodeApplicationError, Message: "bad"},
	}
	for i := range want {
		if ps[i] != want[i] {
			t.Errorf("problem %d = %+v, want %+v", i, ps[i], want[i])
		}
	}
}
