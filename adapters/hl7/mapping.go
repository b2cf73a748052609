package hl7

import (
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // UK PAS timestamps carry no offset and mean Europe/London, whatever the host has installed

	"contactpoint/domain/ident"
	"contactpoint/domain/record"
	"contactpoint/schemas"
)

// Agency is the agency every HL7 v2 feed speaks for.
const Agency = "health"

// Acknowledgement codes (HL7 table 0008, original mode).
const (
	AckAccept = "AA"
	AckError  = "AE"
	AckReject = "AR"
)

// HL7 error codes (table 0357) used in ERR-3.
const (
	CodeSegmentSequenceError = 100
	CodeRequiredFieldMissing = 101
	CodeDataTypeError        = 102
	CodeTableValueNotFound   = 103
	CodeUnsupportedMessage   = 200
	CodeUnsupportedEvent     = 201
	CodeUnsupportedVersion   = 203
	CodeApplicationError     = 207
)

// Error is the refusal of one message: the acknowledgement it earns (AE for
// content the sender must correct, AR for a message the hub cannot process at
// all), the HL7 error code, and every reason with its HL7 location as Field.
type Error struct {
	Ack    string
	Code   int
	Errors []record.FieldError
}

func (e *Error) Error() string {
	parts := make([]string, 0, len(e.Errors))
	for _, fe := range e.Errors {
		parts = append(parts, fe.Error())
	}
	return fmt.Sprintf("hl7 %s (%d): %s", e.Ack, e.Code, strings.Join(parts, "; "))
}

// Merge says that the absorbed patient record is now part of the survivor
// (ADT^A40): the hub must move what it knows from one to the other.
type Merge struct {
	Survivor  record.SourceKey
	Absorbed  record.SourceKey
	Version   string
	UpdatedAt *time.Time
}

// Record is the merge as a canonical record: the survivor's key, stamped
// with the message's version and time, naming the absorbed record. It goes
// through intake like any other record, so the linker applies it in order
// with the source's other records.
func (m *Merge) Record() *record.Record {
	return &record.Record{
		Schema:    record.SchemaID,
		Source:    record.Source{Agency: m.Survivor.Agency, System: m.Survivor.System, RecordID: m.Survivor.RecordID, Version: m.Version, UpdatedAt: m.UpdatedAt},
		Operation: record.OpMerge,
		Merge:     &record.Merge{AbsorbedRecordID: m.Absorbed.RecordID},
	}
}

// Canonical is the result as the one canonical record intake takes.
func (r *Result) Canonical() *record.Record {
	if r.Merge != nil {
		return r.Merge.Record()
	}
	return r.Record
}

// Result is what one ADT message says: a record to upsert or withdraw, or a
// merge. Exactly one of Record and Merge is set.
type Result struct {
	Event     string // trigger event, e.g. "A08"
	ControlID string
	Record    *record.Record
	Merge     *Merge
}

// MapOptions are what mapping needs beyond the message.
type MapOptions struct {
	System   string         // the hub's name for the sending system (feeds.health.<system>)
	Location *time.Location // zone of timestamps without an offset; nil means Europe/London
}

var (
	upsertEvents   = map[string]bool{"A01": true, "A04": true, "A08": true, "A28": true, "A31": true}
	withdrawEvents = map[string]bool{"A23": true, "A29": true}
)

// nhsOID is the assigning authority OID of the NHS number in England and Wales.
const nhsOID = "2.16.840.1.113883.2.1.4.1"

// Map turns a parsed ADT message into a feed record or a merge. It reads
// MSH, EVN, PID, PD1, NK1 and MRG only.
func Map(m *Message, o MapOptions) (*Result, error) {
	loc := o.Location
	if loc == nil {
		loc = london
	}
	code, event := m.Type()
	res := &Result{Event: event, ControlID: m.ControlID()}
	if code != "ADT" {
		return nil, &Error{Ack: AckReject, Code: CodeUnsupportedMessage, Errors: []record.FieldError{{
			Field: "MSH-9", Rule: "unsupported-message", Message: "only ADT messages are accepted"}}}
	}
	if v := m.Version(); !strings.HasPrefix(v, "2.") {
		return nil, &Error{Ack: AckReject, Code: CodeUnsupportedVersion, Errors: []record.FieldError{{
			Field: "MSH-12", Rule: "unsupported-version", Message: "only HL7 version 2.x messages are accepted"}}}
	}
	if !upsertEvents[event] && !withdrawEvents[event] && event != "A40" {
		return nil, &Error{Ack: AckReject, Code: CodeUnsupportedEvent, Errors: []record.FieldError{{
			Field: "MSH-9.2", Rule: "unsupported-event", Message: "trigger event is not one the hub takes (A01, A04, A08, A28, A31, A23, A29, A40)"}}}
	}

	var errs errList
	updated, version := stamp(m, loc, &errs)
	pid := m.Segment("PID")
	if pid == nil {
		errs.add(CodeRequiredFieldMissing, "PID", "required", "PID segment is missing")
		return nil, errs.err()
	}
	ids := identifiers(pid.Reps(3), "PID-3", o.System, &errs)

	if event == "A40" {
		mrg := m.Segment("MRG")
		if mrg == nil {
			errs.add(CodeRequiredFieldMissing, "MRG", "required", "A40 needs an MRG segment naming the absorbed patient")
			return nil, errs.err()
		}
		prior := identifiers(mrg.Reps(1), "MRG-1", o.System, &errs)
		if errs.any() {
			return nil, errs.err()
		}
		res.Merge = &Merge{
			Survivor:  record.SourceKey{Agency: Agency, System: o.System, RecordID: ids.recordID},
			Absorbed:  record.SourceKey{Agency: Agency, System: o.System, RecordID: prior.recordID},
			Version:   version,
			UpdatedAt: updated,
		}
		return res, nil
	}

	rec := &record.Record{
		Schema: record.SchemaID,
		Source: record.Source{Agency: Agency, System: o.System, RecordID: ids.recordID, Version: version, UpdatedAt: updated},
	}
	if withdrawEvents[event] {
		// A withdrawal needs only the key: carrying the demographics again would
		// copy personal data into the log for no purpose.
		rec.Operation = record.OpWithdraw
	} else {
		rec.Operation = record.OpUpsert
		rec.Child = child(m, pid, ids, &errs)
	}
	if errs.any() {
		return nil, errs.err()
	}
	res.Record = rec
	return res, nil
}

var london = func() *time.Location {
	l, err := time.LoadLocation("Europe/London")
	if err != nil {
		return time.UTC
	}
	return l
}()

type errList struct {
	code int
	list []record.FieldError
}

func (e *errList) add(code int, field, rule, msg string) {
	// The first problem decides the code: a missing field is the clearer thing to report.
	if e.code == 0 {
		e.code = code
	}
	e.list = append(e.list, record.FieldError{Field: field, Rule: rule, Message: msg})
}

func (e *errList) any() bool { return len(e.list) > 0 }

func (e *errList) err() error {
	return &Error{Ack: AckError, Code: e.code, Errors: e.list}
}

// stamp reads when the event was recorded: EVN-2 when given, else MSH-7. Its
// digits are the version, so a resend of the same message dedupes while a
// later update does not.
func stamp(m *Message, loc *time.Location, errs *errList) (*time.Time, string) {
	var raw, field string
	if evn := m.Segment("EVN"); evn != nil && evn.Get(2, 1, 1) != "" {
		raw, field = evn.Get(2, 1, 1), "EVN-2"
	} else {
		raw, field = m.Header().Get(7, 1, 1), "MSH-7"
	}
	var updated *time.Time
	if msh7 := m.Header().Get(7, 1, 1); msh7 != "" {
		t, err := ParseTS(msh7, loc)
		if err != nil {
			errs.add(CodeDataTypeError, "MSH-7", "timestamp", "message date/time is not an HL7 timestamp (YYYYMMDD[HHMM[SS]][+ZZZZ])")
		} else {
			u := t.UTC()
			updated = &u
		}
	}
	if raw == "" {
		errs.add(CodeRequiredFieldMissing, "MSH-7", "required", "message date/time is required")
		return updated, ""
	}
	if _, err := ParseTS(raw, loc); err != nil && field == "EVN-2" {
		errs.add(CodeDataTypeError, field, "timestamp", "recorded date/time is not an HL7 timestamp")
	}
	version := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, raw)
	if len(version) > 64 {
		version = version[:64]
	}
	return updated, version
}

// ParseTS reads an HL7 DTM/TS value, YYYY[MM[DD[HH[MM[SS[.S+]]]]]][+/-ZZZZ];
// without an offset the time is taken in loc.
func ParseTS(s string, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	zone := ""
	if i := strings.IndexAny(s, "+-"); i >= 0 {
		s, zone = s[:i], s[i:]
	}
	if i := strings.IndexByte(s, '.'); i >= 0 {
		s = s[:i]
	}
	layouts := map[int]string{4: "2006", 6: "200601", 8: "20060102", 10: "2006010215", 12: "200601021504", 14: "20060102150405"}
	layout, ok := layouts[len(s)]
	if !ok || strings.Trim(s, "0123456789") != "" {
		return time.Time{}, fmt.Errorf("timestamp %q: want YYYYMMDD[HHMM[SS]]", s)
	}
	if zone != "" {
		if len(zone) != 5 || strings.Trim(zone[1:], "0123456789") != "" {
			return time.Time{}, fmt.Errorf("timestamp offset %q: want +HHMM or -HHMM", zone)
		}
		return time.Parse(layout+"-0700", s+zone)
	}
	return time.ParseInLocation(layout, s, loc)
}

type ids struct {
	recordID string
	nhs      string
	local    []record.LocalID
}

// identifiers reads a CX list (PID-3, MRG-1). The NHS number is recognised by
// its assigning authority or type; the hospital number (MR, else PI) is the
// record id. A list with only an NHS number uses that, so that a trust that
// sends nothing else can still feed the hub.
func identifiers(reps []Rep, field, system string, errs *errList) ids {
	var out ids
	var mr, pi, other string
	for _, r := range reps {
		v := r.Comp(1)
		if v == "" {
			continue
		}
		auth := strings.ToUpper(r.Comp(4))
		authOID := r.Sub(4, 2)
		typ := strings.ToUpper(r.Comp(5))
		switch {
		case auth == "NHS" || typ == "NH" || authOID == nhsOID || r.Comp(4) == nhsOID:
			n := ident.NormaliseNHS(v)
			if err := ident.CheckNHS(n); err != nil {
				errs.add(CodeDataTypeError, field+".1", "nhs-number", "NHS number: "+err.Error())
				continue
			}
			out.nhs = n
		case typ == "MR":
			if mr == "" {
				mr = v
			}
			out.local = append(out.local, record.LocalID{System: system + ":mr", Value: v})
		case typ == "PI":
			if pi == "" {
				pi = v
			}
			out.local = append(out.local, record.LocalID{System: system + ":pi", Value: v})
		default:
			if other == "" {
				other = v
			}
		}
	}
	for _, v := range []string{mr, pi, other, out.nhs} {
		if v != "" {
			out.recordID = v
			break
		}
	}
	switch {
	case out.recordID == "":
		errs.add(CodeRequiredFieldMissing, field, "required", "no patient identifier: a hospital number (type MR or PI) or NHS number is required")
	case !isCode(out.recordID):
		errs.add(CodeDataTypeError, field+".1", "identifier", "patient identifier may hold only letters, digits and . _ : / - (at most 64)")
	}
	for _, l := range out.local {
		if !isCode(l.Value) && l.Value != out.recordID {
			errs.add(CodeDataTypeError, field+".1", "identifier", "local identifier may hold only letters, digits and . _ : / - (at most 64)")
		}
	}
	if len(out.local) > 10 {
		out.local = out.local[:10]
	}
	return out
}

func isCode(s string) bool {
	if s == "" || len(s) > 64 || !isAlnum(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && !strings.ContainsRune("._:/-", rune(c)) {
			return false
		}
	}
	return true
}

func child(m *Message, pid *Segment, id ids, errs *errList) *record.Child {
	c := &record.Child{}
	if id.nhs != "" || len(id.local) > 0 {
		c.Identifiers = &record.Identifiers{NHSNumber: id.nhs, Local: id.local}
	}
	if n, ok := name(pid.Reps(5)); ok {
		c.Name = n
	} else {
		errs.add(CodeRequiredFieldMissing, "PID-5.1", "required", "patient family name is required")
	}
	switch dob := pid.Get(7, 1, 1); {
	case dob == "":
		errs.add(CodeRequiredFieldMissing, "PID-7", "required", "date of birth is required")
	default:
		d, ok := birthDate(dob)
		if !ok {
			errs.add(CodeDataTypeError, "PID-7", "date", "date of birth must be YYYYMMDD[HHMM]")
		}
		c.BirthDate = d
	}
	if sex := strings.ToUpper(pid.Get(8, 1, 1)); sex != "" {
		g, ok := genders[sex]
		if !ok {
			errs.add(CodeTableValueNotFound, "PID-8", "administrative-sex", "sex must be one of F, M, O, U, A, N")
		}
		c.Gender = g
	}
	c.Address = address(pid.Reps(11), "PID-11", errs)
	// PID-13 (the patient's own phone) is not read: the record has no phone
	// for the child, and guessing which parent it reaches would be wrong.
	for i, nk := range m.All("NK1") {
		if ct, ok := contact(nk, i, errs); ok && len(c.Contacts) < 10 {
			c.Contacts = append(c.Contacts, ct)
		}
	}
	if pd1 := m.Segment("PD1"); pd1 != nil {
		c.GPPractice = gpPractice(pd1, errs)
	}
	return c
}

var genders = map[string]string{"F": "female", "M": "male", "O": "other", "A": "other", "U": "unknown", "N": "unknown"}

// name reads the first XPN repetition that has a family name. In 2.3 family
// name is a plain component; in 2.4+ it is an FN whose first subcomponent is
// the surname, which Comp already returns.
func name(reps []Rep) (record.Name, bool) {
	for _, r := range reps {
		if fam := r.Comp(1); fam != "" {
			return record.Name{Family: fam, Given: r.Comp(2), Middle: r.Comp(3)}, true
		}
	}
	return record.Name{}, false
}

func birthDate(s string) (string, bool) {
	if len(s) < 8 {
		return s, false
	}
	t, err := time.Parse("20060102", s[:8])
	if err != nil || strings.Trim(s, "0123456789+-.") != "" {
		return s, false
	}
	return t.Format(time.DateOnly), true
}

// address takes the home address (XAD-7 "H") or else the first one. An
// address with no postcode keeps its lines (no fixed abode, a Traveller
// site, a postcode not known); one whose country (XAD-6) is not the UK is
// an address abroad, its postal code kept as a line. A UK postcode that is
// present but malformed is an error, so that it is fixed; an address with
// neither postcode nor lines is left out.
func address(reps []Rep, field string, errs *errList) *record.Address {
	var pick *Rep
	for i := range reps {
		if strings.EqualFold(reps[i].Comp(7), "H") {
			pick = &reps[i]
			break
		}
	}
	if pick == nil && len(reps) > 0 {
		pick = &reps[0]
	}
	if pick == nil {
		return nil
	}
	pc := pick.Comp(5)
	a := &record.Address{Town: pick.Comp(3)}
	for _, l := range []string{pick.Comp(1), pick.Comp(2)} {
		if l != "" {
			a.Lines = append(a.Lines, l)
		}
	}
	if c := pick.Comp(6); c != "" && !ukCountries[strings.ToUpper(c)] {
		a.Kind, a.Country = record.AddressAbroad, c
		if pc != "" {
			a.Lines = append(a.Lines, pc)
		}
		return a
	}
	if pc == "" {
		if len(a.Lines) == 0 {
			return nil
		}
		return a
	}
	norm := schemas.NormalisePostcode(pc)
	if norm == "" {
		errs.add(CodeDataTypeError, field+".5", "uk-postcode", "postcode is not a UK postcode")
		return nil
	}
	a.Postcode = norm
	return a
}

// ukCountries are the XAD-6 values (ISO 3166 codes and names) that mean the
// address is in the UK.
var ukCountries = map[string]bool{"GB": true, "GBR": true, "UK": true, "ENG": true, "WLS": true, "SCT": true, "NIR": true,
	"UNITED KINGDOM": true, "ENGLAND": true, "WALES": true, "SCOTLAND": true, "NORTHERN IRELAND": true}

// relationships maps HL7 table 0063 codes (and the v3 codes some PAS use) to
// the record's relationship.
var relationships = map[string]string{
	"MTH": "mother", "FTH": "father", "PAR": "parent", "PRN": "parent",
	"STP": "step-parent", "STPPRN": "step-parent", "STPMTH": "step-parent", "STPFTH": "step-parent",
	"GRD": "guardian", "GRP": "grandparent", "GRPRN": "grandparent", "GRMTH": "grandparent", "GRFTH": "grandparent",
	"CGV": "carer", "FSTPRN": "foster-carer", "FSTMTH": "foster-carer", "FSTFTH": "foster-carer",
	"OTH": "other", "EXF": "other", "FND": "other", "SIB": "other", "DOM": "other", "UNK": "other",
}

func contact(nk *Segment, i int, errs *errList) (record.Contact, bool) {
	n, ok := name(nk.Reps(2))
	if !ok {
		// An NK1 for an organisation or with no name cannot be a contact.
		return record.Contact{}, false
	}
	rel := relationships[strings.ToUpper(nk.Get(3, 1, 1))]
	if rel == "" {
		rel = "other"
	}
	ct := record.Contact{Relationship: rel, Name: n}
	where := fmt.Sprintf("NK1[%d]-5", i+1)
	for _, r := range nk.Reps(5) {
		if p, ok := phone(r); ok {
			ct.Phone = p
			break
		} else if p != "" {
			errs.add(CodeDataTypeError, where, "phone", "phone number must be 6 to 20 digits, spaces, brackets or hyphens")
			break
		}
	}
	return ct, true
}

// phone reads an XTN: 2.3 puts the number in component 1, 2.5 deprecates
// that for component 12 (unformatted) or area code and local number (6, 7).
// An extension is dropped as the record has no place for it.
func phone(r Rep) (string, bool) {
	p := r.Comp(1)
	if p == "" {
		p = r.Comp(12)
	}
	if p == "" && r.Comp(7) != "" {
		p = strings.TrimSpace(r.Comp(6) + " " + r.Comp(7))
	}
	if i := strings.IndexAny(strings.ToLower(p), "xe"); i > 0 {
		p = strings.TrimSpace(p[:i])
	}
	if p == "" {
		return "", false
	}
	return p, validPhone(p)
}

func validPhone(p string) bool {
	if len(p) < 6 || len(p) > 20 {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !(c >= '0' && c <= '9') && !strings.ContainsRune(" ()-", rune(c)) && !(c == '+' && i == 0) {
			return false
		}
	}
	return true
}

// gpPractice reads PD1-3 (XON): name in component 1, the ODS code in XON-10
// (2.5) or XON-3 (2.3). A practice sent by code alone is named by its code,
// which the directory can resolve, rather than dropped.
func gpPractice(pd1 *Segment, errs *errList) *record.GPPractice {
	reps := pd1.Reps(3)
	if len(reps) == 0 {
		return nil
	}
	r := reps[0]
	code := strings.ToUpper(r.Comp(10))
	if code == "" {
		code = strings.ToUpper(r.Comp(3))
	}
	nm := r.Comp(1)
	if nm == "" && code == "" {
		return nil
	}
	if code != "" && !isODS(code) {
		errs.add(CodeDataTypeError, "PD1-3", "ods-code", "GP practice code must be an ODS practice code (a letter and five digits)")
		return nil
	}
	if nm == "" {
		nm = code
	}
	return &record.GPPractice{Name: nm, ODSCode: code}
}

func isODS(s string) bool {
	if len(s) != 6 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	return strings.Trim(s[1:], "0123456789") == ""
}
