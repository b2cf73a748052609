package csvfeed

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"contactpoint/domain/record"
	"contactpoint/schemas"
)

var fixedNow = func() time.Time { return time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) }

type row struct {
	rec  *record.Record
	raw  []byte
	errs []record.FieldError
}

func mapping(t testing.TB) Mapping {
	t.Helper()
	m, err := LoadMapping("testdata/mapping.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func readAll(t testing.TB, r io.Reader, m Mapping) []row {
	t.Helper()
	rd := NewReader(r, m, "social-care", "leeds-lcs")
	var out []row
	for {
		rec, raw, fes, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("row %d: %v", len(out)+1, err)
		}
		out = append(out, row{rec, raw, fes})
	}
}

func extract(t *testing.T) []row {
	t.Helper()
	f, err := os.Open("testdata/extract.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return readAll(t, f, mapping(t))
}

func TestExtractRecordsPassSchema(t *testing.T) {
	v, err := schemas.NewValidator(fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	rows := extract(t)
	if len(rows) != 4 {
		t.Fatalf("%d rows", len(rows))
	}
	for i, r := range rows[:3] {
		if len(r.errs) > 0 {
			t.Fatalf("row %d: %v", i+1, r.errs)
		}
		raw, _ := json.Marshal(r.rec)
		if _, err := v.Decode(raw); err != nil {
			t.Errorf("row %d refused: %v\n%s", i+1, err, raw)
		}
	}
}

func TestExtractMapping(t *testing.T) {
	rows := extract(t)
	r := rows[0].rec
	if r.Source != (record.Source{Agency: "social-care", System: "leeds-lcs", RecordID: "LCS-772190", Version: "17"}) || r.Operation != record.OpUpsert {
		t.Errorf("source = %+v op %s", r.Source, r.Operation)
	}
	c := r.Child
	if c.Name != (record.Name{Given: "Livvy", Family: "Hughes"}) || c.BirthDate != "2015-03-14" || c.Gender != "female" || c.NHSNumber() != "943 476 5919" {
		t.Errorf("child = %+v", c)
	}
	if c.Address == nil || strings.Join(c.Address.Lines, "|") != "14 Elm Grove" || c.Address.Town != "Leeds" || c.Address.Postcode != "ls6 2ab" {
		t.Errorf("address = %+v", c.Address)
	}
	if len(c.Contacts) != 2 || c.Contacts[0].Relationship != "mother" || !c.Contacts[0].ParentalResponsibility ||
		c.Contacts[0].Phone != "07700 900123" || c.Contacts[1].Relationship != "father" || c.Contacts[1].Name.Given != "Mark" {
		t.Errorf("contacts = %+v", c.Contacts)
	}
	want := record.Involvement{Service: "Children's social care", Kind: "social-care", Organisation: "Leeds City Council",
		Practitioner:     &record.Practitioner{Name: "Tom Reid", Role: "Social worker", Phone: "0113 496 0300", Email: "tom.reid@example.gov.uk"},
		LeadProfessional: true, From: "2026-06-01"}
	if len(c.Involvements) != 1 || c.Involvements[0].Service != want.Service || *c.Involvements[0].Practitioner != *want.Practitioner ||
		c.Involvements[0].From != want.From || !c.Involvements[0].LeadProfessional || c.Involvements[0].Organisation != want.Organisation {
		t.Errorf("involvements = %+v", c.Involvements)
	}

	c2 := rows[1].rec.Child
	if c2.Gender != "male" || c2.Name.Middle != "Peter" || strings.Join(c2.Address.Lines, "|") != "1 Main Street, Flat 3|Armley" {
		t.Errorf("row 2 child = %+v", c2)
	}
	// The default relationship fills in a contact the row names; no
	// involvement is invented from defaults alone.
	if len(c2.Contacts) != 2 || c2.Contacts[0].Relationship != "parent" || c2.Contacts[1].Relationship != "foster-carer" || len(c2.Involvements) != 0 {
		t.Errorf("row 2 contacts/involvements = %+v / %+v", c2.Contacts, c2.Involvements)
	}

	w := rows[2].rec
	if w.Operation != record.OpWithdraw || w.Child != nil || w.Source.RecordID != "LCS-772192" {
		t.Errorf("row 3 = %+v", w)
	}
}

func TestRowErrors(t *testing.T) {
	r := extract(t)[3]
	if r.rec != nil {
		t.Errorf("record returned with errors: %+v", r.rec)
	}
	got := map[string]string{}
	for _, fe := range r.errs {
		got[fe.Field] = fe.Rule
		if strings.Contains(fe.Message, "31/02") || strings.Contains(fe.Message, "maybe") {
			t.Errorf("error message echoes the value: %q", fe.Message)
		}
	}
	want := map[string]string{"DOB": "date-format", "Sex": "gender", "Parent1 PR": "boolean"}
	for f, rule := range want {
		if got[f] != rule {
			t.Errorf("errors = %+v, want %s/%s", r.errs, f, rule)
		}
	}
	if !bytes.Contains(r.raw, []byte("LCS-772193")) {
		t.Errorf("raw lacks the row: %s", r.raw)
	}
}

func TestRawKeepsOnlyMappedColumns(t *testing.T) {
	for i, r := range extract(t) {
		if bytes.Contains(r.raw, []byte("SECRET")) || bytes.Contains(r.raw, []byte("Case Notes")) || bytes.Contains(r.raw, []byte("Risk")) {
			t.Errorf("row %d quarantine bytes carry unmapped columns:\n%s", i+1, r.raw)
		}
		js, _ := json.Marshal(r.rec)
		if bytes.Contains(js, []byte("SECRET")) {
			t.Errorf("row %d record carries unmapped columns", i+1)
		}
	}
	// The raw bytes are a one-row CSV that the same mapping reads back.
	first := extract(t)[0]
	again := readAll(t, bytes.NewReader(first.raw), mapping(t))
	if len(again) != 1 {
		t.Fatalf("raw re-read gave %d rows", len(again))
	}
	a, _ := json.Marshal(again[0].rec)
	b, _ := json.Marshal(first.rec)
	if !bytes.Equal(a, b) {
		t.Errorf("raw does not read back to the same record:\n%s\n%s", a, b)
	}
}

func TestMappingRefuses(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"field not in record", "record_id: ID\ncolumns:\n  child.diagnosis: Diagnosis\n", `"child.diagnosis", which is not a field`},
		{"notes not in record", "record_id: ID\ncolumns:\n  child.notes: Notes\n", "not a field of the feed record"},
		{"third contact", "record_id: ID\ncolumns:\n  child.contacts.2.phone: P\n", "not a field"},
		{"default not in record", "record_id: ID\ndefaults:\n  child.ethnicity: x\n", "default for \"child.ethnicity\""},
		{"no record id", "columns:\n  child.name.family: Surname\n", "record_id"},
		{"empty header", "record_id: ID\ncolumns:\n  child.name.family: ''\n", "empty header"},
		{"bad gender target", "record_id: ID\ngender:\n  M: man\n", `gender "M" maps to "man"`},
		{"bad relationship target", "record_id: ID\nrelationship:\n  Mum: mum\n", "relationship"},
		{"bad operation target", "record_id: ID\noperation:\n  D: delete\n", "operation"},
		{"bad date format", "record_id: ID\ndate_format: mm/yyyy\n", "date_format"},
		{"unknown option", "record_id: ID\ncolums:\n  child.name.family: S\n", "colums"},
		{"header mapped twice", "record_id: ID\ncolumns:\n  child.name.family: N\n  child.name.given: N\n", "mapped to both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMapping([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestMappingFromJSON(t *testing.T) {
	m, err := ParseMapping([]byte(`{"record_id":"ID","date_format":"2006-01-02","columns":{"child.name.family":"Surname","child.birth_date":"DOB"}}`))
	if err != nil {
		t.Fatal(err)
	}
	rows := readAll(t, strings.NewReader("ID,Surname,DOB\nX1,Lee,2016-01-02\n"), m)
	if len(rows) != 1 || rows[0].rec.Child.Name.Family != "Lee" || rows[0].rec.Child.BirthDate != "2016-01-02" {
		t.Errorf("rows = %+v", rows)
	}
}

func TestFileProblems(t *testing.T) {
	m := Mapping{RecordID: "ID", Columns: map[string]string{"child.name.family": "Surname", "child.birth_date": "DOB"}}
	tests := []struct {
		name     string
		csv      string
		mapping  Mapping
		rows     int // read without a fatal error
		rowErr   string
		fatalHas string
	}{
		{name: "missing header", csv: "ID,Name\n1,Lee\n", mapping: m, fatalHas: "DOB, Surname"},
		{name: "empty file", csv: "", mapping: m, fatalHas: "no header"},
		{name: "duplicate header", csv: "ID,Surname,Surname,DOB\n", mapping: m, fatalHas: "twice"},
		{name: "invalid mapping", csv: "ID\n", mapping: Mapping{Columns: map[string]string{"x": "y"}}, fatalHas: "not a field"},
		{name: "short row is a row error", csv: "ID,Surname,DOB\n1,Lee\n2,Lee,2016-01-01\n", mapping: m, rows: 2, rowErr: "field-count"},
		{name: "broken quoting is fatal", csv: "ID,Surname,DOB\n1,\"Lee,2016-01-01\n", mapping: m, fatalHas: "csv feed"},
		{name: "byte order mark", csv: "\ufeffID,Surname,DOB\n1,Lee,2016-01-01\n", mapping: m, rows: 1},
		{name: "semicolons", csv: "ID;Surname;DOB\n1;Lee;2016-01-01\n", mapping: Mapping{RecordID: "ID", Comma: ";", Columns: m.Columns}, rows: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd := NewReader(strings.NewReader(tt.csv), tt.mapping, "social-care", "lcs")
			n := 0
			var rowErrs []record.FieldError
			var err error
			for {
				var fes []record.FieldError
				_, _, fes, err = rd.Next()
				if err != nil {
					break
				}
				n++
				rowErrs = append(rowErrs, fes...)
			}
			if tt.fatalHas != "" {
				if err == nil || errors.Is(err, io.EOF) || !strings.Contains(err.Error(), tt.fatalHas) {
					t.Errorf("err = %v, want one mentioning %q", err, tt.fatalHas)
				}
				if _, _, _, again := rd.Next(); again == nil || again.Error() != err.Error() {
					t.Errorf("error not sticky: %v", again)
				}
				return
			}
			if !errors.Is(err, io.EOF) || n != tt.rows {
				t.Errorf("read %d rows then %v; want %d then EOF", n, err, tt.rows)
			}
			if tt.rowErr != "" && (len(rowErrs) != 1 || rowErrs[0].Rule != tt.rowErr) {
				t.Errorf("row errors = %+v, want %s", rowErrs, tt.rowErr)
			}
		})
	}
}

func TestFieldsMatchSchema(t *testing.T) {
	// Every mappable path must end in a property the schema names, so the
	// mapping vocabulary cannot drift from what the hub may hold.
	schema := schemaText(t)
	for _, p := range Fields() {
		parts := strings.Split(p, ".")
		last := parts[len(parts)-1]
		if len(parts) > 1 && parts[len(parts)-2] == "lines" {
			last = "lines"
		}
		if !strings.Contains(schema, `"`+last+`"`) {
			t.Errorf("path %q names no schema property", p)
		}
	}
}

func schemaText(t *testing.T) string {
	b, err := schemas.FS.ReadFile(schemas.FeedRecordV1)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func FuzzReader(f *testing.F) {
	if b, err := os.ReadFile("testdata/extract.csv"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("Case ID,Surname\n1,\"a\"\"b\"\n"))
	f.Add([]byte("Case ID\n\n\n"))
	m := mapping(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		rd := NewReader(bytes.NewReader(b), m, "social-care", "lcs")
		for i := 0; i < 1000; i++ {
			rec, raw, fes, err := rd.Next()
			if err != nil {
				return
			}
			if rec != nil && len(fes) > 0 {
				t.Fatal("record returned with field errors")
			}
			if rec == nil && len(fes) == 0 {
				t.Fatal("neither record nor field errors")
			}
			if len(raw) == 0 {
				t.Fatal("no raw bytes for the row")
			}
			if _, err := json.Marshal(rec); err != nil {
				t.Fatal(err)
			}
		}
	})
}
