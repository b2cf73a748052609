package synth

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"contactpoint/domain/ident"
	"contactpoint/domain/record"
	"contactpoint/schemas"
)

var testToday = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

// big is shared by the tests that need enough records for rates to settle.
var big = sync.OnceValue(func() *Population {
	return Generate(Config{Children: 80000, Seed: 42, Today: testToday})
})

func TestRecordsAreSchemaValid(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"default area", Config{Children: 3000, Seed: 1, Today: testToday}},
		{"other area", Config{Children: 3000, Seed: 2, Today: testToday, Area: "Kingston upon Hull"}},
		{"leap day", Config{Children: 3000, Seed: 3, Today: time.Date(2028, 2, 29, 15, 0, 0, 0, time.UTC)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Generate(tt.cfg)
			v, err := schemas.NewValidator(func() time.Time { return tt.cfg.Today })
			if err != nil {
				t.Fatal(err)
			}
			agencies := map[string]int{}
			for _, f := range p.Feeds() {
				n := 0
				for rec := range f.Records() {
					raw, err := json.Marshal(rec)
					if err != nil {
						t.Fatal(err)
					}
					if _, err := v.Decode(raw); err != nil {
						t.Fatalf("%s record %d: %v\n%s", f.System, n, err, raw)
					}
					if rec.Source.Agency != f.Agency || rec.Source.System != f.System {
						t.Fatalf("record source %v in feed %s/%s", rec.Source, f.Agency, f.System)
					}
					n++
				}
				if n != f.Len() {
					t.Fatalf("%s yielded %d records, Len says %d", f.System, n, f.Len())
				}
				agencies[f.Agency] += n
			}
			for _, a := range []string{"health", "education", "social-care"} {
				if agencies[a] == 0 {
					t.Errorf("no %s records", a)
				}
			}
		})
	}
}

func digest(t *testing.T, p *Population) [32]byte {
	t.Helper()
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, f := range p.Feeds() {
		for rec := range f.Records() {
			if err := enc.Encode(rec); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := p.WriteTruthCSV(h); err != nil {
		t.Fatal(err)
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

func TestDeterministic(t *testing.T) {
	cfg := Config{Children: 2000, Seed: 7, Today: testToday}
	a, b := digest(t, Generate(cfg)), digest(t, Generate(cfg))
	if a != b {
		t.Fatal("same config gave different output")
	}
	cfg.Seed = 8
	if digest(t, Generate(cfg)) == a {
		t.Fatal("different seeds gave the same output")
	}
	// Random access must agree with iteration, so consumers may render in parallel.
	p := Generate(Config{Children: 500, Seed: 7, Today: testToday})
	f := p.Feeds()[0]
	var seq []record.Record
	for rec := range f.Records() {
		seq = append(seq, rec)
	}
	for i := len(seq) - 1; i >= 0; i-- {
		x, _ := json.Marshal(f.Record(i))
		y, _ := json.Marshal(seq[i])
		if !bytes.Equal(x, y) {
			t.Fatalf("record %d differs between Record and Records", i)
		}
	}
}

func TestParallelRender(t *testing.T) {
	p := Generate(Config{Children: 300, Seed: 11, Today: testToday})
	f := p.Feeds()[0]
	want := make([][]byte, f.Len())
	for i := range want {
		want[i], _ = json.Marshal(f.Record(i))
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < f.Len(); i += 4 {
				if got, _ := json.Marshal(f.Record(i)); !bytes.Equal(got, want[i]) {
					t.Errorf("record %d differs when rendered in parallel", i)
				}
			}
		})
	}
	wg.Wait()
}

func TestTruthCoversEveryRecordOnce(t *testing.T) {
	p := Generate(Config{Children: 5000, Seed: 3, Today: testToday})
	truth := p.Truth()
	seen := map[record.SourceKey]bool{}
	i := 0
	for _, f := range p.Feeds() {
		for j := 0; j < f.Len(); j++ {
			rec := f.Record(j)
			tr := truth[i]
			i++
			key := rec.Source.Key()
			if seen[key] {
				t.Fatalf("record %v appears twice", key)
			}
			seen[key] = true
			if (record.SourceKey{Agency: tr.Agency, System: tr.System, RecordID: tr.RecordID}) != key || f.Truth(j) != tr {
				t.Fatalf("truth row %+v does not match record %v", tr, key)
			}
			if tr.Person < 0 || tr.Person >= p.Len() {
				t.Fatalf("person %d out of range", tr.Person)
			}
		}
	}
	if i != len(truth) {
		t.Fatalf("%d truth rows for %d records", len(truth), i)
	}
	var buf bytes.Buffer
	if err := p.WriteTruthCSV(&buf); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows[0], ",") != "agency,system,record_id,person" || len(rows) != len(truth)+1 {
		t.Fatalf("csv header %v, %d rows for %d records", rows[0], len(rows)-1, len(truth))
	}
}

func TestCoverage(t *testing.T) {
	p := big()
	if p.Len() != 80000 {
		t.Fatalf("%d children", p.Len())
	}
	known := map[string]map[int]bool{}
	for _, f := range p.Feeds() {
		if known[f.Agency] == nil {
			known[f.Agency] = map[int]bool{}
		}
		for i := 0; i < f.Len(); i++ {
			known[f.Agency][f.Truth(i).Person] = true
		}
	}
	started := 0
	for i := range p.people {
		if p.people[i].entry != 0 {
			started++
		}
	}
	tests := []struct {
		agency   string
		of       int
		min, max float64
	}{
		{"health", p.Len(), 0.97, 0.99},
		{"education", started, 0.94, 0.96},
		{"social-care", p.Len(), 0.025, 0.06},
	}
	for _, tt := range tests {
		got := float64(len(known[tt.agency])) / float64(tt.of)
		if got < tt.min || got > tt.max {
			t.Errorf("%s covers %.3f of its children, want %.3f–%.3f", tt.agency, got, tt.min, tt.max)
		}
	}
}

// TestErrorRates checks that each kind of error occurs at its rate among the
// records eligible for it, within five standard deviations.
func TestErrorRates(t *testing.T) {
	p := big()
	count := map[Errors]int{}
	eligible := map[Errors]int{}
	for i := range p.recs {
		rec := &p.recs[i]
		c := &p.people[rec.person]
		e := Errors(rec.flags)
		for _, k := range ErrorKinds() {
			ok := true
			switch k {
			case ErrNickname:
				ok = NicknameEligible(names(c.male).list[c.given])
			case ErrDOBSwap:
				ok = SwapEligible(fromDays(c.dob))
			case ErrMoved:
				ok = e&ErrNoAddress == 0
			}
			if ok {
				eligible[k]++
				if e&k != 0 {
					count[k]++
				}
			}
		}
	}
	for _, k := range ErrorKinds() {
		n, rate := float64(eligible[k]), Rate(k)
		want := n * rate
		sd := math.Sqrt(n * rate * (1 - rate))
		if got := float64(count[k]); math.Abs(got-want) > 5*sd+2 {
			t.Errorf("%s: %v of %v eligible records, want about %.0f", k, got, n, want)
		}
	}
}

// TestErrorsShowInRecords checks that the flags say what the records hold:
// an error is visible against the truth, and no error means a faithful copy.
func TestErrorsShowInRecords(t *testing.T) {
	p := big()
	for _, f := range p.Feeds() {
		for i := 0; i < f.Len() && i < 8000; i++ {
			rec, e, tr := f.Record(i), f.Errors(i), f.Truth(i)
			truth := p.Person(tr.Person)
			c := rec.Child
			nameWrong := c.Name.Given != truth.Name.Given || !strings.EqualFold(c.Name.Family, truth.Name.Family)
			if nameWrong != (e&(ErrTypo|ErrNickname|ErrSurname) != 0) {
				t.Fatalf("%s %s: name %v vs truth %v, errors %v", f.System, tr.RecordID, c.Name, truth.Name, e)
			}
			if (c.BirthDate != truth.BirthDate) != (e&(ErrDOBSwap|ErrDOBDigit) != 0) {
				t.Fatalf("%s %s: birth date %s vs %s, errors %v", f.System, tr.RecordID, c.BirthDate, truth.BirthDate, e)
			}
			if (c.Gender == "") != (e&ErrNoGender != 0) {
				t.Fatalf("%s %s: gender %q, errors %v", f.System, tr.RecordID, c.Gender, e)
			}
			if (c.Address == nil) != (e&ErrNoAddress != 0) {
				t.Fatalf("%s %s: address %v, errors %v", f.System, tr.RecordID, c.Address, e)
			}
			if c.Address != nil {
				tl := truth.Address.Lines
				same := schemas.NormalisePostcode(c.Address.Postcode) == truth.Address.Postcode &&
					len(c.Address.Lines) >= len(tl) && slices.Equal(c.Address.Lines[:len(tl)], tl)
				if same == (e&ErrMoved != 0) {
					t.Fatalf("%s %s: address %v vs %v, errors %v", f.System, tr.RecordID, c.Address, truth.Address, e)
				}
			}
		}
	}
}

func TestTwins(t *testing.T) {
	p := big()
	pairs, similar := 0, 0
	for i := 1; i < p.Len(); i++ {
		a, b := &p.people[i-1], &p.people[i]
		if !a.twin || !b.twin || a.home != b.home || a.dob != b.dob {
			continue
		}
		pairs++
		ga, gb := p.Person(i-1).Name, p.Person(i).Name
		if ga.Given == gb.Given {
			t.Fatalf("twins %d and %d are both called %s", i-1, i, ga.Given)
		}
		if ga.Family != gb.Family || p.Person(i-1).Address.Postcode != p.Person(i).Address.Postcode {
			t.Fatalf("twins %d and %d differ in surname or address", i-1, i)
		}
		if strings.HasPrefix(gb.Given, ga.Given[:2]) {
			similar++
		}
	}
	// 1.5% of about 78,000 maternities gives about 1,170 pairs.
	if pairs < 1000 || pairs > 1350 {
		t.Errorf("%d twin pairs in 80,000 children", pairs)
	}
	if similar == 0 {
		t.Error("no twins with similar names")
	}
}

func TestIdentifiersValid(t *testing.T) {
	p := big()
	nhs, upn := map[string]bool{}, map[string]bool{}
	for i := 0; i < p.Len(); i++ {
		x := p.Person(i)
		if err := ident.CheckNHS(x.NHSNumber); err != nil || nhs[x.NHSNumber] {
			t.Fatalf("child %d: NHS number %s: %v (repeat %v)", i, x.NHSNumber, err, nhs[x.NHSNumber])
		}
		nhs[x.NHSNumber] = true
		if x.UPN == "" {
			continue
		}
		if err := ident.CheckUPN(x.UPN); err != nil || upn[x.UPN] || x.UPN[1:4] != "383" {
			t.Fatalf("child %d: UPN %s: %v (repeat %v)", i, x.UPN, err, upn[x.UPN])
		}
		upn[x.UPN] = true
	}
	if len(upn) < p.Len()/2 {
		t.Errorf("only %d of %d children have a UPN", len(upn), p.Len())
	}
}

func TestSiblingsShareHousehold(t *testing.T) {
	p := Generate(Config{Children: 3000, Seed: 9, Today: testToday})
	byHome := map[int][]Person{}
	for i := 0; i < p.Len(); i++ {
		x := p.Person(i)
		byHome[x.Household] = append(byHome[x.Household], x)
	}
	multi := 0
	for _, kids := range byHome {
		if len(kids) > 1 {
			multi++
		}
		for _, k := range kids[1:] {
			if k.Name.Family != kids[0].Name.Family || k.Address.Postcode != kids[0].Address.Postcode {
				t.Fatalf("siblings %v and %v differ", k, kids[0])
			}
		}
	}
	if multi == 0 {
		t.Fatal("no household has more than one child")
	}
}

func TestTypo(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, s := range []string{"Oliver", "O'Brien", "Li", "Smith-Jones", "Ava"} {
		for range 50 {
			if got := typo(r, s); got == s || got[0] != s[0] {
				t.Fatalf("typo(%q) = %q", s, got)
			}
		}
	}
}

func BenchmarkGenerate80k(b *testing.B) {
	for b.Loop() {
		Generate(Config{Children: 80000, Seed: 1, Today: testToday})
	}
}

func BenchmarkRenderAndMarshal(b *testing.B) {
	p := Generate(Config{Children: 10000, Seed: 1, Today: testToday})
	feeds := p.Feeds()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		f := feeds[n%len(feeds)]
		if _, err := json.Marshal(f.Record(n % f.Len())); err != nil {
			b.Fatal(err)
		}
		n++
	}
}
