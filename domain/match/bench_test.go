package match

import (
	"testing"

	"contactpoint/domain/record"
)

func benchPair() (Features, Features) {
	a := FeaturesOf(with(olivia(), func(c *record.Child) { c.Name.Family = "Hughes-Patel" }))
	b := FeaturesOf(with(olivia(), func(c *record.Child) {
		c.Name = record.Name{Given: "Livvy", Family: "Hughs"}
		c.BirthDate = "2015-03-15"
		c.Address.Lines = []string{"14 Elm Grv"}
		c.Contacts[0].Phone = "+44 7700 900124"
	}))
	return a, b
}

func BenchmarkCompare(b *testing.B) {
	x, y := benchPair()
	b.ReportAllocs()
	for b.Loop() {
		_ = Compare(&x, &y)
	}
}

// BenchmarkCompareDisagree is the common case in a block: a different child.
func BenchmarkCompareDisagree(b *testing.B) {
	x := FeaturesOf(olivia())
	y := FeaturesOf(with(bare("Mohammed", "Khan", "2010-01-05"), func(c *record.Child) {
		c.Address = &record.Address{Lines: []string{"3 Church Lane"}, Postcode: "M1 1AE"}
	}))
	b.ReportAllocs()
	for b.Loop() {
		_ = Compare(&x, &y)
	}
}

func BenchmarkDecide(b *testing.B) {
	x, y := benchPair()
	w, t := DefaultWeights(), DefaultThresholds()
	b.ReportAllocs()
	for b.Loop() {
		_ = Decide(x, y, w, t)
	}
}

func BenchmarkFeaturesOf(b *testing.B) {
	c := olivia()
	c.Identifiers = &record.Identifiers{NHSNumber: "943 476 5919", UPN: "T821200714001"}
	b.ReportAllocs()
	for b.Loop() {
		_ = FeaturesOf(c)
	}
}

func BenchmarkBlockingKeys(b *testing.B) {
	f := FeaturesOf(olivia())
	b.ReportAllocs()
	for b.Loop() {
		_ = BlockingKeys(&f)
	}
}

func BenchmarkEstimateWeights(b *testing.B) {
	x, y := benchPair()
	vs := make([]ComparisonVector, 0, 100_000)
	for i := 0; i < 100_000; i++ {
		if i%10 == 0 {
			vs = append(vs, Compare(&x, &y))
		} else {
			vs = append(vs, Compare(&x, &Features{Given: "harry", Family: "khan", BirthDate: "20100105"}))
		}
	}
	b.ResetTimer()
	for b.Loop() {
		_ = EstimateWeights(vs, 50)
	}
}
