package synth

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// district is one postcode district of the pilot area. weight is its share
// of households: the city-centre districts hold few families.
type district struct {
	num      int
	town     string // "" means the area itself
	locality []string
	weight   float64
}

var districts = []district{
	{1, "", []string{"City Centre"}, 0.1}, {2, "", []string{"Woodhouse", "Little London"}, 0.3},
	{3, "", []string{"Burley"}, 0.5}, {4, "", []string{"Kirkstall"}, 0.8},
	{5, "", []string{"Hawksworth"}, 0.7}, {6, "", []string{"Headingley", "Hyde Park", "Meanwood"}, 1.2},
	{7, "", []string{"Chapel Allerton", "Chapeltown"}, 1.3}, {8, "", []string{"Roundhay", "Oakwood", "Harehills"}, 1.6},
	{9, "", []string{"Burmantofts", "Gipton", "Osmondthorpe"}, 1.5}, {10, "", []string{"Hunslet", "Middleton", "Belle Isle"}, 1.6},
	{11, "", []string{"Beeston", "Holbeck"}, 1.5}, {12, "", []string{"Armley", "Wortley", "Farnley"}, 1.6},
	{13, "", []string{"Bramley", "Rodley", "Swinnow"}, 1.3}, {14, "", []string{"Seacroft", "Whinmoor"}, 1.5},
	{15, "", []string{"Crossgates", "Halton", "Colton"}, 1.3}, {16, "", []string{"Adel", "Cookridge", "Holt Park"}, 1.2},
	{17, "", []string{"Moortown", "Alwoodley", "Shadwell"}, 1.2}, {18, "", []string{"Horsforth"}, 0.7},
	{19, "", []string{"Yeadon", "Rawdon"}, 0.6}, {20, "", []string{"Guiseley"}, 0.6},
	{21, "Otley", []string{"Otley", "Pool"}, 0.6}, {22, "Wetherby", []string{"Wetherby"}, 0.5},
	{23, "Wetherby", []string{"Boston Spa", "Bramham"}, 0.4}, {24, "Tadcaster", []string{"Tadcaster"}, 0.3},
	{25, "", []string{"Garforth", "Kippax"}, 0.8}, {26, "", []string{"Rothwell", "Oulton", "Methley"}, 0.8},
	{27, "", []string{"Morley", "Gildersome", "Churwell"}, 1.0}, {28, "Pudsey", []string{"Pudsey", "Farsley", "Calverley"}, 1.0},
	{29, "Ilkley", []string{"Ilkley", "Burley-in-Wharfedale"}, 0.5},
}

// inwardLetters are the letters a postcode's inward code may end in.
const inwardLetters = "ABDEFGHJLNPQRSTUWXYZ"

var streetStems = words(`Elm Oak Ash Beech Birch Cedar Chestnut Hawthorn Holly Laurel Lime Maple
Rowan Sycamore Willow Yew Church Station Mill Park Victoria Albert Queen King
Princess Grange Manor Hall Chapel School Bridge Water Spring Well Moor Heath
Hill Valley Meadow Field Green Wood Brook Beck Lea Fold Croft Ings Carr
Cliff Ridge Bank Priory Abbey Kirk Ashfield Broadway Highfield Westfield
Eastfield Northfield Southfield Greenhill Sandhill Woodhouse Cross Gledhow
Harehills Roundhay Otley Wetherby York Harrogate Bradford Wakefield Selby
Aire Wharfe Calder Nidd Ribble Hyde Cardigan Kelso Bayswater Ebor Beulah
Cowper Dalton Ellers Grosvenor Hanover Hartley Kensington Lucas Marlborough
Mexborough Newport Norwood Pasture Quarry Regent Raglan Stanmore Thornville
Tower Trafalgar Vesper Walmsley Wensley Whitehall Windsor Woodlea Zetland`)

var streetKinds = words(`Road Street Avenue Grove Lane Close Terrace Crescent Drive Way Mount View
Place Gardens Court Walk Rise Row Square Fold Garth Vale`)

// street is one residential street. Postcode units follow the house numbers
// along it, as in real addresses, so that one address always has one postcode.
type street struct {
	name     string
	district uint8
	sector   uint8
	unitBase uint16
	houses   uint16
}

// postcode gives the postcode of a house on s: about sixteen houses share a unit.
func (p *Population) postcode(s *street, house int) string {
	u := (int(s.unitBase) + house/16) % (len(inwardLetters) * len(inwardLetters))
	d := districts[s.district].num
	return fmt.Sprintf("LS%d %d%c%c", d, s.sector, inwardLetters[u/len(inwardLetters)], inwardLetters[u%len(inwardLetters)])
}

// school is a primary or secondary school; mis is the index of the school
// management system whose feed carries its pupils.
type school struct {
	urn       string
	estab     int
	name      string
	phone     string
	district  uint8
	secondary bool
	mis       uint8
}

type gpPractice struct {
	ods, name, phone string
	district         uint8
}

type practitioner struct {
	name, role, phone, email string
}

// places is everything in the area that is shared by many children.
type places struct {
	streets       []street
	byDistrict    [][]int32 // street indices per district
	districtCum   []float64
	schools       []school
	phase         [2][][]uint16 // [secondary][district] school indices
	allPhase      [2][]uint16
	gps           []gpPractice
	gpByDistrict  [][]uint16
	socialWorkers []practitioner
	healthVisits  []practitioner
	schoolNurses  []practitioner
	earlyHelp     []practitioner
	camhs         []practitioner
}

// scaled keeps the pilot's ratios (150 schools, 40 practices for 80,000
// children) for other population sizes.
func scaled(n, per80k, min int) int {
	v := int(int64(n) * int64(per80k) / 80000)
	if v < min {
		return min
	}
	return v
}

func (p *Population) buildPlaces(r *rand.Rand, n int) {
	pl := &places{}
	p.pl = pl
	pl.districtCum = cumulative(len(districts), func(i int) float64 { return districts[i].weight })
	pl.byDistrict = make([][]int32, len(districts))
	nStreets := scaled(n, 9000, 300)
	pl.streets = make([]street, nStreets)
	units := len(inwardLetters) * len(inwardLetters)
	for i := range pl.streets {
		d := pick(r, pl.districtCum)
		s := street{
			name:     streetStems[r.IntN(len(streetStems))] + " " + streetKinds[r.IntN(len(streetKinds))],
			district: uint8(d),
			sector:   uint8(1 + r.IntN(9)),
			unitBase: uint16(r.IntN(units)),
			houses:   uint16(12 + r.IntN(140)),
		}
		pl.streets[i] = s
		pl.byDistrict[d] = append(pl.byDistrict[d], int32(i))
	}
	for d := range pl.byDistrict {
		if len(pl.byDistrict[d]) == 0 { // every district needs somewhere to live
			pl.byDistrict[d] = append(pl.byDistrict[d], int32(r.IntN(nStreets)))
		}
	}
	p.buildSchools(r, n)
	p.buildPractices(r, n)
	p.buildPractitioners(r, n)
}

var primaryForms = []string{"%s Primary School", "%s Primary Academy", "%s Church of England Primary School",
	"%s Community Primary School", "%s Infant and Junior School", "St Mary's Catholic Primary School, %s",
	"St Joseph's Catholic Primary School, %s", "Holy Trinity CE Primary School, %s", "All Saints' Primary School, %s",
	"%s Park Primary School"}
var secondaryForms = []string{"%s High School", "%s Academy", "%s Community College", "%s Grammar School",
	"St John Fisher Catholic High School, %s", "%s School and Sixth Form"}

func (p *Population) buildSchools(r *rand.Rand, n int) {
	pl := p.pl
	nPrimary, nSecondary := scaled(n, 120, 6), scaled(n, 30, 2)
	names := map[string]bool{}
	urns := map[int]bool{}
	for d := range pl.phase {
		pl.phase[d] = make([][]uint16, len(districts))
	}
	for i := 0; i < nPrimary+nSecondary; i++ {
		sec := i >= nPrimary
		d := pick(r, pl.districtCum)
		forms := primaryForms
		if sec {
			forms = secondaryForms
		}
		var name string
		for try := 0; ; try++ {
			loc := districts[d].locality[r.IntN(len(districts[d].locality))]
			name = fmt.Sprintf(forms[r.IntN(len(forms))], loc)
			if try > 20 {
				name = fmt.Sprintf("%s (%d)", name, i)
			}
			if !names[name] {
				break
			}
		}
		names[name] = true
		urn := 0
		for urn == 0 || urns[urn] {
			urn = 100000 + r.IntN(50000)
		}
		urns[urn] = true
		estab := 2000 + i
		if sec {
			estab = 4000 + i - nPrimary
		}
		mis := uint8(0) // SIMS in about two schools of three, Arbor in the rest
		if r.Float64() < 0.35 {
			mis = 1
		}
		ph := 0
		if sec {
			ph = 1
		}
		idx := uint16(len(pl.schools))
		pl.schools = append(pl.schools, school{
			urn: fmt.Sprint(urn), estab: estab % 10000, name: name, phone: p.landline(r),
			district: uint8(d), secondary: sec, mis: mis,
		})
		pl.phase[ph][d] = append(pl.phase[ph][d], idx)
		pl.allPhase[ph] = append(pl.allPhase[ph], idx)
	}
}

var practiceForms = []string{"%s Surgery", "%s Medical Centre", "%s Health Centre", "%s Medical Practice",
	"%s Family Practice", "The %s Practice", "%s Group Practice"}

func (p *Population) buildPractices(r *rand.Rand, n int) {
	pl := p.pl
	pl.gpByDistrict = make([][]uint16, len(districts))
	names := map[string]bool{}
	for i := 0; i < scaled(n, 40, 3); i++ {
		d := pick(r, pl.districtCum)
		var name string
		for try := 0; ; try++ {
			loc := districts[d].locality[r.IntN(len(districts[d].locality))]
			if r.IntN(3) == 0 {
				loc = streetStems[r.IntN(len(streetStems))]
			}
			name = fmt.Sprintf(practiceForms[r.IntN(len(practiceForms))], loc)
			if try > 20 {
				name = fmt.Sprintf("%s (%d)", name, i)
			}
			if !names[name] {
				break
			}
		}
		names[name] = true
		// ODS codes of practices start with the region's letter; B86 is Leeds.
		ods := fmt.Sprintf("B%05d", 86001+i*7%13999)
		pl.gps = append(pl.gps, gpPractice{ods: ods, name: name, phone: p.landline(r), district: uint8(d)})
		pl.gpByDistrict[d] = append(pl.gpByDistrict[d], uint16(i))
	}
}

func (p *Population) buildPractitioners(r *rand.Rand, n int) {
	pl := p.pl
	mk := func(count int, role, domain string, mobile bool) []practitioner {
		out := make([]practitioner, count)
		for i := range out {
			var given string
			if r.IntN(4) == 0 {
				given = fathers[r.IntN(len(fathers))]
			} else {
				given = mothers[r.IntN(len(mothers))]
			}
			family := surnames[r.IntN(len(surnames))]
			phone := p.landline(r)
			if mobile {
				phone = fmt.Sprintf("07700 900%03d", r.IntN(1000))
			}
			out[i] = practitioner{
				name: given + " " + family, role: role, phone: phone,
				email: emailLocal(given) + "." + emailLocal(family) + "@" + domain,
			}
		}
		return out
	}
	council := p.slug + "-council.example"
	pl.socialWorkers = mk(scaled(n, 180, 5), "Social worker", council, true)
	pl.earlyHelp = mk(scaled(n, 40, 2), "Family support worker", council, true)
	pl.healthVisits = mk(scaled(n, 60, 2), "Health visitor", "nhs.example", false)
	pl.schoolNurses = mk(scaled(n, 30, 2), "School nurse", "nhs.example", false)
	pl.camhs = mk(scaled(n, 20, 1), "Mental health practitioner", "nhs.example", false)
}

// landline gives a number in the area's range that Ofcom keeps for drama,
// so no real line is ever named.
func (p *Population) landline(r *rand.Rand) string {
	return fmt.Sprintf("0113 496 0%03d", r.IntN(1000))
}

// emailLocal turns a name into what people put before the @.
func emailLocal(s string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(s) {
		if c >= 'a' && c <= 'z' {
			b.WriteRune(c)
		}
	}
	return b.String()
}
