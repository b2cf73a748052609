package linker

import (
	"contactpoint/adapters/metrics"
	"contactpoint/domain/child"
)

// countDecisions adds a batch's decisions to the linker's metric by
// outcome: linked (a new record joined an existing child, by identifier or
// score), new (a child registered), review (a steward asked), updated (a
// known record's new content). Outcomes only: no id, no value.
func countDecisions(p *plan) {
	var linked, fresh, review, updated float64
	for _, pd := range p.per {
		for _, e := range pd.batch.Events {
			switch e.Type {
			case child.TypeRegistered:
				fresh++
			case child.TypeReviewRequested:
				review++
			case child.TypeStated:
				switch e.Stated.Link.Rule {
				case "new":
				case "source-record":
					updated++
				default:
					linked++
				}
			}
		}
	}
	for _, c := range []struct {
		outcome string
		n       float64
	}{{"linked", linked}, {"new", fresh}, {"review", review}, {"updated", updated}} {
		if c.n > 0 {
			metrics.LinkerDecisions.WithLabelValues(c.outcome).Add(c.n)
		}
	}
}
