package synth

import (
	"math/rand/v2"
	"sort"
	"strings"
	"time"
)

// Defaults for a zero Config.
const (
	DefaultChildren = 80000
	DefaultArea     = "Leeds"
)

// Config says what population to make.
type Config struct {
	Children int       // default DefaultChildren
	Seed     uint64    // same seed, Children, Today and Area => byte-identical output
	Today    time.Time // reference date (its UTC calendar day); zero means the current day
	Area     string    // label used in towns, organisation names and system names; default DefaultArea
}

// Population is a generated area: households, children, the places they
// share, and the source records each agency system holds about them. It
// keeps people in a compact form and renders records on demand, so 800,000
// children fit in well under a hundred megabytes.
type Population struct {
	cfg      Config
	area     string
	slug     string
	la       int   // local authority code, the first three digits of every UPN
	today    int32 // days since 1970-01-01
	earliest int32 // first birth date allowed
	acYear   int   // calendar year in which the current school year began
	pl       *places
	homes    []household
	people   []person
	recs     []srcRec // grouped by system, shuffled within it
	feeds    []feedSpan
}

// noName marks an absent name index.
const noName = 0xFFFF

// surname is one or two indices into surnames: two make a double-barrelled name.
type surname [2]uint16

func (s surname) String() string {
	if s[1] == noName {
		return surnames[s[0]]
	}
	return surnames[s[0]] + "-" + surnames[s[1]]
}

type adult struct {
	given   uint16 // index into adultNames; 0 when there is no such adult
	surname surname
	phone   uint32 // the nine digits after "07"; 0 when none is known
	email   uint8  // 0: none; otherwise the style of address
}

// adultNames holds the parents' generation's given names behind index 0,
// which means "nobody", so households hold no pointers for the GC to scan.
var adultNames = append(append([]string{""}, mothers...), fathers...)

func (a *adult) name() string { return adultNames[a.given] }

func motherName(r *rand.Rand) uint16 { return uint16(1 + pick(r, motherCum)) }

func fatherName(r *rand.Rand) uint16 { return uint16(1 + len(mothers) + pick(r, fatherCum)) }

// Carers beyond the parents.
const (
	carerNone = iota
	carerGrandparent
	carerFoster
	carerStepParent
)

type household struct {
	surname  surname
	mother   adult
	father   adult // given is 0 when no father is known
	carer    adult
	carerRel uint8
	street   int32
	house    uint16
	flat     uint8 // 0: a house
	hospital uint8 // which hospital PAS the family mostly uses
	gp       uint16
	primary  uint16
	second   uint16
	social   bool
}

// person is one child, compactly.
type person struct {
	home   int32
	dob    int32
	nhs    uint32 // first nine digits of the NHS number
	upn    uint64 // the twelve digits after the UPN check letter; 0 when none
	given  uint16 // index into boys or girls
	middle uint16
	entry  uint16 // calendar year the child started school (reception); 0 if not yet
	male   bool
	twin   bool
}

// Generate makes the population described by cfg. The same cfg always gives
// the same population.
func Generate(cfg Config) *Population {
	if cfg.Children <= 0 {
		cfg.Children = DefaultChildren
	}
	if cfg.Today.IsZero() {
		cfg.Today = time.Now()
	}
	if strings.TrimSpace(cfg.Area) == "" {
		cfg.Area = DefaultArea
	}
	y, m, d := cfg.Today.UTC().Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	p := &Population{
		cfg:      cfg,
		area:     strings.TrimSpace(cfg.Area),
		slug:     slugify(cfg.Area),
		today:    toDays(today),
		earliest: toDays(today.AddDate(-18, 0, 0)) + 1,
		acYear:   y,
	}
	if m < time.September {
		p.acYear--
	}
	p.la = 383 // Leeds
	if p.area != DefaultArea {
		p.la = 201 + int(fnv(p.slug)%700)
	}
	r := rand.New(rand.NewPCG(cfg.Seed, 0x5eed0fc41d5))
	p.buildPlaces(r, cfg.Children)
	p.buildPeople(r, cfg.Children)
	p.buildRecords(r)
	return p
}

// Len is the number of children.
func (p *Population) Len() int { return len(p.people) }

// Today is the reference day the population was made for.
func (p *Population) Today() time.Time { return fromDays(p.today) }

// slugify makes a label fit the schema's system-name pattern.
func slugify(s string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(s) {
		switch {
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
			b.WriteRune(c)
			dash = false
		case b.Len() > 0 && !dash:
			b.WriteByte('-')
			dash = true
		}
	}
	out := strings.TrimRight(b.String(), "-")
	if len(out) > 20 {
		out = strings.TrimRight(out[:20], "-")
	}
	if out == "" {
		out = "area"
	}
	return out
}

func fnv(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

func toDays(t time.Time) int32 { return int32(t.Unix() / 86400) }

func fromDays(d int32) time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

func dateString(d int32) string { return fromDays(d).Format(time.DateOnly) }

// cumulative turns n weights into a running total for pick.
func cumulative(n int, w func(int) float64) []float64 {
	c := make([]float64, n)
	sum := 0.0
	for i := range c {
		sum += w(i)
		c[i] = sum
	}
	return c
}

func pick(r *rand.Rand, cum []float64) int {
	x := r.Float64() * cum[len(cum)-1]
	i := sort.SearchFloat64s(cum, x)
	if i >= len(cum) {
		i = len(cum) - 1
	}
	return i
}

// rankWeights gives popularity-ordered lists a long tail: with offset 12 the
// first name is drawn about five times as often as the fiftieth, and the top
// given name goes to about 3% of children, as in the national lists.
func rankWeights(n, offset int) []float64 {
	return cumulative(n, func(i int) float64 { return 1 / float64(i+offset) })
}
