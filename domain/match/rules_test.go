package match

import (
	"encoding/json"
	"strings"
	"testing"

	"contactpoint/domain/record"
)

func TestParseRules(t *testing.T) {
	good := func() Rules {
		r := DefaultRules()
		r.Version = 3
		r.Frequencies = EstimateFrequencies(map[string]int{"olivia": 40}, map[string]int{"smith": 90}, 1000, 10)
		return r
	}
	tests := []struct {
		name   string
		change func(*Rules)
		err    string
	}{
		{"a trained version", func(*Rules) {}, ""},
		{"version 0 is the built-in defaults", func(r *Rules) { r.Version = 0 }, "version"},
		{"a probability of zero", func(r *Rules) { r.Weights.U[FieldGiven][Exact] = 0 }, "given name"},
		{"a probability of one", func(r *Rules) { r.Weights.M[FieldNHS][Exact] = 1 }, "NHS number"},
		{"thresholds the wrong way round", func(r *Rules) { r.Thresholds = Thresholds{Upper: 10, Lower: 20} }, "thresholds"},
		{"no term-frequency floor", func(r *Rules) { r.Frequencies.Floor = 0 }, "floor"},
	}
	for _, tt := range tests {
		r := good()
		tt.change(&r)
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseRules(b)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s: error %v, want one about %q", tt.name, err, tt.err)
		case tt.err == "" && (got.Weights.TF == nil || got.Weights.TF.Family["smith"] != 0.09):
			t.Errorf("%s: frequencies not put in force: %+v", tt.name, got.Weights.TF)
		}
	}
}

// TestLearnedVariants: a pair of given names many children's linked
// records show is learnt, a one-off slip is not, and a learnt pair compares
// as nicknames do, twin guard included.
func TestLearnedVariants(t *testing.T) {
	var seen [][2]string
	for range 5 {
		seen = append(seen, [2]string{"amy", "amelia"}, [2]string{"amelia", "amy"})
	}
	seen = append(seen, [2]string{"amu", "amy"})
	got := LearnVariants(seen, 3)
	if len(got) != 1 || got[0] != [2]string{"amelia", "amy"} {
		t.Fatalf("learnt %v, want only amelia/amy", got)
	}
	w, th := DefaultWeights(), DefaultThresholds()
	a := FeaturesOf(with(olivia(), func(c *record.Child) { c.Name = record.Name{Given: "Amelia", Family: "Hughes"} }))
	b := FeaturesOf(with(olivia(), func(c *record.Child) { c.Name = record.Name{Given: "Amy", Family: "Hughes"} }))
	tests := []struct {
		name     string
		variants map[[2]string]bool
		given    Level
		outcome  Outcome
	}{
		{"without the learnt pair: a twin with another name", nil, Disagree, New},
		{"with it: the same child", VariantSet(got), Close, Link},
	}
	for _, tt := range tests {
		w.Variants = tt.variants
		d := Decide(a, b, w, th)
		if d.Vector[FieldGiven] != tt.given || d.Outcome != tt.outcome {
			t.Errorf("%s: given %v, %s by %s", tt.name, d.Vector[FieldGiven], d.Outcome, d.Rule)
		}
	}
}

// TestTwinGuardKnowsTheAreasNames: in a twin-like household, two given
// names a letter apart that are both common names of the area, neither far
// rarer, may be two twins': they go to review; a slip that makes no name of
// the area, and a nickname from the table, are one child's, and link.
func TestTwinGuardKnowsTheAreasNames(t *testing.T) {
	w, th := DefaultWeights(), DefaultThresholds()
	w.TF = EstimateFrequencies(map[string]int{"millie": 400, "mollie": 300, "olivia": 1200, "livvy": 60, "sophie": 500, "sophia": 450},
		nil, 80_000, 10)
	pair := func(x, y string) (Features, Features) {
		return FeaturesOf(with(olivia(), func(c *record.Child) { c.Name = record.Name{Given: x, Family: "Hughes"} })),
			FeaturesOf(with(olivia(), func(c *record.Child) { c.Name = record.Name{Given: y, Family: "Hughes"} }))
	}
	tests := []struct {
		a, b    string
		outcome Outcome
		rule    string
	}{
		{"Millie", "Mollie", Review, RuleTwin},
		{"Sophie", "Sophia", Link, RuleProbability}, // one name's two spellings, in the nickname table
		{"Olivia", "Livvy", Link, RuleProbability},
		{"Olivia", "Olivai", Link, RuleProbability}, // a slip: not a name of the area
	}
	for _, tt := range tests {
		a, b := pair(tt.a, tt.b)
		if d := Decide(a, b, w, th); d.Outcome != tt.outcome || d.Rule != tt.rule {
			t.Errorf("%s/%s: %s by %s, want %s by %s", tt.a, tt.b, d.Outcome, d.Rule, tt.outcome, tt.rule)
		}
	}
}
