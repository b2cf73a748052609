package httpapi

import (
	"net/http"
	"time"

	"contactpoint/domain/audit"
	"contactpoint/domain/match"
)

// RulesSource is what GET /v1/linkage/rules needs of the linker: the
// rules in force, and the thresholds as the area's size has raised them.
type RulesSource interface {
	Rules() match.Rules
	ThresholdsInForce() match.Thresholds
}

type levelWeight struct {
	Level  match.Level `json:"level"`
	M      float64     `json:"m"`
	U      float64     `json:"u"`
	Weight float64     `json:"weight"`
}

type fieldWeights struct {
	Field  match.Field   `json:"field"`
	Name   string        `json:"name"`
	Levels []levelWeight `json:"levels"`
}

type rulesView struct {
	Version    int              `json:"version"`
	TrainedAt  *time.Time       `json:"trained_at,omitempty"`
	TrainedOn  *match.Training  `json:"trained_on,omitempty"`
	Thresholds match.Thresholds `json:"thresholds"`
	// InForce are the thresholds raised for the number of children.
	InForce match.Thresholds `json:"thresholds_in_force"`
	Fields  []fieldWeights   `json:"fields"`
	// TermFrequency summarises the name frequency table (the names
	// themselves are not shown).
	TermFrequency *termFrequencyView `json:"term_frequency,omitempty"`
}

type termFrequencyView struct {
	GivenNames  int     `json:"given_names"`
	FamilyNames int     `json:"family_names"`
	Floor       float64 `json:"floor"`
	MinCount    int     `json:"min_count"`
	MaxAdjust   float64 `json:"max_adjust_bits"`
}

// linkageRules shows data stewards the rules the linker decides by.
func (s *Server) linkageRules(w http.ResponseWriter, r *http.Request) {
	src, ok := s.Linker.(RulesSource)
	if !ok {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the linker does not report its rules")
		return
	}
	if !s.audited(w, r, audit.Entry{Action: audit.ActView, Outcome: audit.OK, Reason: "linkage-rules", Status: http.StatusOK}) {
		return
	}
	rules := src.Rules()
	v := rulesView{Version: rules.Version, TrainedAt: rules.TrainedAt, TrainedOn: rules.TrainedOn,
		Thresholds: rules.Thresholds, InForce: src.ThresholdsInForce()}
	for f := match.Field(0); f < match.NumFields; f++ {
		fw := fieldWeights{Field: f, Name: f.String()}
		for l := match.Level(1); l < match.NumLevels; l++ {
			m, u := rules.Weights.M[f][l], rules.Weights.U[f][l]
			if m == 0 && u == 0 {
				continue
			}
			fw.Levels = append(fw.Levels, levelWeight{Level: l, M: m, U: u, Weight: round2(rules.Weights.Weight(f, l))})
		}
		v.Fields = append(v.Fields, fw)
	}
	if fr := rules.Frequencies; fr != nil {
		v.TermFrequency = &termFrequencyView{GivenNames: len(fr.Given), FamilyNames: len(fr.Family), Floor: fr.Floor,
			MinCount: fr.MinCount, MaxAdjust: match.MaxTermAdjust}
	}
	writeJSON(w, http.StatusOK, v)
}

func round2(x float64) float64 { return float64(int64(x*100+copysignHalf(x))) / 100 }

func copysignHalf(x float64) float64 {
	if x < 0 {
		return -0.5
	}
	return 0.5
}
