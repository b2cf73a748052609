package synth

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"contactpoint/domain/ident"
	"contactpoint/domain/record"
)

// middleShown is how often each system records a middle name the child has:
// leaving it out is a system's habit, not an error.
var middleShown = [numSystems]float64{1, 0.9, 0.6, 0.5, 0.7}

// render builds the record at position i from the child, the record's flags
// and a random stream of its own, so records can be rendered in any order,
// in parallel, and always come out the same.
func (p *Population) render(i int) record.Record {
	rec := &p.recs[i]
	r := rand.New(rand.NewPCG(p.cfg.Seed^0x7265636f7264, uint64(i)))
	c := &p.people[rec.person]
	h := &p.homes[c.home]
	sys := int(rec.sys)
	errs := Errors(rec.flags) & allErrors
	ch := &record.Child{BirthDate: dateString(rec.dob)}

	t := names(c.male)
	given, family := t.list[c.given], h.surname.String()
	if errs&ErrNickname != 0 {
		forms := shortForms[given]
		given = forms[r.IntN(len(forms))]
	}
	if errs&ErrSurname != 0 {
		old := family
		family = changedSurname(r, h.surname)
		if r.IntN(2) == 0 {
			ch.PreviousNames = []record.Name{{Given: t.list[c.given], Family: old}}
		}
	}
	if errs&ErrTypo != 0 {
		if r.IntN(100) < 60 {
			given = typo(r, given)
		} else {
			family = typo(r, family)
		}
	}
	if sys == sysStLukes { // this PAS keeps family names in capitals
		family = strings.ToUpper(family)
		for k := range ch.PreviousNames {
			ch.PreviousNames[k].Family = strings.ToUpper(ch.PreviousNames[k].Family)
		}
	}
	ch.Name = record.Name{Given: given, Family: family}
	if c.middle != noName && r.Float64() < middleShown[sys] {
		ch.Name.Middle = t.list[c.middle]
	}
	if errs&ErrNoGender == 0 {
		ch.Gender = "female"
		if c.male {
			ch.Gender = "male"
		}
	}
	switch {
	case errs&ErrNoAddress != 0:
	case errs&ErrMoved != 0:
		ch.Address = p.movedAddress(r, h, sys)
	default:
		ch.Address = p.address(r, h.street, h.house, h.flat, sys)
	}

	out := record.Record{
		Schema:    record.SchemaID,
		Operation: record.OpUpsert,
		Source: record.Source{
			Agency: systemAgency[sys], System: p.systemName(sys), RecordID: p.recordID(rec),
			UpdatedAt: p.updatedAt(r, c),
		},
		Child: ch,
	}
	switch sys {
	case sysInfirmary, sysStLukes:
		out.Source.Version = strconv.Itoa(1 + r.IntN(40))
		p.health(r, rec, c, h, ch)
	case sysSIMS, sysArbor:
		p.education(r, rec, c, h, ch)
	default:
		out.Consents = p.socialCare(r, rec, c, h, ch)
	}
	return out
}

func (p *Population) health(r *rand.Rand, rec *srcRec, c *person, h *household, ch *record.Child) {
	sys := int(rec.sys)
	ids := &record.Identifiers{NHSNumber: nhsNumber(c, sys == sysInfirmary)}
	if sys == sysInfirmary {
		ids.Local = []record.LocalID{{System: "royal-infirmary-mrn", Value: fmt.Sprintf("M%07d", rec.num)}}
	}
	ch.Identifiers = ids
	if h.mother.given != 0 && r.Float64() < 0.92 {
		ch.Contacts = append(ch.Contacts, p.contact(r, "mother", true, &h.mother, sys, false))
	}
	if h.father.given != 0 && r.Float64() < 0.45 {
		ch.Contacts = append(ch.Contacts, p.contact(r, "father", true, &h.father, sys, false))
	}
	if r.Float64() < 0.97 {
		g := &p.pl.gps[h.gp]
		ch.GPPractice = &record.GPPractice{ODSCode: g.ods, Name: g.name, Phone: g.phone}
	}
	if r.Float64() < 0.10 {
		pool, service := p.pl.schoolNurses, "School nursing"
		if p.today-c.dob < 5*365 {
			pool, service = p.pl.healthVisits, "Health visiting"
		}
		pr := pool[int(c.home)%len(pool)]
		ch.Involvements = append(ch.Involvements, record.Involvement{
			Service: service, Kind: "health", Organisation: p.area + " Community Healthcare NHS Trust",
			Practitioner: &record.Practitioner{Name: pr.name, Role: pr.role, Phone: pr.phone, Email: pr.email},
		})
	}
}

func (p *Population) education(r *rand.Rand, rec *srcRec, c *person, h *household, ch *record.Child) {
	sys := int(rec.sys)
	ids := &record.Identifiers{}
	if c.upn != 0 && r.Float64() >= upnMissing {
		ids.UPN = upnString(c.upn)
	}
	if r.Float64() < nhsInEducation {
		ids.NHSNumber = nhsNumber(c, false)
	}
	if ids.UPN != "" || ids.NHSNumber != "" {
		ch.Identifiers = ids
	}
	if Errors(rec.flags)&ErrNickname == 0 && r.Float64() < 0.05 {
		if forms := shortForms[names(c.male).list[c.given]]; len(forms) > 0 { // "known as"
			ch.Name.Preferred = forms[r.IntN(len(forms))]
		}
	}
	if h.mother.given != 0 {
		ch.Contacts = append(ch.Contacts, p.contact(r, "mother", true, &h.mother, sys, true))
	}
	if h.father.given != 0 && r.Float64() < 0.85 {
		ch.Contacts = append(ch.Contacts, p.contact(r, "father", true, &h.father, sys, true))
	}
	if h.carerRel != carerNone && h.carerRel != carerGrandparent {
		ch.Contacts = append(ch.Contacts, p.contact(r, carerRelationship(h.carerRel), false, &h.carer, sys, true))
	}
	s := p.currentSchool(c)
	sc := &p.pl.schools[s]
	from := int(c.entry)
	if sc.secondary {
		from += 7
	}
	ch.School = &record.School{URN: sc.urn, Name: sc.name, Phone: sc.phone,
		From: fmt.Sprintf("%d-09-%02d", from, 1+int(s)%7)}
}

func (p *Population) socialCare(r *rand.Rand, rec *srcRec, c *person, h *household, ch *record.Child) []record.Consent {
	sys := int(rec.sys)
	if r.Float64() < nhsInSocialCare {
		ch.Identifiers = &record.Identifiers{NHSNumber: nhsNumber(c, r.IntN(2) == 0)}
	}
	if h.mother.given != 0 {
		ch.Contacts = append(ch.Contacts, p.contact(r, "mother", true, &h.mother, sys, r.IntN(2) == 0))
	}
	if h.father.given != 0 {
		ch.Contacts = append(ch.Contacts, p.contact(r, "father", true, &h.father, sys, r.IntN(2) == 0))
	}
	if h.carerRel != carerNone {
		ch.Contacts = append(ch.Contacts, p.contact(r, carerRelationship(h.carerRel), false, &h.carer, sys, r.IntN(2) == 0))
	}
	if c.entry != 0 && r.IntN(2) == 0 {
		sc := &p.pl.schools[p.currentSchool(c)]
		ch.School = &record.School{URN: sc.urn, Name: sc.name, Phone: sc.phone}
	}
	if r.Float64() < 0.3 {
		g := &p.pl.gps[h.gp]
		ch.GPPractice = &record.GPPractice{ODSCode: g.ods, Name: g.name, Phone: g.phone}
	}
	council := p.area + " City Council Children's Services"
	sw := p.pl.socialWorkers[int(c.home)%len(p.pl.socialWorkers)]
	ch.Involvements = append(ch.Involvements, record.Involvement{
		Service: "Children's social care", Kind: "social-care", Organisation: council,
		Practitioner:     &record.Practitioner{Name: sw.name, Role: sw.role, Phone: sw.phone, Email: sw.email},
		LeadProfessional: true, From: p.since(r, c, 1500),
	})
	if r.Float64() < 0.2 {
		eh := p.pl.earlyHelp[int(c.home)%len(p.pl.earlyHelp)]
		ch.Involvements = append(ch.Involvements, record.Involvement{
			Service: "Early help", Kind: "early-help", Organisation: council,
			Practitioner: &record.Practitioner{Name: eh.name, Role: eh.role, Phone: eh.phone, Email: eh.email},
			From:         p.since(r, c, 1000),
		})
	}
	if r.Float64() < 0.3 {
		ch.CAF = &record.CAF{Exists: true, CompletedOn: p.since(r, c, 1500)}
	}
	if rec.flags&markSensitive == 0 {
		return nil
	}
	mh := p.pl.camhs[int(c.home)%len(p.pl.camhs)]
	ch.Involvements = append(ch.Involvements, record.Involvement{
		Service: "Children and young people's mental health service", Kind: "mental-health",
		Organisation: p.area + " Community Healthcare NHS Trust",
		Practitioner: &record.Practitioner{Name: mh.name, Role: mh.role, Phone: mh.phone, Email: mh.email},
		From:         p.since(r, c, 400),
	})
	by := "parent-carer"
	if p.today-c.dob >= 13*365 { // a young person of this age may usually consent for themselves
		by = "young-person"
	}
	return []record.Consent{{Scope: record.ConsentSensitive, GivenBy: by, RecordedBy: sw.name, RecordedAt: *p.updatedAt(r, c)}}
}

// since gives a start date up to maxDays ago, but not before the child's birth.
func (p *Population) since(r *rand.Rand, c *person, maxDays int) string {
	d := p.today - int32(1+r.IntN(maxDays))
	if d < c.dob {
		d = c.dob
	}
	return dateString(d)
}

func carerRelationship(rel uint8) string {
	switch rel {
	case carerGrandparent:
		return "grandparent"
	case carerFoster:
		return "foster-carer"
	default:
		return "step-parent"
	}
}

// changedSurname is the name a child is known by after a change of family:
// a step-parent's surname, or the old one joined to a new one.
func changedSurname(r *rand.Rand, old surname) string {
	other := otherSurname(r, old)
	switch {
	case r.IntN(100) < 55 || old[1] != noName || other[1] != noName:
		return other.String()
	case r.IntN(2) == 0:
		return surnames[old[0]] + "-" + surnames[other[0]]
	default:
		return surnames[other[0]] + "-" + surnames[old[0]]
	}
}

func nhsNumber(c *person, spaced bool) string {
	nine := strconv.FormatUint(uint64(c.nhs), 10)
	check, _ := ident.NHSCheckDigit(nine)
	n := nine + string(check)
	if spaced {
		return n[:3] + " " + n[3:6] + " " + n[6:]
	}
	return n
}

func upnString(body uint64) string {
	b := fmt.Sprintf("%012d", body)
	check, _ := ident.UPNCheckLetter(b)
	return string(check) + b
}

// phoneStyle is each system's house style for a mobile number.
var phoneStyle = [numSystems]int{0, 1, 2, 3, -1}

func formatMobile(r *rand.Rand, nine uint32, style int) string {
	if style < 0 || r.IntN(10) == 0 { // some numbers are typed however the clerk likes
		style = r.IntN(5)
	}
	d := fmt.Sprintf("07%09d", nine)
	switch style {
	case 0:
		return d[:5] + " " + d[5:]
	case 1:
		return "+44 " + d[1:5] + " " + d[5:]
	case 2:
		return d
	case 3:
		return d[:5] + " " + d[5:8] + " " + d[8:]
	default:
		return "(" + d[:5] + ") " + d[5:]
	}
}

func (p *Population) contact(r *rand.Rand, rel string, pr bool, a *adult, sys int, withEmail bool) record.Contact {
	ct := record.Contact{Relationship: rel, ParentalResponsibility: pr, Name: record.Name{Given: a.name(), Family: a.surname.String()}}
	if sys == sysStLukes {
		ct.Name.Family = strings.ToUpper(ct.Name.Family)
	}
	if a.phone != 0 {
		ct.Phone = formatMobile(r, a.phone, phoneStyle[sys])
	}
	if withEmail && a.email != 0 {
		g, f := emailLocal(a.name()), emailLocal(a.surname.String())
		switch a.email {
		case 1:
			ct.Email = g + "." + f + "@example.com"
		case 2:
			ct.Email = g + f + "@example.org"
		case 3:
			ct.Email = fmt.Sprintf("%s.%s%02d@example.net", g, f, a.phone%100)
		default:
			ct.Email = f + "." + g + "@example.com"
		}
	}
	return ct
}

// address renders a household's address in the system's house style: some
// keep the locality as a second line, and postcodes are not always typed in
// standard form.
func (p *Population) address(r *rand.Rand, st int32, house uint16, flat uint8, sys int) *record.Address {
	s := &p.pl.streets[st]
	d := &districts[s.district]
	a := &record.Address{Postcode: p.postcode(s, int(house))}
	if flat != 0 {
		a.Lines = append(a.Lines, "Flat "+strconv.Itoa(int(flat)))
	}
	a.Lines = append(a.Lines, strconv.Itoa(int(house))+" "+s.name)
	if sys == sysStLukes || sys == sysSIMS || (sys == sysSocial && r.IntN(2) == 0) {
		a.Lines = append(a.Lines, d.locality[int(st)%len(d.locality)])
	}
	a.Town = d.town
	if a.Town == "" {
		a.Town = p.area
	}
	switch x := r.IntN(100); {
	case x < 4:
		a.Postcode = strings.ReplaceAll(a.Postcode, " ", "")
	case x < 6:
		a.Postcode = strings.ToLower(a.Postcode)
	}
	return a
}

// movedAddress is a new home, usually nearby, that only this system knows of.
func (p *Population) movedAddress(r *rand.Rand, h *household, sys int) *record.Address {
	pl := p.pl
	d := int(pl.streets[h.street].district)
	if r.IntN(10) < 3 {
		d = pick(r, pl.districtCum)
	}
	st := h.street
	for tries := 0; st == h.street && tries < 10; tries++ {
		st = pl.byDistrict[d][r.IntN(len(pl.byDistrict[d]))]
	}
	if st == h.street {
		st = (st + 1) % int32(len(pl.streets))
	}
	house := uint16(1 + r.IntN(int(pl.streets[st].houses)))
	a := p.address(r, st, house, 0, sys)
	if r.IntN(10) < 6 {
		a.From = dateString(p.today - int32(1+r.IntN(365)))
	}
	return a
}
