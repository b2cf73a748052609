package csvfeed

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"contactpoint/domain/record"
)

// Reader yields one record per CSV row.
type Reader struct {
	in     *csv.Reader
	m      Mapping
	agency string
	system string
	layout string

	cols    []column // mapped columns, in file order
	started bool
	err     error // sticky
}

type column struct {
	path   string
	header string
	index  int
}

// NewReader reads CSV from r, with a header row first, and maps each row
// with m. agency and system name the feed (feeds.<agency>.<system>).
func NewReader(r io.Reader, m Mapping, agency, system string) *Reader {
	in := csv.NewReader(r)
	if m.Comma != "" {
		in.Comma = []rune(m.Comma)[0]
	}
	in.TrimLeadingSpace = true
	return &Reader{in: in, m: m, agency: agency, system: system}
}

// Next returns the next row as a record, with the mapped columns of the
// row (header line and value line, re-encoded as CSV) for quarantine.
// Problems with one row's values come back as field errors, named by CSV
// header, with a nil record; the caller quarantines the bytes and reads on.
// An error means the file or the mapping is unusable, and is returned
// again by every later call. io.EOF ends the file.
func (r *Reader) Next() (*record.Record, []byte, []record.FieldError, error) {
	if r.err != nil {
		return nil, nil, nil, r.err
	}
	if !r.started {
		if err := r.start(); err != nil {
			r.err = err
			return nil, nil, nil, err
		}
	}
	row, err := r.in.Read()
	if errors.Is(err, io.EOF) {
		r.err = io.EOF
		return nil, nil, nil, io.EOF
	}
	if err != nil {
		if errors.Is(err, csv.ErrFieldCount) {
			line, _ := r.in.FieldPos(0)
			return nil, r.raw(row), []record.FieldError{{Field: "line " + strconv.Itoa(line), Rule: "field-count",
				Message: fmt.Sprintf("row has %d fields; the header has %d", len(row), r.in.FieldsPerRecord)}}, nil
		}
		r.err = fmt.Errorf("csv feed: %w", err)
		return nil, nil, nil, r.err
	}
	rec, fes := r.build(row)
	if len(fes) > 0 {
		rec = nil
	}
	return rec, r.raw(row), fes, nil
}

func (r *Reader) start() error {
	r.started = true
	if err := r.m.Validate(); err != nil {
		return err
	}
	layout, _ := dateLayout(r.m.DateFormat)
	r.layout = layout
	header, err := r.in.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("csv feed: no header row")
		}
		return fmt.Errorf("csv feed: header row: %w", err)
	}
	index := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")) // Excel writes a byte order mark
		if _, dup := index[h]; dup && h != "" {
			return fmt.Errorf("csv feed: header %q appears twice", h)
		}
		index[h] = i
	}
	r.in.FieldsPerRecord = len(header)
	paths := map[string]string{}
	for p, h := range r.m.Columns {
		paths[p] = h
	}
	if r.m.RecordID != "" {
		paths["source.record_id"] = r.m.RecordID
	}
	var missing []string
	for p, h := range paths {
		i, ok := index[h]
		if !ok {
			missing = append(missing, h)
			continue
		}
		r.cols = append(r.cols, column{path: p, header: h, index: i})
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("csv feed: mapped headers not in the file: %s", strings.Join(missing, ", "))
	}
	sort.Slice(r.cols, func(i, j int) bool {
		if r.cols[i].index != r.cols[j].index {
			return r.cols[i].index < r.cols[j].index
		}
		return r.cols[i].path < r.cols[j].path
	})
	return nil
}

// raw re-encodes the mapped columns only: unmapped columns may hold what
// the hub must not keep, and the quarantine is part of the hub.
func (r *Reader) raw(row []string) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	if r.m.Comma != "" {
		w.Comma = []rune(r.m.Comma)[0]
	}
	var hs, vs []string
	seen := map[int]bool{}
	for _, c := range r.cols {
		if seen[c.index] {
			continue
		}
		seen[c.index] = true
		hs = append(hs, c.header)
		v := ""
		if c.index < len(row) {
			v = row[c.index]
		}
		vs = append(vs, v)
	}
	_ = w.Write(hs)
	_ = w.Write(vs)
	w.Flush()
	return b.Bytes()
}

type value struct {
	text  string
	field string // what to call it in an error: the CSV header or the default
}

// groupOf names the optional part of the record a path belongs to: a
// default fills in a group only when the row itself has something for it,
// so a default relationship never invents a contact.
func groupOf(path string) string {
	parts := strings.Split(path, ".")
	if len(parts) < 2 || parts[0] != "child" {
		return ""
	}
	switch parts[1] {
	case "contacts", "involvements":
		if len(parts) > 2 {
			return strings.Join(parts[:3], ".")
		}
	case "address", "school", "gp_practice", "caf":
		return "child." + parts[1]
	}
	return ""
}

func (r *Reader) build(row []string) (*record.Record, []record.FieldError) {
	vals := map[string]value{}
	present := map[string]bool{}
	for _, c := range r.cols {
		v := strings.TrimSpace(row[c.index])
		if v == "" {
			continue
		}
		vals[c.path] = value{v, c.header}
		if g := groupOf(c.path); g != "" {
			present[g] = true
		}
	}
	for p, d := range r.m.Defaults {
		if _, ok := vals[p]; ok || d == "" {
			continue
		}
		if g := groupOf(p); g == "" || present[g] {
			vals[p] = value{d, "defaults." + p}
		}
	}

	b := builder{r: r, rec: &record.Record{
		Schema:    record.SchemaID,
		Source:    record.Source{Agency: r.agency, System: r.system},
		Operation: record.OpUpsert,
	}, child: &record.Child{}}
	paths := make([]string, 0, len(vals))
	for p := range vals {
		paths = append(paths, p)
	}
	// The operation goes first: a withdrawal reads nothing about the child.
	sort.Slice(paths, func(i, j int) bool {
		if (paths[i] == "operation") != (paths[j] == "operation") {
			return paths[i] == "operation"
		}
		return paths[i] < paths[j]
	})
	for _, p := range paths {
		if b.rec.Operation == record.OpWithdraw && strings.HasPrefix(p, "child.") {
			continue
		}
		b.set(p, vals[p])
	}
	return b.finish(), b.errs
}

type builder struct {
	r     *Reader
	rec   *record.Record
	child *record.Child
	lines [maxAddressLines]string
	addr  *record.Address
	conts [maxContacts]*record.Contact
	invs  [maxInvolvements]*record.Involvement
	errs  []record.FieldError
}

func (b *builder) fail(v value, rule, msg string) {
	b.errs = append(b.errs, record.FieldError{Field: v.field, Rule: rule, Message: msg})
}

func (b *builder) date(v value, path string) string {
	t, err := time.Parse(b.r.layout, v.text)
	if err != nil {
		b.fail(v, "date-format", fmt.Sprintf("%s is not a date in the configured format %q", path, b.r.layout))
		return ""
	}
	return t.Format(time.DateOnly)
}

func (b *builder) boolean(v value, path string) bool {
	switch strings.ToLower(v.text) {
	case "true", "t", "yes", "y", "1":
		return true
	case "false", "f", "no", "n", "0":
		return false
	}
	b.fail(v, "boolean", path+" must be yes/no, true/false or 1/0")
	return false
}

func lookup(m map[string]string, s string) (string, bool) {
	for k, v := range m {
		if strings.EqualFold(k, s) {
			return v, true
		}
	}
	return "", false
}

func (b *builder) coded(v value, path string, m map[string]string, fallback map[string]string, allowed []string, rule string) string {
	if out, ok := lookup(m, v.text); ok {
		return out
	}
	if out, ok := lookup(fallback, v.text); ok {
		return out
	}
	if low := strings.ToLower(v.text); in(low, allowed) {
		return low
	}
	b.fail(v, rule, fmt.Sprintf("%s: value is not one the mapping knows; map it to one of %s", path, strings.Join(allowed, ", ")))
	return ""
}

func (b *builder) contact(i int) *record.Contact {
	if b.conts[i] == nil {
		b.conts[i] = &record.Contact{}
	}
	return b.conts[i]
}

func (b *builder) involvement(i int) *record.Involvement {
	if b.invs[i] == nil {
		b.invs[i] = &record.Involvement{}
	}
	return b.invs[i]
}

func (b *builder) ids() *record.Identifiers {
	if b.child.Identifiers == nil {
		b.child.Identifiers = &record.Identifiers{}
	}
	return b.child.Identifiers
}

func (b *builder) address() *record.Address {
	if b.addr == nil {
		b.addr = &record.Address{}
	}
	return b.addr
}

func (b *builder) set(path string, v value) {
	c, t := b.child, v.text
	parts := strings.Split(path, ".")
	switch {
	case path == "operation":
		b.rec.Operation = b.coded(v, path, b.r.m.Operation, nil, operations, "operation")
	case path == "source.record_id":
		b.rec.Source.RecordID = t
	case path == "source.version":
		b.rec.Source.Version = t
	case path == "source.updated_at":
		layout := b.r.m.TimeFormat
		if layout == "" {
			layout = time.RFC3339
		}
		ts, err := time.Parse(layout, t)
		if err != nil {
			b.fail(v, "timestamp", fmt.Sprintf("%s is not a time in the format %q", path, layout))
			return
		}
		ts = ts.UTC()
		b.rec.Source.UpdatedAt = &ts
	case path == "child.identifiers.nhs_number":
		b.ids().NHSNumber = t
	case path == "child.identifiers.upn":
		b.ids().UPN = t
	case path == "child.identifiers.local":
		b.ids().Local = append(b.ids().Local, record.LocalID{System: b.r.system, Value: t})
	case path == "child.name.given":
		c.Name.Given = t
	case path == "child.name.middle":
		c.Name.Middle = t
	case path == "child.name.family":
		c.Name.Family = t
	case path == "child.name.preferred":
		c.Name.Preferred = t
	case path == "child.birth_date":
		c.BirthDate = b.date(v, path)
	case path == "child.gender":
		c.Gender = b.coded(v, path, b.r.m.Gender, defaultGender, genders, "gender")
	case path == "child.address.town":
		b.address().Town = t
	case path == "child.address.postcode":
		b.address().Postcode = t
	case path == "child.address.kind":
		b.address().Kind = t
	case path == "child.address.country":
		b.address().Country = t
	case path == "child.address.from":
		b.address().From = b.date(v, path)
	case strings.HasPrefix(path, "child.address.lines."):
		i, _ := strconv.Atoi(parts[3])
		b.lines[i] = t
	case strings.HasPrefix(path, "child.school."):
		if c.School == nil {
			c.School = &record.School{}
		}
		switch parts[2] {
		case "name":
			c.School.Name = t
		case "urn":
			c.School.URN = t
		case "phone":
			c.School.Phone = t
		case "from":
			c.School.From = b.date(v, path)
		}
	case strings.HasPrefix(path, "child.gp_practice."):
		if c.GPPractice == nil {
			c.GPPractice = &record.GPPractice{}
		}
		switch parts[2] {
		case "name":
			c.GPPractice.Name = t
		case "ods_code":
			c.GPPractice.ODSCode = strings.ToUpper(t)
		case "phone":
			c.GPPractice.Phone = t
		}
	case strings.HasPrefix(path, "child.caf."):
		if c.CAF == nil {
			c.CAF = &record.CAF{}
		}
		if parts[2] == "exists" {
			c.CAF.Exists = b.boolean(v, path)
		} else {
			c.CAF.CompletedOn = b.date(v, path)
		}
	case strings.HasPrefix(path, "child.contacts."):
		i, _ := strconv.Atoi(parts[2])
		ct := b.contact(i)
		switch strings.Join(parts[3:], ".") {
		case "relationship":
			ct.Relationship = b.coded(v, path, b.r.m.Relationship, nil, relationships, "relationship")
		case "parental_responsibility":
			ct.ParentalResponsibility = b.boolean(v, path)
		case "name.given":
			ct.Name.Given = t
		case "name.middle":
			ct.Name.Middle = t
		case "name.family":
			ct.Name.Family = t
		case "phone":
			ct.Phone = t
		case "email":
			ct.Email = t
		}
	case strings.HasPrefix(path, "child.involvements."):
		i, _ := strconv.Atoi(parts[2])
		inv := b.involvement(i)
		practitioner := func() *record.Practitioner {
			if inv.Practitioner == nil {
				inv.Practitioner = &record.Practitioner{}
			}
			return inv.Practitioner
		}
		switch strings.Join(parts[3:], ".") {
		case "service":
			inv.Service = t
		case "kind":
			if k, ok := lookup(b.r.m.Kind, t); ok {
				inv.Kind = k
			} else {
				inv.Kind = strings.ToLower(t)
			}
		case "organisation":
			inv.Organisation = t
		case "practitioner.name":
			practitioner().Name = t
		case "practitioner.role":
			practitioner().Role = t
		case "practitioner.phone":
			practitioner().Phone = t
		case "practitioner.email":
			practitioner().Email = t
		case "phone":
			inv.Phone = t
		case "lead_professional":
			inv.LeadProfessional = b.boolean(v, path)
		case "from":
			inv.From = b.date(v, path)
		}
	}
}

func (b *builder) finish() *record.Record {
	rec, c := b.rec, b.child
	if rec.Operation == record.OpWithdraw {
		// A withdrawal needs only the key; the row's other columns are not
		// copied into the log.
		return rec
	}
	for _, l := range b.lines {
		if l != "" {
			b.address().Lines = append(b.address().Lines, l)
		}
	}
	// An address needs a postcode, lines or a kind (no fixed abode, a
	// Traveller site, abroad, no known address); a town or a date alone,
	// left over from empty columns, is not one.
	if a := b.addr; a != nil && (a.Postcode != "" || len(a.Lines) > 0 || a.Kind != "") {
		c.Address = a
	}
	for _, ct := range b.conts {
		if ct != nil {
			c.Contacts = append(c.Contacts, *ct)
		}
	}
	for _, inv := range b.invs {
		if inv != nil {
			c.Involvements = append(c.Involvements, *inv)
		}
	}
	rec.Child = c
	return rec
}
