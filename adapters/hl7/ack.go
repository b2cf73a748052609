package hl7

import (
	"strconv"
	"strings"
	"time"

	"contactpoint/domain/record"
)

// Problem is one reason given back in an ERR segment. Field is an HL7
// location such as "PID-7", "PID-11.5" or "NK1[2]-5"; Code is from table 0357.
type Problem struct {
	Field   string
	Code    int
	Message string
}

var codeText = map[int]string{
	0:                        "Message accepted",
	CodeSegmentSequenceError: "Segment sequence error",
	CodeRequiredFieldMissing: "Required field missing",
	CodeDataTypeError:        "Data type error",
	CodeTableValueNotFound:   "Table value not found",
	CodeUnsupportedMessage:   "Unsupported message type",
	CodeUnsupportedEvent:     "Unsupported event code",
	CodeUnsupportedVersion:   "Unsupported version id",
	CodeApplicationError:     "Application internal error",
}

// maxProblems bounds the ERR segments in one ACK: senders log ACKs, and a
// hundred copies of the same complaint help nobody.
const maxProblems = 10

// AckInfo is everything an acknowledgement says beyond the original header.
type AckInfo struct {
	Code      string    // AckAccept, AckError or AckReject
	ControlID string    // this ACK's own MSH-10
	Time      time.Time // MSH-7
	Text      string    // MSA-3, a short human-readable summary
	Problems  []Problem // one ERR segment each
	// Application and Facility name the hub in MSH-3/4 when the original
	// did not name a receiver (MSH-5/6) to answer as.
	Application, Facility string
}

// BuildAck writes an ACK for orig (which may be nil when the bytes could not
// be read as HL7 at all). The header swaps sender and receiver and keeps the
// original's separators, processing id and version; MSA-2 echoes the
// original control id. Text is escaped, so nothing in it can break framing.
func BuildAck(orig *Message, info AckInfo) []byte {
	d := DefaultDelimiters
	var h *Segment
	if orig != nil {
		d = orig.Delims
		h = orig.Header()
	}
	if d.Escape == 0 || d.Subcomponent == 0 {
		// Our ERR segments need all five separators.
		d = DefaultDelimiters
		h = nil
	}
	f := sep(d.Field)
	esc := func(s string) string { return Escape(s, d) }

	sendApp, sendFac := h.Raw(5), h.Raw(6)
	if sendApp == "" {
		sendApp = esc(info.Application)
	}
	if sendFac == "" {
		sendFac = esc(info.Facility)
	}
	event := ""
	version, proc := "2.5.1", "P"
	if h != nil {
		event = esc(h.Get(9, 2, 1))
		if v := h.Raw(12); v != "" {
			version = v
		}
		if p := h.Raw(11); p != "" {
			proc = p
		}
	}
	msgType := "ACK"
	if event != "" {
		msgType += sep(d.Component) + event + sep(d.Component) + "ACK"
	}
	enc := string([]byte{d.Component, d.Repetition, d.Escape, d.Subcomponent})
	if h != nil && len(h.Raw(2)) > 4 {
		enc = h.Raw(2)
	}

	var b strings.Builder
	b.WriteString(strings.Join([]string{"MSH" + f + enc, sendApp, sendFac, h.Raw(3), h.Raw(4),
		info.Time.UTC().Format("20060102150405") + "+0000", "", msgType, esc(info.ControlID), proc, version}, f))
	b.WriteByte('\r')
	origID := ""
	if orig != nil {
		origID = orig.Header().Raw(10)
	}
	b.WriteString(strings.Join([]string{"MSA", info.Code, origID, esc(truncate(info.Text, 80))}, f))
	b.WriteByte('\r')

	v25 := versionAtLeast(version, 2, 5)
	for i, p := range info.Problems {
		if i == maxProblems {
			break
		}
		seg, seq, field, comp := location(p.Field)
		codeCWE := strconv.Itoa(p.Code) + sep(d.Component) + esc(codeText[p.Code]) + sep(d.Component) + "HL70357"
		if v25 {
			// 2.5: ERR-2 location (ERL), ERR-3 code (CWE), ERR-4 severity, ERR-8 user message.
			erl := strings.Join([]string{seg, seq, field, "", comp}, sep(d.Component))
			b.WriteString(strings.Join([]string{"ERR", "", strings.TrimRight(erl, sep(d.Component)), codeCWE, "E", "", "", "", esc(truncate(p.Message, 200))}, f))
		} else {
			// 2.3/2.4: ERR-1 is segment^sequence^field^code (ELD), with the code as a CE in subcomponents.
			ce := strconv.Itoa(p.Code) + sep(d.Subcomponent) + esc(codeText[p.Code]) + sep(d.Subcomponent) + "HL70357"
			b.WriteString(strings.Join([]string{"ERR", strings.Join([]string{seg, seq, field, ce}, sep(d.Component))}, f))
		}
		b.WriteByte('\r')
	}
	return []byte(b.String())
}

// location splits "PID-11.5" or "NK1[2]-5" into segment, sequence, field and
// component for ERR; anything else is reported against the segment alone.
func location(s string) (seg, seq, field, comp string) {
	seq = "1"
	if len(s) < 3 {
		return "", "", "", ""
	}
	seg = s[:3]
	rest := s[3:]
	if strings.HasPrefix(rest, "[") {
		if i := strings.IndexByte(rest, ']'); i > 0 {
			seq, rest = rest[1:i], rest[i+1:]
		}
	}
	if !strings.HasPrefix(rest, "-") {
		return seg, seq, "", ""
	}
	field, comp, _ = strings.Cut(rest[1:], ".")
	return seg, seq, field, comp
}

func versionAtLeast(v string, major, minor int) bool {
	parts := strings.Split(v, ".")
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// pointerLocations maps the record fields the hub's schema can refuse to
// the HL7 field the mapping filled them from, longest prefix first, so
// that a schema refusal points the sender at its own message (ERR-2) as a
// mapping refusal does. A pointer outside the table has no location.
var pointerLocations = []struct{ prefix, field string }{
	{"/child/name/family", "PID-5.1"},
	{"/child/name/given", "PID-5.2"},
	{"/child/name/middle", "PID-5.3"},
	{"/child/name", "PID-5"},
	{"/child/previous_names", "PID-9"},
	{"/child/birth_date", "PID-7"},
	{"/child/gender", "PID-8"},
	{"/child/identifiers/nhs_number", "PID-3"},
	{"/child/identifiers", "PID-3"},
	{"/child/address/postcode", "PID-11.5"},
	{"/child/address/town", "PID-11.3"},
	{"/child/address/lines", "PID-11.1"},
	{"/child/address", "PID-11"},
	{"/child/gp_practice/ods_code", "PD1-3"},
	{"/child/gp_practice", "PD1-3"},
	{"/source/record_id", "PID-3"},
	{"/source/updated_at", "EVN-2"},
	{"/merge", "MRG-1"},
}

// hl7Location is the HL7 location of a record field, "" when there is none.
// Contacts are NK1 segments in order: /child/contacts/1/… is NK1[2].
func hl7Location(ptr string) string {
	if rest, ok := strings.CutPrefix(ptr, "/child/contacts/"); ok {
		idx, _, _ := strings.Cut(rest, "/")
		if n, err := strconv.Atoi(idx); err == nil && n >= 0 {
			return "NK1[" + strconv.Itoa(n+1) + "]"
		}
	}
	for _, l := range pointerLocations {
		if ptr == l.prefix || strings.HasPrefix(ptr, l.prefix+"/") {
			return l.field
		}
	}
	return ""
}

// Problems turns field errors into ERR entries. Errors whose Field is an HL7
// location keep it; schema errors (JSON pointers from the hub's validator)
// carry the HL7 location the field came from (ERR-2, or ERR-1 before 2.5),
// with the pointer and the reason in the readable message (ERR-8).
func Problems(code int, fes []record.FieldError) []Problem {
	out := make([]Problem, 0, len(fes))
	for _, fe := range fes {
		p := Problem{Field: fe.Field, Code: code, Message: fe.Message}
		if strings.HasPrefix(fe.Field, "/") || fe.Field == "" {
			p.Field = hl7Location(fe.Field)
			p.Message = strings.TrimSpace(fe.Field + " " + fe.Message + " (" + fe.Rule + ")")
			switch {
			case fe.Rule == "required":
				p.Code = CodeRequiredFieldMissing
			case strings.HasPrefix(fe.Rule, "format:") || fe.Rule == "pattern" || fe.Rule == "enum":
				p.Code = CodeDataTypeError
			default:
				p.Code = CodeApplicationError
			}
		}
		out = append(out, p)
	}
	return out
}
