package match

import (
	"math"
	"strconv"
	"strings"
)

// Weights are the Fellegi–Sunter parameters: for every field and level, M
// is the probability of that level when the two records are the same child
// and U the probability when they are two different children. A level's
// weight is log2(M/U), in bits; a pair's score is the sum over fields.
// Prior is the share of candidate pairs that are matches (estimated by
// EstimateWeights; only Probability uses it).
type Weights struct {
	M     [NumFields][NumLevels]float64 `json:"m"`
	U     [NumFields][NumLevels]float64 `json:"u"`
	Prior float64                       `json:"prior"`
	// TF, when set, adjusts exact name agreements for the name's own
	// frequency (Rules.Frequencies); nil leaves every name alike.
	TF *Frequencies `json:"-"`
	// Variants, when set, are given-name pairs learnt from the area
	// (Rules.Variants), which compare as nicknames.
	Variants map[[2]string]bool `json:"-"`
}

// DefaultWeights are reasoned from how children's records vary, for use
// until there is enough data for EstimateWeights or LearnWeights. U comes
// from value frequencies among the 0–18 population of an area; M from how
// often agencies record the same child differently. The resulting weights
// (bits, rounded):
//
//	given name     exact +6.4  nickname +4.3  similar +3.3  sounds same +2.3  different -5.6
//	  u exact ≈ 0.01: the summed squared frequency of children's first names.
//	family name    exact +8.8  part/previous +6.6  similar +3.9  sounds same +2.7  different -5.6
//	  u exact ≈ 0.002: surnames are more spread than first names (Smith ≈ 1%).
//	date of birth  exact +12.6  swapped +6.7  one digit +3.3  different -5.7
//	  u exact ≈ 1/6570: 18 years of days. A random swap needs day ≤ 12 and
//	  hits one date, u ≈ 0.37/6570; about 17 dates lie one digit away.
//	gender         same +1.0  different -4.1
//	postcode       full +11.9  sector +3.8  district +0.3  different -3.0
//	  u full ≈ 1/5000 within an area; children move, so m full is only 0.75.
//	address line   same +11.2  nearly +6.3  house number slip +3.3  different -2.3
//	  u slip ≈ 10 × u same: a street's numbers one slip from a given one.
//	carer name     same +13.3  given only +3.9  different -1.5
//	phone          shared +13.0  different -0.7
//	  phones change often (m 0.4) but a shared mobile is almost unique.
//	NHS number     same +23.2  different -8.4
//	UPN            same +23.2  different -6.6
//
// The household fields (postcode, address, carer, phone) are not
// independent of one another, so Score counts only the strongest for and the
// strongest against among them.
func DefaultWeights() Weights {
	var w Weights
	set := func(f Field, l Level, m, u float64) { w.M[f][l], w.U[f][l] = m, u }

	set(FieldGiven, Exact, 0.86, 0.01)
	set(FieldGiven, Close, 0.06, 0.003)
	set(FieldGiven, Partial, 0.04, 0.004)
	set(FieldGiven, Weak, 0.02, 0.004)
	set(FieldGiven, Disagree, 0.02, 0.979)

	set(FieldFamily, Exact, 0.88, 0.002)
	set(FieldFamily, Close, 0.05, 0.0005)
	set(FieldFamily, Partial, 0.03, 0.002)
	set(FieldFamily, Weak, 0.02, 0.003)
	set(FieldFamily, Disagree, 0.02, 0.9925)

	set(FieldBirthDate, Exact, 0.95, 1.0/6570)
	set(FieldBirthDate, Close, 0.006, 0.37/6570)
	set(FieldBirthDate, Partial, 0.025, 17.0/6570)
	set(FieldBirthDate, Disagree, 0.019, 1-1.0/6570-0.37/6570-17.0/6570)

	set(FieldGender, Exact, 0.97, 0.5)
	set(FieldGender, Disagree, 0.03, 0.5)

	set(FieldPostcode, Exact, 0.75, 0.0002)
	set(FieldPostcode, Close, 0.07, 0.005)
	set(FieldPostcode, Partial, 0.06, 0.05)
	set(FieldPostcode, Disagree, 0.12, 0.9448)

	set(FieldAddress, Exact, 0.69, 0.0003)
	set(FieldAddress, Close, 0.08, 0.001)
	set(FieldAddress, Partial, 0.03, 0.003)
	set(FieldAddress, Disagree, 0.20, 0.9957)

	set(FieldCarer, Exact, 0.50, 0.00005)
	set(FieldCarer, Partial, 0.15, 0.01)
	set(FieldCarer, Disagree, 0.35, 0.98995)

	set(FieldPhone, Exact, 0.40, 0.00005)
	set(FieldPhone, Disagree, 0.60, 0.99995)

	set(FieldNHS, Exact, 0.997, 1e-7)
	set(FieldNHS, Disagree, 0.003, 1-1e-7)

	set(FieldUPN, Exact, 0.99, 1e-7)
	set(FieldUPN, Disagree, 0.01, 1-1e-7)

	w.Prior = 0.1
	return w
}

// Weight is log2(M/U) for a field at a level, in bits: positive is evidence
// for the same child, negative against. Missing, and any level the weights
// give no probability to, weigh nothing.
func (w *Weights) Weight(f Field, l Level) float64 {
	if l == Missing || f >= NumFields || l >= NumLevels {
		return 0
	}
	m, u := w.M[f][l], w.U[f][l]
	if m <= 0 || u <= 0 {
		return 0
	}
	return math.Log2(m / u)
}

func isHousehold(f Field) bool {
	return f == FieldPostcode || f == FieldAddress || f == FieldCarer || f == FieldPhone
}

// contributions returns what each field adds to the score. Household fields
// describe the same home: a sibling shares all four, and a family that moves
// changes all four at once, so summing them would count one fact up to four
// times. Only the strongest household agreement and the strongest household
// disagreement are counted in full. Where the home (postcode, address) and
// the people in it (carer's name, phone) both agree, the weaker of the two
// kinds adds half its weight: they are two partly independent facts, and
// together they carry a child across a changed surname or a typo. Siblings
// share both too, but they disagree on given name and date of birth, and
// twins are held back by the twin guard.
func (w *Weights) contributions(v ComparisonVector) (c [NumFields]float64) {
	bestFor, bestAgainst := -1, -1
	for f := Field(0); f < NumFields; f++ {
		x := w.Weight(f, v[f])
		if !isHousehold(f) {
			c[f] = x
			continue
		}
		switch {
		case x > 0 && (bestFor < 0 || x > c[bestFor]):
			bestFor = int(f)
		case x < 0 && (bestAgainst < 0 || x < c[bestAgainst]):
			bestAgainst = int(f)
		}
		c[f] = x
	}
	second := -1
	if bestFor >= 0 {
		for f := Field(0); f < NumFields; f++ {
			if isHousehold(f) && homeKind(f) != homeKind(Field(bestFor)) && c[f] > 0 && (second < 0 || c[f] > c[second]) {
				second = int(f)
			}
		}
	}
	for f := Field(0); f < NumFields; f++ {
		switch {
		case !isHousehold(f) || int(f) == bestFor || int(f) == bestAgainst:
		case int(f) == second:
			c[f] /= 2
		default:
			c[f] = 0
		}
	}
	return c
}

// homeKind tells the place (postcode, address) from the people (carer's
// name, phone).
func homeKind(f Field) bool { return f == FieldPostcode || f == FieldAddress }

// Score is the Fellegi–Sunter match score of a comparison vector in bits.
func (w *Weights) Score(v ComparisonVector) float64 {
	c := w.contributions(v)
	s := 0.0
	for _, x := range c {
		s += x
	}
	return s
}

// Probability turns a score into the probability that the pair is a match,
// given Prior. It is meaningful only among pairs like those Prior was
// estimated on (candidate pairs from blocking).
func (w *Weights) Probability(score float64) float64 {
	p := w.Prior
	if p <= 0 || p >= 1 {
		return math.NaN()
	}
	logit := math.Log2(p/(1-p)) + score
	return 1 / (1 + math.Exp2(-logit))
}

// FieldScore explains one field's part in a score.
type FieldScore struct {
	Field Field `json:"field"`
	Level Level `json:"level"`
	// Weight is log2(m/u) for the level; Counted is what it added to the
	// score after household fields were grouped.
	Weight   float64 `json:"weight"`
	Counted  float64 `json:"counted"`
	Sentence string  `json:"sentence"`
}

// Explanation is a score with the reasons for it, field by field. It names
// no values, only how they compared, so it may be shown and stored freely.
type Explanation struct {
	Score  float64      `json:"score"`
	Fields []FieldScore `json:"fields"`
}

// Explain breaks down the score of v under w into sentences such as
// "date of birth: day and month swapped (+6.6)".
func Explain(v ComparisonVector, w Weights) Explanation {
	c := w.contributions(v)
	e := Explanation{Fields: make([]FieldScore, 0, NumFields)}
	for f := Field(0); f < NumFields; f++ {
		x := w.Weight(f, v[f])
		e.Score += c[f]
		s := f.String() + ": " + levelText[f][v[f]]
		if x != 0 {
			s += " (" + signed(x) + ")"
			switch {
			case c[f] == 0:
				s += ", not counted: the household is already counted once"
			case c[f] != x:
				s += ", counted at half (" + signed(c[f]) + "): a second kind of household evidence"
			}
		}
		e.Fields = append(e.Fields, FieldScore{Field: f, Level: v[f], Weight: round1(x), Counted: round1(c[f]), Sentence: s})
	}
	return e
}

// ExplainDecision is Explain with the term-frequency adjustments the
// decision's score carries, so that the explanation adds up to it.
func ExplainDecision(d Decision, w Weights) Explanation {
	e := Explain(d.Vector, w)
	for i, f := range [2]Field{FieldGiven, FieldFamily} {
		adj := d.TermFrequency[i]
		if adj == 0 {
			continue
		}
		fs := &e.Fields[f]
		fs.Counted = round1(fs.Counted + adj)
		e.Score += adj
		how := "a rare name here"
		if adj < 0 {
			how = "a common name here"
		}
		fs.Sentence += ", " + how + " (" + signed(adj) + ")"
	}
	return e
}

// String joins the sentences with the total.
func (e Explanation) String() string {
	parts := make([]string, 0, len(e.Fields)+1)
	for _, f := range e.Fields {
		parts = append(parts, f.Sentence)
	}
	parts = append(parts, "score "+signed(e.Score))
	return strings.Join(parts, "; ")
}

func signed(x float64) string {
	s := strconv.FormatFloat(x, 'f', 1, 64)
	if x >= 0 {
		return "+" + s
	}
	return s
}

func round1(x float64) float64 { return math.Round(x*10) / 10 }
