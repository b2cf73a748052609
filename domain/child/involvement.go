package child

import (
	"sort"
	"time"

	"contactpoint/domain/record"
)

// TypeInvolvementIndicated: a practitioner told the hub that they are working
// with the child. The name is part of the stored log: never rename it.
const TypeInvolvementIndicated = "involvement.indicated"

// HubAgency and HubSystem name the hub itself as the source of the facts it
// records first-hand, such as indicated involvement.
const (
	HubAgency = "hub"
	HubSystem = "contactpoint"
)

// RuleIndicated is the provenance rule of an involvement a practitioner
// indicated in the hub rather than one an agency feed stated.
const RuleIndicated = "indicated-by-practitioner"

// InvolvementIndicated is a practitioner's statement that they work with the
// child. It holds the practitioner's work contact details and nothing about
// the child beyond the subject it is appended to.
type InvolvementIndicated struct {
	PractitionerID string `json:"practitioner_id"`
	Name           string `json:"name"`
	Role           string `json:"role,omitempty"`
	Organisation   string `json:"organisation,omitempty"`
	Service        string `json:"service"`
	Phone          string `json:"phone,omitempty"`
	Email          string `json:"email,omitempty"`
}

// Involvement is the indicated involvement as a record involvement. It never
// carries a kind: sensitive services are recorded only by their own feeds,
// where consent travels with the record.
func (i InvolvementIndicated) Involvement() record.Involvement {
	return record.Involvement{
		Service:      i.Service,
		Organisation: i.Organisation,
		Practitioner: &record.Practitioner{Name: i.Name, Role: i.Role, Phone: i.Phone, Email: i.Email},
		Phone:        i.Phone,
	}
}

// IndicatedState is an indicated involvement as the state keeps it.
type IndicatedState struct {
	InvolvementIndicated
	At time.Time `json:"at"`
}

func (s *State) applyIndicated(e Event) {
	in := e.Involvement
	if in == nil {
		return
	}
	if s.Indicated == nil {
		s.Indicated = map[string]IndicatedState{}
	}
	// One entry per practitioner: indicating again updates the details.
	s.Indicated[in.PractitionerID] = IndicatedState{*in, e.At}
}

// indicatedFacts returns the indicated involvements in a fixed order.
func indicatedFacts(s *State) []Fact[record.Involvement] {
	ids := make([]string, 0, len(s.Indicated))
	for id := range s.Indicated {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]Fact[record.Involvement], 0, len(ids))
	for _, id := range ids {
		in := s.Indicated[id]
		out = append(out, Fact[record.Involvement]{in.Involvement(), Provenance{
			Source:    record.SourceKey{Agency: HubAgency, System: HubSystem, RecordID: id},
			UpdatedAt: in.At,
			Rule:      RuleIndicated,
		}})
	}
	return out
}
