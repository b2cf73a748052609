// Package hl7 reads HL7 v2 (2.3–2.5.1) ADT messages from hospital patient
// administration systems, maps the demographic part of them to the canonical
// feed record, answers with HL7 acknowledgements, and listens for them over
// MLLP. Only identity and contact segments are read: clinical segments (OBX,
// DG1, AL1, PR1 and the like) are never looked at, so they cannot leak into a
// record.
package hl7

import (
	"bytes"
	"fmt"
	"strings"
)

// Delimiters are the separators a message declares in MSH-1 and MSH-2.
type Delimiters struct {
	Field, Component, Repetition, Escape, Subcomponent byte
}

// DefaultDelimiters are the ones nearly every sender uses: |^~\&.
var DefaultDelimiters = Delimiters{'|', '^', '~', '\\', '&'}

// Message is a parsed HL7 v2 message. Field values stay escaped until read,
// because escape sequences may stand for separators and must be decoded only
// after the value has been split.
type Message struct {
	Delims   Delimiters
	Segments []Segment
}

// Segment is one segment: its name and its fields, indexed by HL7 field
// number (fields[0] is the name, so fields[n] is SEG-n; for MSH, fields[1] is
// the field separator itself, as the standard counts it).
type Segment struct {
	Name   string
	fields []string
	d      *Delimiters
}

// ParseError is the refusal of bytes that are not an HL7 v2 message at all.
type ParseError struct {
	Field   string // HL7 location, e.g. "MSH-2" or "segment 4"
	Message string
}

func (e *ParseError) Error() string { return "hl7: " + e.Field + ": " + e.Message }

// Parse splits a message into segments and fields. Segments may end in \r (as
// the standard says), \n or \r\n, because files and test tools often carry
// the wrong one. When the header can be read but a later segment cannot,
// Parse returns the partial message with the error, so that the refusal can
// still be acknowledged against the sender's control id.
func Parse(b []byte) (*Message, error) {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) < 8 || string(b[:3]) != "MSH" {
		return nil, &ParseError{Field: "MSH", Message: "message does not begin with an MSH segment"}
	}
	d, err := delimitersOf(b)
	if err != nil {
		return nil, err
	}
	m := &Message{Delims: d}
	n := 0
	for line := range splitSegments(b) {
		n++
		if len(line) == 0 {
			continue
		}
		s, err := parseSegment(line, &m.Delims, n)
		if err != nil {
			return m, err
		}
		m.Segments = append(m.Segments, s)
	}
	return m, nil
}

func delimitersOf(b []byte) (Delimiters, error) {
	d := Delimiters{Field: b[3]}
	end := bytes.IndexByte(b[4:], d.Field)
	if end < 0 {
		end = len(b) - 4
	}
	enc := b[4 : 4+end]
	// 2.7 adds a fifth (truncation) character; anything outside 2–5 is not a header.
	if len(enc) < 2 || len(enc) > 5 {
		return d, &ParseError{Field: "MSH-2", Message: "encoding characters must be 2 to 5 characters"}
	}
	d.Component, d.Repetition, d.Escape, d.Subcomponent = enc[0], enc[1], 0, 0
	if len(enc) > 2 {
		d.Escape = enc[2]
	}
	if len(enc) > 3 {
		d.Subcomponent = enc[3]
	}
	seen := map[byte]bool{}
	for _, c := range []byte{d.Field, d.Component, d.Repetition, d.Escape, d.Subcomponent} {
		if c == 0 {
			continue
		}
		if seen[c] || c <= ' ' || c > '~' || isAlnum(c) {
			return d, &ParseError{Field: "MSH-2", Message: "separators must be distinct printable ASCII punctuation characters"}
		}
		seen[c] = true
	}
	return d, nil
}

// sep is a separator as a one-byte string (string(byte) would give a rune).
func sep(c byte) string { return string([]byte{c}) }

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

// splitSegments yields segment lines split on \r, \n or \r\n.
func splitSegments(b []byte) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(b) > 0 {
			i := bytes.IndexAny(b, "\r\n")
			if i < 0 {
				yield(b)
				return
			}
			if !yield(b[:i]) {
				return
			}
			if b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
			b = b[i+1:]
		}
	}
}

func parseSegment(line []byte, d *Delimiters, n int) (Segment, error) {
	line = bytes.TrimRight(line, " \t")
	if len(line) == 0 {
		return Segment{}, nil
	}
	parts := strings.Split(string(line), sep(d.Field))
	name := parts[0]
	if len(name) != 3 || !isAlnum(name[0]) || !isAlnum(name[1]) || !isAlnum(name[2]) {
		return Segment{}, &ParseError{Field: fmt.Sprintf("segment %d", n), Message: "segment name must be three letters or digits"}
	}
	if name == "MSH" {
		if n != 1 {
			return Segment{}, &ParseError{Field: fmt.Sprintf("segment %d", n), Message: "MSH may appear only as the first segment"}
		}
		// MSH-1 is the field separator itself, which splitting swallowed.
		parts = append([]string{name, sep(d.Field)}, parts[1:]...)
	}
	return Segment{Name: name, fields: parts, d: d}, nil
}

// Segment returns the first segment with the given name, or nil.
func (m *Message) Segment(name string) *Segment {
	for i := range m.Segments {
		if m.Segments[i].Name == name {
			return &m.Segments[i]
		}
	}
	return nil
}

// All returns every segment with the given name, in order.
func (m *Message) All(name string) []*Segment {
	var out []*Segment
	for i := range m.Segments {
		if m.Segments[i].Name == name {
			out = append(out, &m.Segments[i])
		}
	}
	return out
}

// Header returns the MSH segment; Parse guarantees there is one.
func (m *Message) Header() *Segment { return m.Segment("MSH") }

// ControlID is MSH-10, the sender's id for this message.
func (m *Message) ControlID() string { return m.Header().Get(10, 1, 1) }

// Version is MSH-12.1, e.g. "2.3" or "2.5.1".
func (m *Message) Version() string { return m.Header().Get(12, 1, 1) }

// Type returns MSH-9 as message code and trigger event (ADT, A01). Old (2.2)
// senders put the event only in EVN-1, so that is the fallback.
func (m *Message) Type() (code, event string) {
	h := m.Header()
	code, event = h.Get(9, 1, 1), h.Get(9, 2, 1)
	if event == "" {
		if evn := m.Segment("EVN"); evn != nil {
			event = evn.Get(1, 1, 1)
		}
	}
	return strings.ToUpper(code), strings.ToUpper(event)
}

// Raw returns field n exactly as sent (still escaped), or "".
func (s *Segment) Raw(n int) string {
	if s == nil || n < 1 || n >= len(s.fields) {
		return ""
	}
	return s.fields[n]
}

// Len is the number of fields present, counting as HL7 does.
func (s *Segment) Len() int {
	if s == nil {
		return 0
	}
	return len(s.fields) - 1
}

// Reps splits field n into its repetitions.
func (s *Segment) Reps(n int) []Rep {
	raw := s.Raw(n)
	if raw == "" {
		return nil
	}
	if s.Name == "MSH" && n <= 2 {
		// MSH-1 and MSH-2 hold the separators themselves: never split or unescape them.
		return []Rep{{comps: []string{raw}, d: s.d, literal: true}}
	}
	var out []Rep
	for _, r := range strings.Split(raw, sep(s.d.Repetition)) {
		out = append(out, Rep{comps: strings.Split(r, sep(s.d.Component)), d: s.d})
	}
	return out
}

// Get returns the decoded value of field n, component c, subcomponent sc of
// the first repetition (all 1-based), or "".
func (s *Segment) Get(n, c, sc int) string {
	reps := s.Reps(n)
	if len(reps) == 0 {
		return ""
	}
	return reps[0].Sub(c, sc)
}

// Rep is one repetition of a field, split into components.
type Rep struct {
	comps   []string
	d       *Delimiters
	literal bool // MSH-1 and MSH-2
}

// Comp returns the decoded first subcomponent of component c (1-based).
func (r Rep) Comp(c int) string { return r.Sub(c, 1) }

// Sub returns the decoded subcomponent sc of component c (both 1-based).
func (r Rep) Sub(c, sc int) string {
	if c < 1 || c > len(r.comps) {
		return ""
	}
	v := r.comps[c-1]
	if r.literal {
		if sc != 1 {
			return ""
		}
		return v
	}
	if r.d.Subcomponent != 0 {
		subs := strings.Split(v, sep(r.d.Subcomponent))
		if sc < 1 || sc > len(subs) {
			return ""
		}
		v = subs[sc-1]
	} else if sc != 1 {
		return ""
	}
	if v == `""` {
		// HL7's explicit null: the sender says the value is now empty.
		return ""
	}
	return strings.TrimSpace(Unescape(v, *r.d))
}

// Unescape decodes HL7 escape sequences: \F\ \S\ \T\ \R\ \E\ for the
// separators and \Xhh..\ for bytes given in hex. Formatting (\.br\, \H\,
// \N\) and character set switches (\C..\, \M..\) carry no text and are
// dropped. A malformed sequence is kept literally rather than guessed at.
func Unescape(s string, d Delimiters) string {
	if d.Escape == 0 || strings.IndexByte(s, d.Escape) < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != d.Escape {
			b.WriteByte(c)
			continue
		}
		end := strings.IndexByte(s[i+1:], d.Escape)
		if end < 0 {
			b.WriteString(s[i:])
			break
		}
		seq := s[i+1 : i+1+end]
		if out, ok := decodeEscape(seq, d); ok {
			b.WriteString(out)
			i += end + 1
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func decodeEscape(seq string, d Delimiters) (string, bool) {
	switch seq {
	case "F":
		return sep(d.Field), true
	case "S":
		return sep(d.Component), true
	case "T":
		return sep(d.Subcomponent), true
	case "R":
		return sep(d.Repetition), true
	case "E":
		return sep(d.Escape), true
	case "H", "N":
		return "", true
	}
	if seq == "" {
		return "", false
	}
	switch seq[0] {
	case 'X':
		hex := seq[1:]
		if len(hex) == 0 || len(hex)%2 != 0 {
			return "", false
		}
		out := make([]byte, len(hex)/2)
		for j := range out {
			hi, ok1 := unhex(hex[2*j])
			lo, ok2 := unhex(hex[2*j+1])
			if !ok1 || !ok2 {
				return "", false
			}
			out[j] = hi<<4 | lo
		}
		return string(out), true
	case '.', 'C', 'M', 'Z':
		return "", true
	}
	return "", false
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// Escape encodes text so that it can stand in a field: the separators
// become escape sequences and control characters are dropped, because an ACK
// must never carry a stray segment or frame terminator.
func Escape(s string, d Delimiters) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case d.Escape == 0 && (c == d.Field || c == d.Component || c == d.Repetition || c == d.Subcomponent && c != 0):
			// Without an escape character a separator cannot be written at all.
			b.WriteByte(' ')
		case c == d.Escape && d.Escape != 0:
			b.WriteByte(d.Escape)
			b.WriteByte('E')
			b.WriteByte(d.Escape)
		case c == d.Field:
			b.WriteByte(d.Escape)
			b.WriteByte('F')
			b.WriteByte(d.Escape)
		case c == d.Component:
			b.WriteByte(d.Escape)
			b.WriteByte('S')
			b.WriteByte(d.Escape)
		case c == d.Repetition:
			b.WriteByte(d.Escape)
			b.WriteByte('R')
			b.WriteByte(d.Escape)
		case c == d.Subcomponent && d.Subcomponent != 0:
			b.WriteByte(d.Escape)
			b.WriteByte('T')
			b.WriteByte(d.Escape)
		case c < 0x20 || c == 0x7f:
			b.WriteByte(' ')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
