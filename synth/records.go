package synth

import (
	"fmt"
	"iter"
	"math/rand/v2"
	"time"

	"contactpoint/domain/record"
)

// Coverage of each agency and the identifiers it holds.
const (
	healthCoverage    = 0.98 // of all children
	healthSecond      = 0.06 // of those, also known to the other hospital
	educationCoverage = 0.95 // of children who have started school
	nhsInSocialCare   = 0.70
	nhsInEducation    = 0.10
	upnMissing        = 0.03
	sensitiveRate     = 0.005 // of social care records: a mental-health service, with consent
)

// Agency systems. Each has its own record id format.
const (
	sysInfirmary = iota // "RI-0048213"
	sysStLukes          // "SL00123456"
	sysSIMS             // school URN and admission number, "107945-004512"
	sysArbor            // "ARB-1234567"
	sysSocial           // "1234567"
	numSystems
)

var systemAgency = [numSystems]string{"health", "health", "education", "education", "social-care"}

func (p *Population) systemName(s int) string {
	switch s {
	case sysInfirmary:
		return "royal-infirmary-pas"
	case sysStLukes:
		return "st-lukes-pas"
	case sysSIMS:
		return "sims-" + p.slug
	case sysArbor:
		return "arbor-" + p.slug
	default:
		return "mosaic-" + p.slug
	}
}

var idSpace = [numSystems]uint64{10_000_000, 100_000_000, 1_000_000, 10_000_000, 9_000_000}

// srcRec is one agency system's record about one child, before rendering:
// the rest of what it says follows from the child, the flags and a random
// stream keyed by the record's position.
type srcRec struct {
	person int32
	num    uint32 // the system's own record number
	dob    int32  // the birth date as this system holds it
	flags  uint16 // Errors, plus the marks below
	sys    uint8
}

// Marks on a source record that are not errors.
const (
	markSensitive uint16 = 1 << 14
	markSecond    uint16 = 1 << 15
)

type feedSpan struct{ sys, lo, hi int }

func (p *Population) buildRecords(r *rand.Rand) {
	var bySys [numSystems][]srcRec
	var ids [numSystems]*perm
	n := len(p.people)
	expect := [numSystems]int{n * 6 / 10, n / 2, n * 6 / 10, n * 3 / 10, n / 16}
	for s := range ids {
		ids[s] = newPerm(r, idSpace[s])
		bySys[s] = make([]srcRec, 0, expect[s])
	}
	add := func(s int, person int, c *person, mark uint16) {
		rec := srcRec{person: int32(person), num: uint32(ids[s].take()), sys: uint8(s), flags: mark}
		p.injectErrors(r, &rec, c)
		if s == sysSocial && r.Float64() < sensitiveRate {
			rec.flags |= markSensitive
		}
		bySys[s] = append(bySys[s], rec)
	}
	for i := range p.people {
		c := &p.people[i]
		h := &p.homes[c.home]
		if r.Float64() < healthCoverage {
			add(sysInfirmary+int(h.hospital), i, c, 0)
			if r.Float64() < healthSecond {
				add(sysInfirmary+1-int(h.hospital), i, c, markSecond)
			}
		}
		if c.entry != 0 && r.Float64() < educationCoverage {
			add(sysSIMS+int(p.pl.schools[p.currentSchool(c)].mis), i, c, 0)
		}
		if h.social {
			add(sysSocial, i, c, 0)
		}
	}
	total := 0
	for s := range bySys {
		total += len(bySys[s])
	}
	p.recs = make([]srcRec, 0, total)
	for s := range bySys {
		// Agencies list children in their own order, not household by household.
		recs := bySys[s]
		r.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
		lo := len(p.recs)
		p.recs = append(p.recs, recs...)
		if len(recs) > 0 {
			p.feeds = append(p.feeds, feedSpan{sys: s, lo: lo, hi: len(p.recs)})
		}
	}
}

// currentSchool is the school a child who has started school attends now.
func (p *Population) currentSchool(c *person) uint16 {
	h := &p.homes[c.home]
	if p.acYear-int(c.entry) <= 6 {
		return h.primary
	}
	return h.second
}

// recordID formats the system's own id for rec.
func (p *Population) recordID(rec *srcRec) string {
	switch int(rec.sys) {
	case sysInfirmary:
		return fmt.Sprintf("RI-%07d", rec.num)
	case sysStLukes:
		return fmt.Sprintf("SL%08d", rec.num)
	case sysSIMS:
		c := &p.people[rec.person]
		return fmt.Sprintf("%s-%06d", p.pl.schools[p.currentSchool(c)].urn, rec.num)
	case sysArbor:
		return fmt.Sprintf("ARB-%07d", rec.num)
	default:
		return fmt.Sprintf("%07d", 1_000_000+rec.num)
	}
}

// Feed is one agency system's extract. Records are rendered on demand from
// the compact population, so a feed costs nothing to hold and a record
// costs its allocation only while the caller keeps it. Record, Records,
// Truth and Errors are safe for concurrent use and always give the same
// answer for the same index.
type Feed struct {
	Agency, System string
	pop            *Population
	lo, hi         int
}

// Feeds lists every system's extract: two hospital PAS systems, two school
// management systems and one social care system.
func (p *Population) Feeds() []Feed {
	out := make([]Feed, 0, len(p.feeds))
	for _, f := range p.feeds {
		out = append(out, Feed{Agency: systemAgency[f.sys], System: p.systemName(f.sys), pop: p, lo: f.lo, hi: f.hi})
	}
	return out
}

// Len is the number of records in the feed.
func (f Feed) Len() int { return f.hi - f.lo }

// Record renders the i'th record of the feed.
func (f Feed) Record(i int) record.Record { return f.pop.render(f.lo + i) }

// Records yields every record of the feed in order.
func (f Feed) Records() iter.Seq[record.Record] {
	return func(yield func(record.Record) bool) {
		for i := f.lo; i < f.hi; i++ {
			if !yield(f.pop.render(i)) {
				return
			}
		}
	}
}

// Truth says which child the i'th record is about.
func (f Feed) Truth(i int) TruthRow { return f.pop.truth(f.lo + i) }

// Errors says which deliberate errors the i'th record carries.
func (f Feed) Errors(i int) Errors { return Errors(f.pop.recs[f.lo+i].flags) & allErrors }

func (p *Population) truth(i int) TruthRow {
	rec := &p.recs[i]
	return TruthRow{Agency: systemAgency[rec.sys], System: p.systemName(int(rec.sys)), RecordID: p.recordID(rec), Person: int(rec.person)}
}

func (p *Population) updatedAt(r *rand.Rand, c *person) *time.Time {
	back := int32(1 + r.IntN(730))
	if age := p.today - c.dob; back > age {
		back = age
	}
	if back < 1 {
		back = 1
	}
	t := fromDays(p.today - back).Add(time.Duration(r.IntN(86400)) * time.Second)
	return &t
}
