// Package ctf reads the DfE Common Transfer File (CTF 2x XML) that schools
// exchange when a pupil moves, and turns each pupil into a canonical feed
// record for the education agency.
//
// A CTF holds far more than the hub may keep: attainment, assessments,
// attendance, SEN, ethnicity, free school meals and so on. The reader works
// from an allow-list of the identity and contact elements and skips every
// other element unread, so that nothing else reaches a record, a log or the
// quarantine. Files are streamed token by token and can be of any length.
package ctf

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // CTF timestamps carry no offset and mean UK time

	"golang.org/x/text/encoding/charmap"

	"contactpoint/domain/record"
)

// Agency is the agency every CTF speaks for.
const Agency = "education"

// Limits that keep one hostile or broken file from taking the process down.
const (
	maxTokenBytes   = 1 << 20 // one element's text, or one tag
	maxPupilNodes   = 2000    // allowed elements in one pupil
	maxContacts     = 10      // what the record holds
	maxAddressLines = 4
)

var errTokenTooLarge = errors.New("ctf: an XML token exceeds 1 MiB")

// Header is what the file says about itself and the school that sent it.
type Header struct {
	Version    string     // CTFversion, e.g. "23.0"
	DateTime   *time.Time // when the file was produced, UTC
	LEA        string     // local authority number of the source school
	Estab      string     // establishment number of the source school
	URN        string
	SchoolName string
}

// Reader yields one record per pupil.
type Reader struct {
	in     *countingReader
	dec    *xml.Decoder
	system string
	header Header
	rawDT  string
	inRoot bool
	err    error // sticky: once the stream fails, every call says so
}

// NewReader reads a CTF from r. system is the hub's name for the sending
// system (feeds.education.<system>).
func NewReader(r io.Reader, system string) *Reader {
	in := &countingReader{r: bufio.NewReaderSize(r, 64<<10)}
	dec := xml.NewDecoder(in)
	dec.Strict = true
	dec.CharsetReader = charsetReader
	return &Reader{in: in, dec: dec, system: system}
}

// Header returns the file header; it is complete once Next has returned
// the first pupil (the header precedes the pupils).
func (r *Reader) Header() Header { return r.header }

// Next returns the next pupil as a record, with the pupil's allowed
// elements re-encoded as XML for quarantine (never the skipped sections).
// Content problems (a missing surname, a malformed date) are left for the
// hub's schema to report; an error here means the stream itself is broken,
// and it is returned again by every later call. io.EOF ends the file.
func (r *Reader) Next() (*record.Record, []byte, error) {
	if r.err != nil {
		return nil, nil, r.err
	}
	rec, raw, err := r.next()
	if err != nil {
		r.err = err
	}
	return rec, raw, err
}

func (r *Reader) next() (*record.Record, []byte, error) {
	for {
		tok, err := r.token()
		if errors.Is(err, io.EOF) {
			if !r.inRoot {
				return nil, nil, errors.New("ctf: no CTfile element")
			}
			return nil, nil, io.EOF
		}
		if err != nil {
			return nil, nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "CTfile":
				r.inRoot = true
			case "CTFpupilData":
				// descend: pupils follow
			case "Header":
				n, err := r.readElement(t, headerShape)
				if err != nil {
					return nil, nil, fmt.Errorf("ctf header: %w", err)
				}
				r.setHeader(n)
			case "Pupil":
				n, err := r.readElement(t, pupilShape)
				if err != nil {
					return nil, nil, fmt.Errorf("ctf pupil: %w", err)
				}
				raw, err := encode(n)
				if err != nil {
					return nil, nil, fmt.Errorf("ctf pupil: %w", err)
				}
				return r.pupil(n), raw, nil
			default:
				if !r.inRoot {
					return nil, nil, fmt.Errorf("ctf: root element is %q, not CTfile", t.Name.Local)
				}
				if err := r.skip(); err != nil {
					return nil, nil, err
				}
			}
		}
	}
}

// token reads one token, holding each to maxTokenBytes so that a single
// enormous text node cannot exhaust memory.
func (r *Reader) token() (xml.Token, error) {
	r.in.mark = r.in.n
	tok, err := r.dec.RawToken()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		if errors.Is(err, errTokenTooLarge) {
			return nil, errTokenTooLarge
		}
		return nil, fmt.Errorf("ctf: malformed XML: %w", err)
	}
	return tok, nil
}

// skip discards the element just opened, tag by tag, never holding it.
func (r *Reader) skip() error {
	depth := 1
	for depth > 0 {
		tok, err := r.token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("ctf: file ends inside an element: %w", io.ErrUnexpectedEOF)
			}
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		}
	}
	return nil
}

// shape is an allow-list of child elements; an element whose shape is leaf
// holds text.
type shape map[string]shape

var leaf = shape{}

type node struct {
	name string
	text string
	kids []*node
}

func (n *node) child(name string) *node {
	if n == nil {
		return nil
	}
	for _, k := range n.kids {
		if k.name == name {
			return k
		}
	}
	return nil
}

func (n *node) all(name string) []*node {
	if n == nil {
		return nil
	}
	var out []*node
	for _, k := range n.kids {
		if k.name == name {
			out = append(out, k)
		}
	}
	return out
}

// text returns the trimmed text of the first child with that name.
func (n *node) get(name string) string {
	if c := n.child(name); c != nil {
		return c.text
	}
	return ""
}

// readElement reads the element just opened, keeping only what s allows.
// RawToken is used throughout, so the decoder checks nesting but keeps no
// namespace state: CTF elements are matched on their local names.
func (r *Reader) readElement(start xml.StartElement, s shape) (*node, error) {
	count := 0
	var read func(name string, s shape) (*node, error)
	read = func(name string, s shape) (*node, error) {
		count++
		if count > maxPupilNodes {
			return nil, fmt.Errorf("element %s has more than %d allowed elements", name, maxPupilNodes)
		}
		n := &node{name: name}
		var text strings.Builder
		for {
			tok, err := r.token()
			if err != nil {
				if errors.Is(err, io.EOF) {
					return nil, fmt.Errorf("file ends inside %s: %w", name, io.ErrUnexpectedEOF)
				}
				return nil, err
			}
			switch t := tok.(type) {
			case xml.StartElement:
				sub, ok := s[t.Name.Local]
				if !ok || len(s) == 0 {
					if err := r.skip(); err != nil {
						return nil, err
					}
					continue
				}
				k, err := read(t.Name.Local, sub)
				if err != nil {
					return nil, err
				}
				n.kids = append(n.kids, k)
			case xml.CharData:
				if len(s) == 0 && text.Len() < maxTokenBytes {
					text.Write(t)
				}
			case xml.EndElement:
				if t.Name.Local != name {
					return nil, fmt.Errorf("malformed XML: </%s> closes <%s>", t.Name.Local, name)
				}
				n.text = strings.TrimSpace(text.String())
				return n, nil
			}
		}
	}
	return read(start.Name.Local, s)
}

var address = shape{
	"BS7666Address": {"SAON": leaf, "PAON": leaf, "Street": leaf, "Locality": leaf, "Town": leaf, "PostTown": leaf},
	"AddressLines":  {"AddressLine1": leaf, "AddressLine2": leaf, "AddressLine3": leaf, "AddressLine4": leaf, "AddressLine5": leaf},
	"PostCode":      leaf,
}

var phones = shape{"Phone": {"TelephoneType": leaf, "PhoneNo": leaf}}

var names = shape{"PreferredSurname": leaf, "FormerSurname": leaf, "PreferredForename": leaf, "MiddleNames": leaf}

var headerShape = shape{
	"CTFversion": leaf, "DateTime": leaf,
	"SourceSchool": {"LEA": leaf, "Estab": leaf, "URN": leaf, "SchoolName": leaf},
}

// pupilShape is the whole of what the hub reads from a pupil. Attainment,
// Assessments, Attendance, SEN, Ethnicity, FSM, NAW details, school history,
// languages, medical flags and everything else are absent, so skipped.
var pupilShape = func() shape {
	s := shape{
		"UPN": leaf, "Surname": leaf, "Forename": leaf, "DOB": leaf, "Gender": leaf, "Sex": leaf,
		"BasicDetails": names,
		"Address":      address,
		"Contacts": {"Contact": {
			"Order": leaf, "Surname": leaf, "Forename": leaf, "MiddleNames": leaf,
			"Relationship": leaf, "Responsibility": leaf, "Phones": phones, "Email": leaf,
			"AddressAsPupil": leaf, "Address": address,
		}},
	}
	// Some suppliers put the name details directly under Pupil.
	for k, v := range names {
		s[k] = v
	}
	return s
}()

func (r *Reader) setHeader(n *node) {
	src := n.child("SourceSchool")
	r.header = Header{
		Version:    n.get("CTFversion"),
		LEA:        src.get("LEA"),
		Estab:      src.get("Estab"),
		URN:        src.get("URN"),
		SchoolName: src.get("SchoolName"),
	}
	r.rawDT = n.get("DateTime")
	if t, ok := parseDateTime(r.rawDT); ok {
		u := t.UTC()
		r.header.DateTime = &u
	}
}

var london = func() *time.Location {
	l, err := time.LoadLocation("Europe/London")
	if err != nil {
		return time.UTC
	}
	return l
}()

func parseDateTime(s string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04:05.999999999", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, london); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func (r *Reader) pupil(n *node) *record.Record {
	bd := n.child("BasicDetails")
	pick := func(name string) string {
		if v := bd.get(name); v != "" {
			return v
		}
		return n.get(name)
	}
	c := &record.Child{
		Name: record.Name{
			Family: n.get("Surname"),
			Given:  n.get("Forename"),
			Middle: pick("MiddleNames"),
		},
		BirthDate: n.get("DOB"),
	}
	c.Name.Preferred = preferred(c.Name, pick("PreferredForename"), pick("PreferredSurname"))
	if former := pick("FormerSurname"); former != "" && !strings.EqualFold(former, c.Name.Family) {
		c.PreviousNames = []record.Name{{Family: former, Given: c.Name.Given}}
	}
	upn := strings.ToUpper(n.get("UPN"))
	if upn != "" {
		c.Identifiers = &record.Identifiers{UPN: upn}
	}
	sex := n.get("Gender")
	if sex == "" {
		sex = n.get("Sex")
	}
	c.Gender = gender(sex)
	c.Address = addressOf(n.child("Address"))
	c.Contacts = contacts(n.all("Contacts"), c.Address)
	if r.header.SchoolName != "" {
		c.School = &record.School{Name: r.header.SchoolName}
		if len(r.header.URN) == 6 && strings.Trim(r.header.URN, "0123456789") == "" {
			c.School.URN = r.header.URN
		}
	}
	id := upn
	if id == "" {
		id = r.fallbackID(c)
	}
	return &record.Record{
		Schema:    record.SchemaID,
		Operation: record.OpUpsert,
		Source: record.Source{
			Agency:    Agency,
			System:    r.system,
			RecordID:  id,
			Version:   digits(r.rawDT),
			UpdatedAt: r.header.DateTime,
		},
		Child: c,
	}
}

// fallbackID names a pupil without a UPN by the school and a digest of
// name and date of birth: stable across files from the same school, so a
// resend updates rather than duplicates, and opaque in a subject or log.
func (r *Reader) fallbackID(c *record.Child) string {
	h := sha256.Sum256([]byte(strings.ToUpper(c.Name.Family + "\x00" + c.Name.Given + "\x00" + c.BirthDate)))
	prefix := "ctf"
	if r.header.LEA != "" && r.header.Estab != "" {
		prefix = digits(r.header.LEA + r.header.Estab)
	}
	return prefix + "-" + hex.EncodeToString(h[:8])
}

// preferred is the name the child is known by, when it differs from the
// legal one: a preferred forename alone, or the whole name when the
// surname differs too.
func preferred(legal record.Name, forename, surname string) string {
	switch {
	case surname != "" && !strings.EqualFold(surname, legal.Family):
		f := forename
		if f == "" {
			f = legal.Given
		}
		return strings.TrimSpace(f + " " + surname)
	case forename != "" && !strings.EqualFold(forename, legal.Given):
		return forename
	}
	return ""
}

// gender maps the CTF codes; anything else is passed on as it stands so
// that the schema refuses it with a clear reason rather than it being guessed.
func gender(s string) string {
	switch strings.ToUpper(s) {
	case "":
		return ""
	case "M":
		return "male"
	case "F":
		return "female"
	case "U", "X":
		return "unknown"
	}
	return s
}

func addressOf(n *node) *record.Address {
	if n == nil {
		return nil
	}
	// A postcode may be missing (a pupil of no fixed abode, or on a
	// Traveller site): the lines are kept, and an address with neither is
	// left out.
	a := &record.Address{Postcode: n.get("PostCode")}
	var lines []string
	if bs := n.child("BS7666Address"); bs != nil {
		street := strings.TrimSpace(bs.get("PAON") + " " + bs.get("Street"))
		lines = []string{bs.get("SAON"), street, bs.get("Locality")}
		a.Town = bs.get("Town")
		if a.Town == "" {
			a.Town = bs.get("PostTown")
		}
	} else if al := n.child("AddressLines"); al != nil {
		for i := 1; i <= 5; i++ {
			lines = append(lines, al.get("AddressLine"+strconv.Itoa(i)))
		}
	}
	for _, l := range lines {
		if l != "" {
			a.Lines = append(a.Lines, l)
		}
	}
	if len(a.Lines) > maxAddressLines {
		// Free-form addresses put the town last; keep it as the town.
		if a.Town == "" {
			a.Town = a.Lines[len(a.Lines)-1]
			a.Lines = a.Lines[:len(a.Lines)-1]
		}
		if len(a.Lines) > maxAddressLines {
			a.Lines = append(a.Lines[:maxAddressLines-1], strings.Join(a.Lines[maxAddressLines-1:], ", "))
		}
	}
	if a.Postcode == "" && len(a.Lines) == 0 {
		return nil
	}
	return a
}

// relationships maps the CBDS "relationship to pupil" codes. Professionals
// (doctor, social worker, teacher) are not parents or carers and are left out.
var relationships = map[string]string{
	"PAM": "mother", "PAF": "father", "PAR": "parent",
	"STM": "step-parent", "STF": "step-parent",
	"FOM": "foster-carer", "FOF": "foster-carer",
	"CAR": "carer", "GRD": "guardian", "GUA": "guardian",
	"GRM": "grandparent", "GRF": "grandparent", "GRP": "grandparent",
	"FAM": "other", "REL": "other", "OTH": "other", "CHM": "other",
	"DOC": "", "SWR": "", "HTE": "", "TEA": "",
	"MOTHER": "mother", "FATHER": "father", "PARENT": "parent", "CARER": "carer", "GUARDIAN": "guardian",
}

func contacts(groups []*node, pupilAddr *record.Address) []record.Contact {
	var cs []*node
	for _, g := range groups {
		cs = append(cs, g.all("Contact")...)
	}
	// Lower Order is the school's first contact; keep the first ten.
	sort.SliceStable(cs, func(i, j int) bool { return order(cs[i]) < order(cs[j]) })
	var out []record.Contact
	for _, n := range cs {
		if len(out) == maxContacts {
			break
		}
		rel, known := relationships[strings.ToUpper(n.get("Relationship"))]
		if known && rel == "" {
			continue
		}
		if !known {
			rel = "other"
		}
		ct := record.Contact{
			Relationship:           rel,
			ParentalResponsibility: isTrue(n.get("Responsibility")),
			Name:                   record.Name{Family: n.get("Surname"), Given: n.get("Forename"), Middle: n.get("MiddleNames")},
			Email:                  n.get("Email"),
			Phone:                  phoneOf(n.child("Phones")),
		}
		if ct.Name.Family == "" && ct.Name.Given == "" {
			continue
		}
		if isTrue(n.get("AddressAsPupil")) && pupilAddr != nil {
			a := *pupilAddr
			a.Lines = append([]string(nil), pupilAddr.Lines...)
			ct.Address = &a
		} else {
			ct.Address = addressOf(n.child("Address"))
		}
		out = append(out, ct)
	}
	return out
}

func order(n *node) int {
	o, err := strconv.Atoi(n.get("Order"))
	if err != nil {
		return 1 << 30
	}
	return o
}

func isTrue(s string) bool {
	switch strings.ToLower(s) {
	case "true", "1", "y", "yes":
		return true
	}
	return false
}

// phoneOf picks the home number, else the mobile, else the first; numbers
// often carry a note ("07700 900123 (mum)"), which is cut at the first
// character a phone number cannot hold.
func phoneOf(n *node) string {
	ps := n.all("Phone")
	rank := func(p *node) int {
		switch strings.ToUpper(p.get("TelephoneType")) {
		case "H":
			return 0
		case "M":
			return 1
		}
		return 2
	}
	sort.SliceStable(ps, func(i, j int) bool { return rank(ps[i]) < rank(ps[j]) })
	for _, p := range ps {
		if v := cleanPhone(p.get("PhoneNo")); v != "" {
			return v
		}
	}
	return ""
}

func cleanPhone(s string) string {
	end := 0
	for end < len(s) {
		c := s[end]
		if c >= '0' && c <= '9' || c == ' ' || c == '-' || c == '(' || c == ')' || c == '+' && end == 0 {
			end++
			continue
		}
		break
	}
	v := strings.TrimSpace(s[:end])
	if strings.Count(v, "(") != strings.Count(v, ")") {
		v = strings.TrimSpace(strings.TrimRight(v, "("))
	}
	if len(v) < 6 {
		return s // leave it whole for the schema to refuse with a reason
	}
	return v
}

func digits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

// encode writes the allowed part of a pupil back as XML, for quarantine.
func encode(n *node) ([]byte, error) {
	var b bytes.Buffer
	enc := xml.NewEncoder(&b)
	var write func(n *node) error
	write = func(n *node) error {
		start := xml.StartElement{Name: xml.Name{Local: n.name}}
		if err := enc.EncodeToken(start); err != nil {
			return err
		}
		if n.text != "" {
			if err := enc.EncodeToken(xml.CharData(n.text)); err != nil {
				return err
			}
		}
		for _, k := range n.kids {
			if err := write(k); err != nil {
				return err
			}
		}
		return enc.EncodeToken(start.End())
	}
	if err := write(n); err != nil {
		return nil, fmt.Errorf("encode pupil: %w", err)
	}
	if err := enc.Flush(); err != nil {
		return nil, fmt.Errorf("encode pupil: %w", err)
	}
	return b.Bytes(), nil
}

// charsetReader lets files declared as Latin-1 or Windows-1252, which older
// MIS exports still produce, be read as UTF-8.
func charsetReader(label string, in io.Reader) (io.Reader, error) {
	switch strings.ToLower(label) {
	case "iso-8859-1", "latin1", "latin-1", "iso8859-1":
		return charmap.ISO8859_1.NewDecoder().Reader(in), nil
	case "windows-1252", "cp1252":
		return charmap.Windows1252.NewDecoder().Reader(in), nil
	case "utf-8", "utf8", "us-ascii", "ascii":
		return in, nil
	}
	return nil, fmt.Errorf("ctf: unsupported character set %q", label)
}

// countingReader counts the bytes the decoder takes, so that one token can
// be held to maxTokenBytes. It is an io.ByteReader, so the decoder reads
// through it without a buffer of its own.
type countingReader struct {
	r       *bufio.Reader
	n, mark int64
}

func (c *countingReader) ReadByte() (byte, error) {
	if c.n-c.mark > maxTokenBytes {
		return 0, errTokenTooLarge
	}
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.n-c.mark > maxTokenBytes {
		return 0, errTokenTooLarge
	}
	if rem := maxTokenBytes + 1 - (c.n - c.mark); int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
