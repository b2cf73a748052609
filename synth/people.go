package synth

import (
	"math/rand/v2"
	"strconv"
	"time"

	"contactpoint/domain/ident"
)

// Household and birth rates.
const (
	twinRate         = 0.015 // of maternities
	similarTwinNames = 0.30  // of same-sex twin pairs
	middleNameRate   = 0.55
	motherOwnSurname = 0.20 // mother kept a surname the children do not have
	fatherKnown      = 0.70
	fatherOwnSurname = 0.12 // of known fathers where the mother shares the children's surname
	socialCareHomes  = 0.04
)

// childrenPerFamily is the share of families with 1, 2, 3, 4 and 5 children.
var childrenPerFamily = cumulative(5, func(i int) float64 { return []float64{0.42, 0.36, 0.15, 0.05, 0.02}[i] })

// perm walks an affine permutation of [0, mod): identifiers drawn from it
// never collide and do not reveal the order in which people were made.
type perm struct{ mult, add, mod, next uint64 }

func newPerm(r *rand.Rand, mod uint64) *perm {
	q := &perm{mod: mod, add: r.Uint64N(mod)}
	for q.mult == 0 || gcd(q.mult, mod) != 1 {
		q.mult = mod/3 + r.Uint64N(mod/3)
	}
	return q
}

func (q *perm) take() uint64 {
	v := (q.next%q.mod*q.mult + q.add) % q.mod
	q.next++
	return v
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func (p *Population) buildPeople(r *rand.Rand, n int) {
	p.people = make([]person, 0, n)
	p.homes = make([]household, 0, n*10/18+16) // about 1.9 children a family
	nhs := newPerm(r, 200_000_000)             // 600 000 000–799 999 999 is an English issuing range
	serials := map[uint32]uint16{}
	span := int(p.today - p.earliest)
	var births []int32
	for len(p.people) < n {
		hi := int32(len(p.homes))
		p.homes = append(p.homes, p.newHousehold(r))
		h := &p.homes[hi]
		births = births[:0]
		want := 1 + pick(r, childrenPerFamily)
		for len(births) < want {
			d, ok := spacedBirth(r, p.earliest, span, births)
			if !ok {
				break
			}
			births = append(births, d)
		}
		var given []uint16
		for _, dob := range births {
			kids := 1
			if r.Float64() < twinRate {
				kids = 2
			}
			first := len(p.people)
			for k := 0; k < kids && len(p.people) < n; k++ {
				c := person{home: hi, dob: dob, middle: noName, twin: kids == 2}
				c.male = r.IntN(100) < 51
				if k == 1 && r.IntN(3) < 2 { // two in three twin pairs are of one sex
					c.male = p.people[first].male
				}
				t := names(c.male)
				older := given[:len(given)-k]
				if pr := t.pairs[r.IntN(len(t.pairs))]; k == 1 && c.male == p.people[first].male &&
					r.Float64() < similarTwinNames && !contains(older, pr[0]) && !contains(older, pr[1]) {
					p.people[first].given, c.given = pr[0], pr[1]
					given = append(older, pr[0])
				} else {
					for {
						c.given = t.draw(r, yearOf(dob))
						if !contains(given, c.given) {
							break
						}
					}
				}
				given = append(given, c.given)
				if r.Float64() < middleNameRate {
					c.middle = t.drawMiddle(r, c.given)
				}
				c.nhs = nextNHS(nhs)
				p.assignUPN(&c, h, serials)
				p.people = append(p.people, c)
			}
		}
	}
}

// spacedBirth draws a birth date uniformly over the eighteen years, at
// least ten months from a sibling's: the marginal stays uniform.
func spacedBirth(r *rand.Rand, earliest int32, span int, births []int32) (int32, bool) {
try:
	for range 20 {
		d := earliest + int32(r.IntN(span))
		for _, b := range births {
			if d-b < 300 && b-d < 300 {
				continue try
			}
		}
		return d, true
	}
	return 0, false
}

func contains(s []uint16, v uint16) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func nextNHS(q *perm) uint32 {
	var buf [10]byte
	for {
		nine := 600_000_000 + q.take()
		if _, ok := ident.NHSCheckDigit(string(strconv.AppendUint(buf[:0], nine, 10))); ok {
			return uint32(nine)
		}
	}
}

// assignUPN gives a child who has started school the UPN their first school
// allocated on entry to reception: LA, establishment, year, serial.
func (p *Population) assignUPN(c *person, h *household, serials map[uint32]uint16) {
	t := fromDays(c.dob)
	entry := t.Year() + 4
	if t.Month() >= time.September {
		entry++
	}
	if entry > p.acYear {
		return
	}
	c.entry = uint16(entry)
	s := int(h.primary)
	for {
		key := uint32(s)<<8 | uint32(entry%100)
		n := serials[key]
		if n < 999 {
			serials[key] = n + 1
			estab := p.pl.schools[s].estab
			c.upn = uint64(p.la)*1e9 + uint64(estab)*1e5 + uint64(entry%100)*1e3 + uint64(n+1)
			return
		}
		s = (s + 1) % len(p.pl.schools)
	}
}

func (p *Population) newHousehold(r *rand.Rand) household {
	pl := p.pl
	h := household{surname: drawSurname(r)}
	h.mother = adult{given: motherName(r), surname: h.surname}
	motherOwn := r.Float64() < motherOwnSurname
	if motherOwn {
		h.mother.surname = otherSurname(r, h.surname)
	}
	if r.Float64() < fatherKnown || r.IntN(50) == 0 {
		h.father = adult{given: fatherName(r), surname: h.surname}
		if !motherOwn && r.Float64() < fatherOwnSurname {
			h.father.surname = otherSurname(r, h.surname)
		}
	}
	if h.father.given != 0 && r.IntN(50) == 0 { // a father bringing up the children alone
		h.mother = adult{}
	}
	h.mother.phone, h.mother.email = phoneAndEmail(r, 0.95, 0.55)
	h.father.phone, h.father.email = phoneAndEmail(r, 0.85, 0.35)
	h.social = r.Float64() < socialCareHomes
	switch x := r.Float64(); {
	case h.social && x < 0.25:
		h.carerRel = carerFoster
		h.carer = adult{given: motherName(r), surname: otherSurname(r, h.surname)}
	case x < 0.03:
		h.carerRel = carerGrandparent
		sur := h.surname
		if h.mother.given != 0 && r.IntN(2) == 0 {
			sur = h.mother.surname
		}
		h.carer = adult{given: motherName(r), surname: sur}
	case x < 0.08 && h.father.given == 0:
		h.carerRel = carerStepParent
		h.carer = adult{given: fatherName(r), surname: otherSurname(r, h.surname)}
	}
	if h.carerRel != carerNone {
		h.carer.phone, h.carer.email = phoneAndEmail(r, 0.9, 0.2)
	}
	d := pick(r, pl.districtCum)
	h.street = pl.byDistrict[d][r.IntN(len(pl.byDistrict[d]))]
	h.house = uint16(1 + r.IntN(int(pl.streets[h.street].houses)))
	if r.IntN(100) < 8 {
		h.flat = uint8(1 + r.IntN(24))
	}
	if r.Float64() >= 0.6 {
		h.hospital = 1
	}
	h.gp = localOr(r, pl.gpByDistrict[d], len(pl.gps), 0.85)
	h.primary = localOr(r, pl.phase[0][d], 0, 0.8)
	h.second = localOr(r, pl.phase[1][d], 0, 0.7)
	if len(pl.phase[0][d]) == 0 || h.primary == noName {
		h.primary = pl.allPhase[0][r.IntN(len(pl.allPhase[0]))]
	}
	if len(pl.phase[1][d]) == 0 || h.second == noName {
		h.second = pl.allPhase[1][r.IntN(len(pl.allPhase[1]))]
	}
	return h
}

// localOr picks from local with probability pLocal; otherwise from [0, all),
// or noName when all is 0 and the caller chooses.
func localOr(r *rand.Rand, local []uint16, all int, pLocal float64) uint16 {
	if len(local) > 0 && r.Float64() < pLocal {
		return local[r.IntN(len(local))]
	}
	if all == 0 {
		return noName
	}
	return uint16(r.IntN(all))
}

func otherSurname(r *rand.Rand, not surname) surname {
	for {
		s := drawSurname(r)
		if s != not {
			return s
		}
	}
}

// phoneAndEmail draws a mobile number (07 then nine digits, first digit not
// 0 or 6, which are personal and pager ranges) and an email style.
func phoneAndEmail(r *rand.Rand, pPhone, pEmail float64) (uint32, uint8) {
	var phone uint32
	if r.Float64() < pPhone {
		first := []uint32{1, 2, 3, 4, 5, 7, 8, 9}[r.IntN(8)]
		phone = first*100_000_000 + uint32(r.IntN(100_000_000))
	}
	var email uint8
	if r.Float64() < pEmail {
		email = uint8(1 + r.IntN(4))
	}
	return phone, email
}
