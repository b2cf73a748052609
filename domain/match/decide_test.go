package match

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"contactpoint/domain/record"
)

const (
	nhsA = "9434765919"
	nhsB = "4010232137"
)

func withNHS(n string) func(*record.Child) {
	return func(c *record.Child) { c.Identifiers = &record.Identifiers{NHSNumber: n} }
}

func TestDecide(t *testing.T) {
	w, th := DefaultWeights(), DefaultThresholds()
	tests := []struct {
		name    string
		a, b    *record.Child
		outcome Outcome
		rule    string
	}{
		{"identical without identifiers", olivia(), olivia(), Link, RuleProbability},
		{"same NHS number despite a different name", with(olivia(), withNHS(nhsA)),
			with(olivia(), func(c *record.Child) { withNHS("943-476-5919")(c); c.Name.Family = "Patel" }), Link, RuleNHS},
		{"same UPN", with(olivia(), func(c *record.Child) { c.Identifiers = &record.Identifiers{UPN: "T821200714001"} }),
			with(bare("Livvy", "Hughes", "2015-03-14"), func(c *record.Child) { c.Identifiers = &record.Identifiers{UPN: "T821200714001"} }), Link, RuleUPN},
		{"same NHS number but nothing else of the child", with(olivia(), withNHS(nhsA)),
			with(bare("Harry", "Hughes", "2009-11-30"), withNHS(nhsA)), Review, RuleNHS},
		{"conflicting NHS numbers on an identical record", with(olivia(), withNHS(nhsA)), with(olivia(), withNHS(nhsB)), New, RuleConflict},
		{"conflicting UPNs", with(olivia(), func(c *record.Child) { c.Identifiers = &record.Identifiers{UPN: "T821200714001"} }),
			with(olivia(), func(c *record.Child) { c.Identifiers = &record.Identifiers{UPN: upnWithLast("82120071400", '2')} }), New, RuleConflict},
		{"same NHS, conflicting UPN", with(olivia(), func(c *record.Child) { c.Identifiers = &record.Identifiers{NHSNumber: nhsA, UPN: "T821200714001"} }),
			with(olivia(), func(c *record.Child) {
				c.Identifiers = &record.Identifiers{NHSNumber: nhsA, UPN: upnWithLast("82120071400", '2')}
			}), Review, RuleConflict},
		{"nickname with the same NHS number", with(olivia(), withNHS(nhsA)), with(olivia(), func(c *record.Child) {
			c.Name = record.Name{Given: "Livvy", Family: "Hughes"}
			withNHS(nhsA)(c)
		}), Link, RuleNHS},
		{"day and month swapped", with(olivia(), func(c *record.Child) { c.BirthDate = "2015-03-04" }),
			with(olivia(), func(c *record.Child) { c.BirthDate = "2015-04-03" }), Link, RuleProbability},
		{"one digit off", olivia(), with(olivia(), func(c *record.Child) { c.BirthDate = "2015-03-15" }), Link, RuleProbability},
		{"double-barrelled", olivia(), with(olivia(), func(c *record.Child) { c.Name.Family = "Hughes-Patel" }), Link, RuleProbability},
		{"diacritics and apostrophes", with(olivia(), func(c *record.Child) { c.Name = record.Name{Given: "Zoë", Family: "O'Brien"} }),
			with(olivia(), func(c *record.Child) { c.Name = record.Name{Given: "ZOE", Family: "OBRIEN"} }), Link, RuleProbability},
		{"postcode and phone in other formats", olivia(), with(olivia(), func(c *record.Child) {
			c.Address.Postcode = "ls62ab"
			c.Contacts[0].Phone = "+44 7700 900123"
		}), Link, RuleProbability},
		{"moved house, nothing else shared", olivia(), with(olivia(), func(c *record.Child) {
			c.Address = &record.Address{Lines: []string{"3 Church Lane"}, Postcode: "M1 1AE"}
			c.Contacts = nil
		}), Review, RuleProbability},
		{"moved house, same mother's phone", olivia(), with(olivia(), func(c *record.Child) {
			c.Address = &record.Address{Lines: []string{"3 Church Lane"}, Postcode: "M1 1AE"}
		}), Link, RuleProbability},
		{"twin with a different name", olivia(), with(olivia(), func(c *record.Child) { c.Name.Given = "Harry"; c.Gender = "male" }), New, RuleTwin},
		{"twin of the same sex", olivia(), with(olivia(), func(c *record.Child) { c.Name = record.Name{Given: "Amelia", Family: "Hughes"} }), New, RuleTwin},
		{"twins whose names sound alike", with(olivia(), func(c *record.Child) { c.Name.Given = "Jack"; c.Gender = "male" }),
			with(olivia(), func(c *record.Child) { c.Name.Given = "Jake"; c.Gender = "male" }), Review, RuleTwin},
		// Twins share one family name: spelt alike only, it is a second
		// error, and the pair is never linked nor settled as twins.
		{"different given name, family name spelt alike", olivia(), with(olivia(), func(c *record.Child) {
			c.Name = record.Name{Given: "Amelia", Family: "Hughs"}
		}), Review, RuleTwin},
		// A space keyed inside the given name is one child, not a twin.
		{"space keyed inside the given name", olivia(), with(olivia(), func(c *record.Child) {
			c.Name = record.Name{Given: "Oliv Ia", Family: "Hughes"}
		}), Link, RuleProbability},
		{"newborn not yet named", with(olivia(), func(c *record.Child) { c.Name.Given = "Baby"; c.Name.Middle = "" }), olivia(), Link, RuleProbability},
		{"sibling at the same address", olivia(), with(olivia(), func(c *record.Child) {
			c.Name = record.Name{Given: "Harry", Family: "Hughes"}
			c.BirthDate = "2012-07-30"
			c.Gender = "male"
		}), New, RuleProbability},
		{"different child elsewhere", olivia(), with(bare("Mohammed", "Khan", "2010-01-05"), func(c *record.Child) {
			c.Address = &record.Address{Lines: []string{"3 Church Lane"}, Postcode: "M1 1AE"}
		}), New, RuleProbability},
	}
	for _, tt := range tests {
		d := Decide(FeaturesOf(tt.a), FeaturesOf(tt.b), w, th)
		if d.Outcome != tt.outcome || d.Rule != tt.rule {
			t.Errorf("%s: %s by %q (%s), want %s by %q\n  %s", tt.name, d.Outcome, d.Rule, d.Reason, tt.outcome, tt.rule, Explain(d.Vector, w))
		}
		if d.Rule == RuleConflict && d.Outcome == New && d.Score >= th.Lower {
			t.Errorf("%s: conflicting identifiers left score %.1f at or above the review threshold", tt.name, d.Score)
		}
		back := Decide(FeaturesOf(tt.b), FeaturesOf(tt.a), w, th)
		if back != d {
			t.Errorf("%s: Decide not symmetric:\n  %+v\n  %+v", tt.name, d, back)
		}
	}
}

// TestBlindSpots holds the cases the scoring once got wrong: twins whose
// given names are a nickname or a middle name of each other, a carer's
// family name counted as a second family name, a missing given name taken
// for a twin, and a shared identifier on a record of another child.
func TestBlindSpots(t *testing.T) {
	w, th := DefaultWeights(), DefaultThresholds()
	moved := func(c *record.Child) {
		c.Address = &record.Address{Lines: []string{"3 Church Lane"}, Postcode: "M1 1AE"}
		c.Contacts[0].Phone = "07700 900999"
	}
	tests := []struct {
		name    string
		a, b    *record.Child
		outcome Outcome
		rule    string
		why     string
		carer   Level // checked when not Missing
	}{
		{"twins: one's given name is the other's middle name", olivia(),
			with(olivia(), func(c *record.Child) { c.Name = record.Name{Given: "Grace", Family: "Hughes"} }), Review, RuleTwin, WhyTwin, Missing},
		{"twins: one's given name is a nickname of the other's middle name", olivia(),
			with(olivia(), func(c *record.Child) { c.Name = record.Name{Given: "Gracie", Family: "Hughes"} }), Review, RuleTwin, WhyTwin, Missing},
		{"one child under a nickname and its middle name", olivia(),
			with(olivia(), func(c *record.Child) { c.Name = record.Name{Given: "Livvy", Middle: "Grace", Family: "Hughes"} }), Link, RuleProbability, "", Missing},
		{"a nickname of the given name in the same household is the same child", with(olivia(), func(c *record.Child) { c.Name.Middle = "" }),
			with(olivia(), func(c *record.Child) { c.Name = record.Name{Given: "Livvy", Family: "Hughes"} }), Link, RuleProbability, "", Missing},
		{"the same name in the same household still links", olivia(), olivia(), Link, RuleProbability, "", Missing},
		{"carer's family name is the child's: counted by the given name only", olivia(),
			with(olivia(), moved), Link, RuleProbability, "", Partial},
		{"carer's family name is the child's, and a nickname after a move", olivia(),
			with(olivia(), func(c *record.Child) { moved(c); c.Name.Given = "Livvy" }), Review, RuleProbability, WhyHousehold, Partial},
		{"carer's name is fresh evidence when the child's family name changed", olivia(),
			with(olivia(), func(c *record.Child) { moved(c); c.Name.Family = "Patel" }), Review, RuleProbability, WhyScoreBand, Exact},
		{"missing given name, everything else agrees", with(olivia(), func(c *record.Child) { c.Name = record.Name{Family: "Hughes"} }),
			olivia(), Link, RuleProbability, "", Missing},
		{"missing given name, only the family name and date agree", bare("", "Hughes", "2015-03-14"),
			bare("Olivia", "Hughes", "2015-03-14"), Review, RuleProbability, WhyScoreBand, Missing},
		{"same NHS number, another date of birth and given name", with(olivia(), withNHS(nhsA)),
			with(bare("Harry", "Hughes", "2009-11-30"), withNHS(nhsA)), Review, RuleNHS, WhyIdentifier, Missing},
		{"same NHS number, another date of birth and gender", with(olivia(), withNHS(nhsA)),
			with(bare("Olivia", "Hughes", "2013-06-02"), func(c *record.Child) { withNHS(nhsA)(c); c.Gender = "male" }), Review, RuleNHS, WhyIdentifier, Missing},
		{"same NHS number, another date of birth only: a keying slip", with(olivia(), withNHS(nhsA)),
			with(olivia(), func(c *record.Child) { withNHS(nhsA)(c); c.BirthDate = "2013-06-02" }), Link, RuleNHS, "", Missing},
		{"same UPN, another given name and gender", with(olivia(), func(c *record.Child) { c.Identifiers = &record.Identifiers{UPN: "T821200714001"} }),
			with(bare("Harry", "Hughes", "2012-01-09"), func(c *record.Child) {
				c.Identifiers = &record.Identifiers{UPN: "T821200714001"}
				c.Gender = "male"
			}), Review, RuleUPN, WhyIdentifier, Missing},
	}
	for _, tt := range tests {
		d := Decide(FeaturesOf(tt.a), FeaturesOf(tt.b), w, th)
		if d.Outcome != tt.outcome || d.Rule != tt.rule {
			t.Errorf("%s: %s by %q (%s), want %s by %q\n  %s", tt.name, d.Outcome, d.Rule, d.Reason, tt.outcome, tt.rule, Explain(d.Vector, w))
			continue
		}
		if tt.carer != Missing && d.Vector[FieldCarer] != tt.carer {
			t.Errorf("%s: carer %v, want %v", tt.name, d.Vector[FieldCarer], tt.carer)
		}
		if tt.why != "" && d.Why() != tt.why {
			t.Errorf("%s: why %q, want %q", tt.name, d.Why(), tt.why)
		}
		if tt.why == WhyIdentifier && d.Reason != ReasonSameIdentifier {
			t.Errorf("%s: reason %q, want %q", tt.name, d.Reason, ReasonSameIdentifier)
		}
	}
}

// TestDecideSymmetricAndDeterministic checks random perturbations of one
// child: whatever the decision, swapping the records or repeating the call
// gives the same one.
func TestDecideSymmetricAndDeterministic(t *testing.T) {
	w, th := DefaultWeights(), DefaultThresholds()
	rng := rand.New(rand.NewPCG(1, 2))
	givens := []string{"Olivia", "Livvy", "Olive", "Harry", "Jack", "Jake", "Baby", "", "Grace", "Zoë"}
	families := []string{"Hughes", "Hughs", "Hughes-Patel", "Patel", "O'Brien", ""}
	dates := []string{"2015-03-14", "2015-03-15", "2015-14-03", "2015-04-03", "2015-03-04", "2012-07-30", ""}
	postcodes := []string{"LS6 2AB", "ls62ab", "LS6 2XY", "M1 1AE", ""}
	nhs := []string{"", "", nhsA, nhsB, "9434765918"}
	random := func() Features {
		c := olivia()
		c.Name.Given = givens[rng.IntN(len(givens))]
		c.Name.Family = families[rng.IntN(len(families))]
		c.BirthDate = dates[rng.IntN(len(dates))]
		c.Address.Postcode = postcodes[rng.IntN(len(postcodes))]
		c.Identifiers = &record.Identifiers{NHSNumber: nhs[rng.IntN(len(nhs))]}
		if rng.IntN(2) == 0 {
			c.Contacts = nil
		}
		return FeaturesOf(c)
	}
	for i := 0; i < 5000; i++ {
		a, b := random(), random()
		d := Decide(a, b, w, th)
		if again := Decide(a, b, w, th); again != d {
			t.Fatalf("not deterministic: %+v vs %+v", d, again)
		}
		if back := Decide(b, a, w, th); back != d {
			t.Fatalf("not symmetric:\n%+v\n%+v", d, back)
		}
	}
}

func TestDecideBest(t *testing.T) {
	w, th := DefaultWeights(), DefaultThresholds()
	rec := FeaturesOf(olivia())
	health := FeaturesOf(with(olivia(), withNHS(nhsA)))
	school := FeaturesOf(with(olivia(), func(c *record.Child) { c.Name.Given = "Livvy" }))

	if d, i := DecideBest(rec, []Features{school, health}, w, th); d.Outcome != Link || i != 1 {
		t.Errorf("best of sources: %+v from %d", d, i)
	}
	// The record's own NHS number conflicts with the child's: no other
	// source may outvote that.
	withB := FeaturesOf(with(olivia(), withNHS(nhsB)))
	if d, i := DecideBest(withB, []Features{school, health}, w, th); d.Outcome != New || d.Rule != RuleConflict || i != 1 {
		t.Errorf("conflict against one source: %+v from %d", d, i)
	}
	withA := FeaturesOf(with(bare("Olivia", "Hughes", "2015-03-14"), withNHS(nhsA)))
	if d, i := DecideBest(withA, []Features{school, health}, w, th); d.Rule != RuleNHS || i != 1 {
		t.Errorf("identifier link: %+v from %d", d, i)
	}
	// A source that looks like a twin holds the child back from auto-linking.
	twin := FeaturesOf(with(olivia(), func(c *record.Child) { c.Name = record.Name{Given: "Amelia", Family: "Hughes"} }))
	if d, _ := DecideBest(rec, []Features{twin, school}, w, th); d.Outcome != Review || d.Rule != RuleTwin {
		t.Errorf("twin among sources: %+v", d)
	}
	if d, i := DecideBest(rec, nil, w, th); d.Outcome != New || i != -1 {
		t.Errorf("no sources: %+v %d", d, i)
	}
}

func TestExplain(t *testing.T) {
	w := DefaultWeights()
	a := FeaturesOf(with(olivia(), func(c *record.Child) { c.BirthDate = "2015-03-04" }))
	b := FeaturesOf(with(olivia(), func(c *record.Child) { c.BirthDate = "2015-04-03" }))
	d := Decide(a, b, w, DefaultThresholds())
	e := Explain(d.Vector, w)
	if len(e.Fields) != int(NumFields) {
		t.Fatalf("%d fields explained", len(e.Fields))
	}
	if got := e.Fields[FieldBirthDate].Sentence; got != "date of birth: day and month swapped (+6.7)" {
		t.Errorf("sentence %q", got)
	}
	if diff := e.Score - d.Score; diff > 1e-9 || diff < -1e-9 {
		t.Errorf("explained score %.3f, decided %.3f", e.Score, d.Score)
	}
	sum := 0.0
	for _, f := range e.Fields {
		sum += f.Counted
	}
	if diff := sum - e.Score; diff > 0.1 || diff < -0.1 {
		t.Errorf("counted weights sum to %.1f, score %.1f", sum, e.Score)
	}
	// Household fields are not summed: postcode, address, carer and phone
	// all agree, but only the strongest counts in full, and the strongest of
	// the other kind (the place against the people) at half.
	full, half := 0, 0
	for _, f := range e.Fields {
		switch {
		case !isHousehold(f.Field) || f.Counted == 0:
		case f.Counted == f.Weight:
			full++
		case f.Counted*2 == f.Weight || f.Counted*2-f.Weight < 0.11 && f.Weight-f.Counted*2 < 0.11:
			half++
		}
	}
	if full != 1 || half != 1 {
		t.Errorf("household fields: %d in full and %d at half, want 1 and 1: %s", full, half, e)
	}
	js, err := json.Marshal(struct {
		Decision    Decision    `json:"decision"`
		Explanation Explanation `json:"explanation"`
	}{d, e})
	if err != nil {
		t.Fatal(err)
	}
	for _, personal := range []string{"Olivia", "olivia", "Hughes", "hughes", "LS6", "07700"} {
		if strings.Contains(string(js), personal) {
			t.Errorf("explanation carries personal data %q: %s", personal, js)
		}
	}
	if !strings.Contains(string(js), `"birth_date":"close"`) {
		t.Errorf("vector not keyed by field: %s", js)
	}
}

func TestThresholdsForPopulation(t *testing.T) {
	d := DefaultThresholds()
	if got := d.ForPopulation(20_000); got != d {
		t.Fatalf("a smaller area keeps the defaults: %+v", got)
	}
	got := d.ForPopulation(8 * ThresholdPopulation)
	if got.Upper != d.Upper+3 || got.Lower != d.Lower+3 {
		t.Fatalf("eight times the population needs three more bits: %+v", got)
	}
}

// TestDecisionTwinLike: names agreeing only crosswise are one child's names
// keyed the wrong way round, never a twin's, whatever the vector's levels;
// a given name alike, or a learnt variant, at the household still is.
func TestDecisionTwinLike(t *testing.T) {
	w := DefaultWeights()
	variants := DefaultWeights()
	variants.Variants = map[[2]string]bool{orderedPair("amy", "amelia"): true}
	tests := []struct {
		name    string
		w       Weights
		b       record.Name
		vector  bool // TwinLike(d.Vector)
		twin    bool // d.TwinLike()
		swapped bool
	}{
		{"names swapped", w, record.Name{Given: "Hughes", Family: "Olivia"}, true, false, true},
		{"names swapped, one misspelt", w, record.Name{Given: "Hughes", Family: "Olivai"}, true, false, true},
		{"a given name alike", w, record.Name{Given: "Olivai", Family: "Hughes"}, true, true, false},
		{"a learnt variant", variants, record.Name{Given: "Amy", Family: "Hughes"}, true, true, false},
		{"the same names", w, record.Name{Given: "Olivia", Family: "Hughes"}, false, false, false},
	}
	base := func(n record.Name) *record.Child {
		return with(olivia(), func(c *record.Child) { c.Name = n })
	}
	for _, tt := range tests {
		a := base(record.Name{Given: "Olivia", Family: "Hughes"})
		if tt.name == "a learnt variant" {
			a = base(record.Name{Given: "Amelia", Family: "Hughes"})
		}
		d := Decide(FeaturesOf(a), FeaturesOf(base(tt.b)), tt.w, DefaultThresholds())
		if got := TwinLike(d.Vector); got != tt.vector {
			t.Errorf("%s: TwinLike(vector) %v, want %v", tt.name, got, tt.vector)
		}
		if d.TwinLike() != tt.twin || d.NamesSwapped != tt.swapped {
			t.Errorf("%s: TwinLike %v, swapped %v; want %v, %v", tt.name, d.TwinLike(), d.NamesSwapped, tt.twin, tt.swapped)
		}
	}
}
