package ctf

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"contactpoint/domain/record"
	"contactpoint/schemas"
)

var fixedNow = func() time.Time { return time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) }

func validator(t testing.TB) *schemas.Validator {
	t.Helper()
	v, err := schemas.NewValidator(fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

type pupil struct {
	rec *record.Record
	raw []byte
}

func readAll(t *testing.T, r io.Reader) []pupil {
	t.Helper()
	rd := NewReader(r, "leeds-sims")
	var out []pupil
	for {
		rec, raw, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("pupil %d: %v", len(out)+1, err)
		}
		out = append(out, pupil{rec, raw})
	}
}

func sample(t *testing.T) []pupil {
	f, err := os.Open("testdata/sample.xml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return readAll(t, f)
}

func TestSampleRecordsPassSchema(t *testing.T) {
	v := validator(t)
	ps := sample(t)
	if len(ps) != 4 {
		t.Fatalf("%d pupils, want 4", len(ps))
	}
	for i, p := range ps {
		raw, _ := json.Marshal(p.rec)
		if _, err := v.Decode(raw); err != nil {
			t.Errorf("pupil %d refused: %v\n%s", i+1, err, raw)
		}
	}
}

func TestSampleMapping(t *testing.T) {
	ps := sample(t)
	r := ps[0].rec
	wantTime := time.Date(2026, 7, 14, 9, 15, 0, 0, time.UTC) // 10:15 BST
	if r.Source.Agency != "education" || r.Source.System != "leeds-sims" || r.Source.RecordID != "H383200114001" ||
		r.Source.Version != "20260714101500" || r.Source.UpdatedAt == nil || !r.Source.UpdatedAt.Equal(wantTime) || r.Operation != record.OpUpsert {
		t.Errorf("source = %+v op %s", r.Source, r.Operation)
	}
	c := r.Child
	if c.UPN() != "H383200114001" {
		t.Errorf("upn = %q", c.UPN())
	}
	if c.Name != (record.Name{Family: "Hughes", Given: "Olivia", Middle: "Grace", Preferred: "Livvy"}) {
		t.Errorf("name = %+v", c.Name)
	}
	if len(c.PreviousNames) != 1 || c.PreviousNames[0].Family != "Smith" {
		t.Errorf("previous names = %+v", c.PreviousNames)
	}
	if c.BirthDate != "2015-03-14" || c.Gender != "female" {
		t.Errorf("dob/gender = %s/%s", c.BirthDate, c.Gender)
	}
	if c.Address == nil || strings.Join(c.Address.Lines, "|") != "Flat 2|14 Elm Grove|Headingley" || c.Address.Town != "Leeds" || c.Address.Postcode != "ls6 2ab" {
		t.Errorf("address = %+v", c.Address)
	}
	if c.School == nil || *c.School != (record.School{Name: "Elm Grove Primary School", URN: "107890"}) {
		t.Errorf("school = %+v", c.School)
	}
	if len(c.Contacts) != 2 {
		t.Fatalf("contacts = %+v (the social worker must be left out)", c.Contacts)
	}
	mum, dad := c.Contacts[0], c.Contacts[1]
	if mum.Relationship != "mother" || !mum.ParentalResponsibility || mum.Name.Given != "Sarah" || mum.Phone != "07700 900123" ||
		mum.Email != "sarah.hughes@example.com" || mum.Address == nil || mum.Address.Postcode != "ls6 2ab" {
		t.Errorf("first contact (Order 1) = %+v", mum)
	}
	if dad.Relationship != "father" || dad.Phone != "07700 900456" || dad.Address == nil || dad.Address.Postcode != "LS12 3AB" ||
		strings.Join(dad.Address.Lines, "|") != "3 Oak Road|Armley|Leeds" {
		t.Errorf("second contact = %+v / %+v", dad, dad.Address)
	}

	if got := ps[1].rec.Child; got.Name.Family != "O'Brien" || got.Address.Lines[0] != "1 Main Street" || got.Gender != "male" {
		t.Errorf("pupil 2 = %+v", got)
	}
	// No UPN: a stable id from the school and a digest, never the name itself.
	p3 := ps[2].rec
	if !strings.HasPrefix(p3.Source.RecordID, "3832001-") || strings.Contains(p3.Source.RecordID, "Nowak") || p3.Child.Identifiers != nil {
		t.Errorf("pupil 3 id = %q ids %+v", p3.Source.RecordID, p3.Child.Identifiers)
	}
	again := sample(t)[2].rec.Source.RecordID
	if again != p3.Source.RecordID {
		t.Errorf("fallback id not stable: %s vs %s", again, p3.Source.RecordID)
	}
	p4 := ps[3].rec.Child
	if p4.Gender != "female" || p4.Name.Middle != "Noor" || p4.Name.Preferred != "Aisha Ahmed" {
		t.Errorf("pupil 4 (Sex, names under Pupil) = %+v", p4)
	}
}

func TestSkippedSectionsNeverAppear(t *testing.T) {
	for i, p := range sample(t) {
		js, _ := json.Marshal(p.rec)
		for _, s := range []string{"SECRET", "WBRI", "WPOL", "Ethnicity", "Attainment", "Assessment", "Attendance",
			"FSM", "SEN", "Disabilit", "MedicalFlag", "72012345", "428000", "1234567890", "KS1", "KS2", "West Yorkshire"} {
			if bytes.Contains(js, []byte(s)) {
				t.Errorf("pupil %d record carries %q", i+1, s)
			}
			if bytes.Contains(p.raw, []byte(s)) {
				t.Errorf("pupil %d quarantine bytes carry %q:\n%s", i+1, s, p.raw)
			}
		}
		if bytes.Contains(js, []byte("Reid")) {
			t.Errorf("pupil %d record lists a professional as a parent or carer", i+1)
		}
	}
}

func TestRawIsThePupilsAllowedXML(t *testing.T) {
	p := sample(t)[0]
	var v struct {
		XMLName xml.Name `xml:"Pupil"`
		UPN     string   `xml:"UPN"`
		Surname string   `xml:"Surname"`
	}
	if err := xml.Unmarshal(p.raw, &v); err != nil {
		t.Fatalf("raw is not XML: %v\n%s", err, p.raw)
	}
	if v.UPN != "H383200114001" || v.Surname != "Hughes" {
		t.Errorf("raw = %s", p.raw)
	}
	// The raw bytes read back as a one-pupil file give the same record.
	doc := `<CTfile><CTFpupilData>` + string(p.raw) + `</CTFpupilData></CTfile>`
	again := readAll(t, strings.NewReader(doc))
	if len(again) != 1 || again[0].rec.Child.Name != p.rec.Child.Name || len(again[0].rec.Child.Contacts) != 2 {
		t.Errorf("round trip = %+v", again)
	}
}

func TestHeader(t *testing.T) {
	f, _ := os.Open("testdata/sample.xml")
	defer f.Close()
	rd := NewReader(f, "s")
	if _, _, err := rd.Next(); err != nil {
		t.Fatal(err)
	}
	h := rd.Header()
	if h.Version != "23.0" || h.LEA != "383" || h.Estab != "2001" || h.URN != "107890" || h.SchoolName != "Elm Grove Primary School" {
		t.Errorf("header = %+v", h)
	}
}

func TestBrokenStreams(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		pupils int // read before the error
	}{
		{"empty", "", 0},
		{"not XML", "hello", 0},
		{"wrong root", "<Other><Pupil><Surname>A</Surname></Pupil></Other>", 0},
		{"truncated inside pupil", "<CTfile><CTFpupilData><Pupil><Surname>A</Surname>", 0},
		{"truncated inside skipped section", "<CTfile><CTFpupilData><Pupil><Attainment><X>", 0},
		{"mismatched tags", "<CTfile><CTFpupilData><Pupil><Surname>A</Forename></Pupil>", 0},
		{"broken after one pupil", "<CTfile><CTFpupilData><Pupil><Surname>A</Surname></Pupil><Pupil><<", 1},
		{"unknown charset", `<?xml version="1.0" encoding="EBCDIC"?><CTfile/>`, 0},
		{"huge text", "<CTfile><CTFpupilData><Pupil><Surname>" + strings.Repeat("a", 2<<20) + "</Surname></Pupil></CTFpupilData></CTfile>", 0},
		{"huge skipped text", "<CTfile><CTFpupilData><Pupil><Attainment>" + strings.Repeat("a", 2<<20) + "</Attainment></Pupil></CTFpupilData></CTfile>", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd := NewReader(strings.NewReader(tt.in), "s")
			n := 0
			var err error
			for {
				_, _, err = rd.Next()
				if err != nil {
					break
				}
				n++
			}
			if errors.Is(err, io.EOF) {
				t.Fatalf("got EOF after %d pupils, want an error", n)
			}
			if n != tt.pupils {
				t.Errorf("read %d pupils before %v, want %d", n, err, tt.pupils)
			}
			if _, _, again := rd.Next(); again == nil || again.Error() != err.Error() {
				t.Errorf("error not sticky: %v then %v", err, again)
			}
		})
	}
}

func TestLatin1File(t *testing.T) {
	doc := []byte("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><CTfile><CTFpupilData><Pupil><Surname>Nu\xf1ez</Surname><Forename>Zo\xeb</Forename><DOB>2016-01-01</DOB></Pupil></CTFpupilData></CTfile>")
	ps := readAll(t, bytes.NewReader(doc))
	if len(ps) != 1 || ps[0].rec.Child.Name.Family != "Nuñez" || ps[0].rec.Child.Name.Given != "Zoë" {
		t.Errorf("latin-1 pupil = %+v", ps)
	}
}

func TestEmptyFile(t *testing.T) {
	if ps := readAll(t, strings.NewReader(`<?xml version="1.0"?><CTfile><Header/><CTFpupilData/></CTfile>`)); len(ps) != 0 {
		t.Errorf("%d pupils", len(ps))
	}
}

func TestAddressLines(t *testing.T) {
	tests := []struct {
		name      string
		xml       string
		wantLines string
		wantTown  string
		wantNil   bool
	}{
		{"no postcode: the lines are kept", `<Address><AddressLines><AddressLine1>Cottingley Springs</AddressLine1></AddressLines></Address>`, "Cottingley Springs", "", false},
		{"neither postcode nor lines", `<Address><AddressLines></AddressLines></Address>`, "", "", true},
		{"five lines", `<Address><AddressLines><AddressLine1>a</AddressLine1><AddressLine2>b</AddressLine2><AddressLine3>c</AddressLine3><AddressLine4>d</AddressLine4><AddressLine5>Leeds</AddressLine5></AddressLines><PostCode>LS1 1AA</PostCode></Address>`, "a|b|c|d", "Leeds", false},
		{"post town", `<Address><BS7666Address><PAON>2</PAON><Street>High St</Street><PostTown>York</PostTown></BS7666Address><PostCode>YO1 7HH</PostCode></Address>`, "2 High St", "York", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := `<CTfile><CTFpupilData><Pupil><Surname>A</Surname><DOB>2016-01-01</DOB>` + tt.xml + `</Pupil></CTFpupilData></CTfile>`
			a := readAll(t, strings.NewReader(doc))[0].rec.Child.Address
			if tt.wantNil {
				if a != nil {
					t.Errorf("address = %+v, want none", a)
				}
				return
			}
			if a == nil || strings.Join(a.Lines, "|") != tt.wantLines || a.Town != tt.wantTown {
				t.Errorf("address = %+v", a)
			}
		})
	}
}

// pupilStream generates a CTF of n pupils on the fly, each with bulky
// sections that must be skipped, so that no test file need hold it.
type pupilStream struct {
	n, i int
	buf  bytes.Buffer
	done bool
}

func newPupilStream(n int) *pupilStream {
	s := &pupilStream{n: n}
	s.buf.WriteString(`<?xml version="1.0" encoding="UTF-8"?><CTfile><Header><CTFversion>23.0</CTFversion><DateTime>2026-07-14T10:15:00</DateTime>` +
		`<SourceSchool><LEA>383</LEA><Estab>2001</Estab><SchoolName>Elm Grove Primary School</SchoolName></SourceSchool></Header><CTFpupilData>`)
	return s
}

var bulk = strings.Repeat(`<YearData><SessionsPossible>380</SessionsPossible><Result>EXS</Result></YearData>`, 10)

func (s *pupilStream) Read(p []byte) (int, error) {
	for s.buf.Len() < len(p) && !s.done {
		if s.i == s.n {
			s.buf.WriteString(`</CTFpupilData></CTfile>`)
			s.done = true
			break
		}
		s.i++
		fmt.Fprintf(&s.buf, `<Pupil><Surname>Pupil%d</Surname><Forename>Test</Forename><DOB>2015-03-14</DOB><Gender>F</Gender>`+
			`<Attainment>%s</Attainment><Attendance>%s</Attendance><Address><AddressLines><AddressLine1>%d High Street</AddressLine1></AddressLines><PostCode>LS1 1AA</PostCode></Address>`+
			`<Contacts><Contact><Order>1</Order><Surname>Parent%d</Surname><Forename>Pat</Forename><Relationship>PAM</Relationship><Responsibility>true</Responsibility></Contact></Contacts></Pupil>`,
			s.i, bulk, bulk, s.i, s.i)
	}
	if s.buf.Len() == 0 {
		return 0, io.EOF
	}
	return s.buf.Read(p)
}

func TestLargeStreamMemoryStaysBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 50,000 pupils")
	}
	n := 50_000
	if raceEnabled {
		n = 5_000
	}
	runtime.GC()
	rd := NewReader(newPupilStream(n), "leeds-sims")
	var peak uint64
	var ms runtime.MemStats
	count := 0
	for {
		rec, _, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Child.Name.Family == "" {
			t.Fatal("empty record")
		}
		count++
		if count%500 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
	if count != n {
		t.Fatalf("%d pupils, want %d", count, n)
	}
	t.Logf("%d pupils, peak heap in use %.1f MiB", count, float64(peak)/(1<<20))
	if peak > 50<<20 {
		t.Errorf("peak heap in use %d bytes exceeds 50 MiB", peak)
	}
}

func BenchmarkReader(b *testing.B) {
	var ms runtime.MemStats
	var peak uint64
	pupils := 0
	start := time.Now()
	for b.Loop() {
		rd := NewReader(newPupilStream(10_000), "s")
		for {
			_, _, err := rd.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					b.Fatal(err)
				}
				break
			}
			pupils++
			if pupils%2000 == 0 {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
			}
		}
	}
	b.ReportMetric(float64(pupils)/time.Since(start).Seconds(), "pupils/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}

func FuzzReader(f *testing.F) {
	if b, err := os.ReadFile("testdata/sample.xml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`<CTfile><CTFpupilData><Pupil><Surname>A</Surname><Contacts><Contact><Order>x</Order></Contact></Contacts></Pupil></CTFpupilData></CTfile>`))
	f.Add([]byte(`<CTfile><Header><DateTime>bad</DateTime></Header><Pupil/></CTfile>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rd := NewReader(bytes.NewReader(b), "s")
		for i := 0; i < 1000; i++ {
			rec, raw, err := rd.Next()
			if err != nil {
				return
			}
			if rec == nil || rec.Child == nil || len(raw) == 0 {
				t.Fatalf("pupil without record or bytes: %+v %q", rec, raw)
			}
			if _, err := json.Marshal(rec); err != nil {
				t.Fatal(err)
			}
			if err := xml.Unmarshal(raw, new(struct{})); err != nil {
				t.Fatalf("quarantine bytes are not XML: %v\n%q", err, raw)
			}
		}
	})
}
