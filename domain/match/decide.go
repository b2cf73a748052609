package match

import "math"

// Outcome is what the linker should do with a record and a candidate.
type Outcome string

// Outcomes of Decide.
const (
	Link   Outcome = "link"   // the same child: attach the record
	Review Outcome = "review" // uncertain: a data steward decides
	New    Outcome = "new"    // a different child
)

// Rules that can decide a pair.
const (
	RuleNHS         = "nhs-number"
	RuleUPN         = "upn"
	RuleConflict    = "conflicting identifiers"
	RuleTwin        = "possible twin"
	RuleProbability = "score"
)

// Thresholds split scores into outcomes: Score ≥ Upper links, Lower ≤ Score
// < Upper goes to review, below Lower is a new child.
type Thresholds struct {
	Upper float64 `json:"upper"`
	Lower float64 `json:"lower"`
}

// DefaultThresholds fit DefaultWeights. Upper is 28 bits: a pair with the
// same given name, family name and date of birth but a different postcode
// scores about 26 and is reviewed (two children sharing all three are rare
// but real in a large area), while the same pair with a shared phone, carer
// or address scores 35 or more and links. Lower is 14 bits: the sibling
// pattern (same family name and household, different given name and date of
// birth) scores about 7 to 12 and is a new child, and a child whose given name is
// a spelling variant and who has moved scores about 22 and is reviewed. In
// probability terms, with about 1 match in 80,000 random pairs (prior odds
// 2^-16.3), 28 bits is posterior odds of about 3,000 to 1.
func DefaultThresholds() Thresholds { return Thresholds{Upper: 28, Lower: 14} }

// Why a pair was sent to a steward rather than linked: what a steward
// filters the review queue by.
const (
	WhyScoreBand  = "score band"          // the score fell between the thresholds
	WhyTwin       = "twin guard"          // the pair looks like twins (or a known twin is as likely)
	WhyIdentifier = "identifier conflict" // an identifier agrees and the record contradicts it, or identifiers disagree
	WhyHousehold  = "household conflict"  // the child's own details agree and the household does not
)

// ReasonSameIdentifier is the review reason of a shared NHS number or UPN
// on a record the rest of which describes another child.
const ReasonSameIdentifier = "same identifier, different child?"

// Decision is the outcome for one pair, with the rule that decided it. It
// carries the comparison vector so that Explain can give the reasons later,
// when they are wanted (a review, an audit), at no cost to the hot path.
type Decision struct {
	Outcome Outcome          `json:"outcome"`
	Rule    string           `json:"rule"`
	Reason  string           `json:"reason"`
	Score   float64          `json:"score"`
	Vector  ComparisonVector `json:"vector"`
	// TermFrequency is what the given and family names' frequencies added
	// to the score (see Frequencies); zero without a frequency table.
	TermFrequency [2]float64 `json:"term_frequency,omitempty"`
	// NamesSwapped marks names that agree only crosswise (given for
	// family): one child's names keyed the wrong way round, never twins'.
	NamesSwapped bool `json:"names_swapped,omitempty"`
}

// TwinLike reports a decision the twin guard would hold back unless the
// given names were the same (see the package TwinLike); names that agree
// only crosswise are one child's, not a twin's.
func (d Decision) TwinLike() bool { return TwinLike(d.Vector) && !d.NamesSwapped }

// Why classifies a Review (or a guarded New) for the review queue.
func (d Decision) Why() string {
	switch d.Rule {
	case RuleTwin:
		return WhyTwin
	case RuleConflict, RuleNHS, RuleUPN:
		return WhyIdentifier
	}
	v := d.Vector
	personal := v[FieldGiven] >= Partial && v[FieldFamily] >= Partial && v[FieldBirthDate] >= Partial
	if personal && (v[FieldPostcode] == Disagree || v[FieldAddress] == Disagree) {
		return WhyHousehold
	}
	return WhyScoreBand
}

// Decide settles whether a and b are the same child. Deterministic rules
// come first, in this order:
//
//  1. The same valid NHS number links ("nhs-number"), and the same permanent
//     or temporary UPN links ("upn"), unless the rest of the record
//     contradicts it: the date of birth and the given name both differ, or
//     the date of birth and the gender both do. Identifiers are mistyped and
//     reused (a sibling's number keyed on the wrong record), so such a pair
//     goes to review, "same identifier, different child?".
//  2. Two different valid NHS numbers, or two different permanent UPNs,
//     never link: the score is capped below Lower ("conflicting
//     identifiers"). When one identifier agrees and the other conflicts the
//     records contradict themselves and a steward reviews them.
//  3. Possible twin: the same family name, date of birth and household with
//     a given name that is not plainly the same. Clearly different given
//     names make a new child (at most a review when the family names are
//     only spelt alike: twins share one, so that is a second error); names that only sound alike, or a given name
//     that is the other's middle name or a nickname of it, go no further
//     than review: twins are given such names ("Amelia" and "Grace
//     Amelia", "Millie" and "Grace Amelia"). So do two names a letter apart
//     that are both common names of the area, by the rules' frequency table
//     ("Millie" and "Mollie"). A nickname of the other's own given name
//     ("Livvy" for "Olivia") is how agencies record one child, and the
//     score decides it. A given name missing on one side is no
//     evidence either way, and the score decides too.
//
// Otherwise the Fellegi–Sunter score against t decides ("score"). Decide is
// symmetric in a and b and deterministic.
func Decide(a, b Features, w Weights, t Thresholds) Decision {
	return decide(&a, &b, &w, t)
}

// IdentifierContradicted reports a pair whose shared identifier the rest of
// the record denies: date of birth and given name both differ, or date of
// birth and gender both do.
func IdentifierContradicted(v ComparisonVector) bool {
	return v[FieldBirthDate] == Disagree && (v[FieldGiven] == Disagree || v[FieldGender] == Disagree)
}

func decide(a, b *Features, w *Weights, t Thresholds) Decision {
	v := Compare(a, b)
	compared := v[FieldGiven] // before learnt variants
	if g := v[FieldGiven]; (g == Disagree || g == Weak) && w.Variants != nil && w.Variants[orderedPair(a.Given, b.Given)] {
		v[FieldGiven] = Close
	}
	d := Decision{Score: w.Score(v), Vector: v}
	if w.TF != nil {
		g, f := w.termFrequency(a, b, v)
		d.TermFrequency = [2]float64{g, f}
		d.Score += g + f
	}
	nhs, upn := v[FieldNHS], v[FieldUPN]

	switch {
	case nhs == Exact && upn == Disagree, upn == Exact && nhs == Disagree:
		d.Outcome, d.Rule = Review, RuleConflict
		d.Reason = "one national identifier is the same and the other differs"
		return d
	case nhs == Disagree || upn == Disagree:
		d.Outcome, d.Rule = New, RuleConflict
		d.Reason = "both records hold a valid identifier and they differ"
		d.Score = min(d.Score, t.Lower-1)
		return d
	case nhs == Exact || upn == Exact:
		d.Rule, d.Reason = RuleNHS, "same NHS number"
		if nhs != Exact {
			d.Rule, d.Reason = RuleUPN, "same UPN"
		}
		d.Outcome = Link
		if IdentifierContradicted(v) {
			d.Outcome = Review
			d.Reason = ReasonSameIdentifier
		}
		return d
	}

	d.Rule, d.Outcome = RuleProbability, byScore(d.Score, t)
	d.Reason = "score against thresholds"
	if twinHousehold(v) && v[FieldGiven] != Exact {
		// Compare set the names' levels crosswise when they agree only
		// that way; twins' names agree in place or not at all.
		d.NamesSwapped = compared != compareGiven(a, b)
	}
	if twinHousehold(v) && !d.NamesSwapped {
		switch g := v[FieldGiven]; {
		case g == Disagree && v[FieldFamily] >= Close:
			d.Rule, d.Outcome = RuleTwin, New
			d.Reason = "same family name, date of birth and household but a different given name"
		case g == Disagree:
			// Twins share one family name: a family name only spelt alike
			// means a second error, on one child's record or on a twin's,
			// and a steward tells which.
			d.Rule = RuleTwin
			if d.Outcome == Link {
				d.Outcome = Review
			}
			d.Reason = "same date of birth and household, a family name spelt alike and a different given name: twins, or one child recorded with two errors"
		case g == Weak || ((g == Partial || g == Close) && givenViaOtherName(a, b) && !sameFirstGiven(a, b)) ||
			(g == Partial && w.TF.bothGiven(a.Given, b.Given)):
			d.Rule = RuleTwin
			if d.Outcome == Link {
				d.Outcome = Review
				d.Reason = "same family name, date of birth and household; the given names may be two twins' (alike, a nickname, or a middle name)"
			} else {
				d.Reason = "same family name, date of birth and household; score below the link threshold"
			}
		}
	}
	return d
}

func byScore(s float64, t Thresholds) Outcome {
	switch {
	case s >= t.Upper:
		return Link
	case s >= t.Lower:
		return Review
	}
	return New
}

// sameFirstGiven reports first given names that agree in spelling or as
// nicknames of each other: then a middle name in common is one child's, not
// two twins'.
func sameFirstGiven(a, b *Features) bool {
	return a.Given == b.Given || a.GivenGroups.intersects(b.GivenGroups)
}

// twinHousehold is the twins-and-siblings guard's condition: everything a
// twin shares agrees (family name, date of birth, household), so only the
// given name can tell the two apart.
func twinHousehold(v ComparisonVector) bool {
	household := v[FieldPostcode] == Exact || v[FieldAddress] >= Close || v[FieldPhone] == Exact || v[FieldCarer] >= Partial
	return v[FieldFamily] >= Partial && v[FieldBirthDate] == Exact && household
}

// TwinLike reports a pair that the twin guard would hold back unless the
// given names are the same: used to spot a record that fits two children
// of one household equally well.
func TwinLike(v ComparisonVector) bool { return twinHousehold(v) && v[FieldGiven] != Exact }

// DecideBest decides a record against a child known from several source
// records, by deciding against each source and combining, rather than
// merging the sources' features into one: each source is a real statement
// about the child, and a merged record would be one no agency made. The
// combination keeps identifiers and the twin guard decisive for the child as
// a whole:
//
//   - a link by identifier against any source wins;
//   - otherwise a conflicting identifier against any source makes it New;
//   - otherwise the source with the strongest outcome (then the highest
//     score) decides, except that if any source
//     raised the twin guard the outcome is at most Review.
//
// It returns the decision and the index of the source that gave it (-1
// when there are no sources, with outcome New).
func DecideBest(a Features, sources []Features, w Weights, t Thresholds) (Decision, int) {
	best, bi := Decision{Outcome: New, Rule: RuleProbability, Reason: "no source records"}, -1
	conflict, ci := Decision{}, -1
	twin := false
	for i := range sources {
		d := decide(&a, &sources[i], &w, t)
		switch {
		case d.Outcome == Link && (d.Rule == RuleNHS || d.Rule == RuleUPN):
			return d, i
		case d.Rule == RuleConflict && d.Outcome == New:
			if ci < 0 {
				conflict, ci = d, i
			}
			continue
		case d.Rule == RuleTwin:
			twin = true
		}
		if bi < 0 || rank(d.Outcome) > rank(best.Outcome) || (rank(d.Outcome) == rank(best.Outcome) && d.Score > best.Score) {
			best, bi = d, i
		}
	}
	if ci >= 0 {
		return conflict, ci
	}
	// A source that agrees on the given name exactly outweighs another
	// source's look-alike: a child known as both "Alexander" and "Alex"
	// is not its own twin.
	if twin && best.Outcome == Link && best.Vector[FieldGiven] != Exact {
		best.Outcome, best.Rule = Review, RuleTwin
		best.Reason = "another source record of this child looks like a twin"
	}
	return best, bi
}

func rank(o Outcome) int {
	switch o {
	case Link:
		return 2
	case Review:
		return 1
	}
	return 0
}

// ThresholdPopulation is the number of children DefaultThresholds assume a
// record may be compared against.
const ThresholdPopulation = 80_000

// ForPopulation raises both thresholds by the bits that n children cost
// over ThresholdPopulation: among n children the prior odds that a random
// pair is the same child are 1 in n, so the same posterior certainty needs
// log2(n / 80,000) more bits of evidence. A smaller area keeps the defaults.
func (t Thresholds) ForPopulation(n int) Thresholds {
	if n <= ThresholdPopulation {
		return t
	}
	extra := math.Log2(float64(n) / ThresholdPopulation)
	return Thresholds{Upper: t.Upper + extra, Lower: t.Lower + extra}
}
