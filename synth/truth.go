package synth

import (
	"bufio"
	"encoding/csv"
	"io"
	"strconv"

	"contactpoint/domain/record"
)

// TruthRow says which real child a source record is about.
type TruthRow struct {
	Agency, System, RecordID string
	Person                   int // the child's index, 0..Len()-1
}

// Truth lists every source record once, feed by feed in Feeds order.
func (p *Population) Truth() []TruthRow {
	out := make([]TruthRow, len(p.recs))
	for i := range p.recs {
		out[i] = p.truth(i)
	}
	return out
}

// WriteTruthCSV writes Truth as CSV with the header
// agency,system,record_id,person, without holding it all in memory.
func (p *Population) WriteTruthCSV(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	cw := csv.NewWriter(bw)
	if err := cw.Write([]string{"agency", "system", "record_id", "person"}); err != nil {
		return err
	}
	row := make([]string, 4)
	for i := range p.recs {
		t := p.truth(i)
		row[0], row[1], row[2], row[3] = t.Agency, t.System, t.RecordID, strconv.Itoa(t.Person)
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	return bw.Flush()
}

// Person is the truth about one child: what every agency would hold if none
// made a mistake.
type Person struct {
	Index     int
	Household int
	Twin      bool
	Name      record.Name // registered name; Preferred is empty
	BirthDate string
	Gender    string
	NHSNumber string // ten digits, no spaces
	UPN       string // "" before the child starts school
	Address   record.Address
}

// Person returns the truth about child i.
func (p *Population) Person(i int) Person {
	c := &p.people[i]
	h := &p.homes[c.home]
	t := names(c.male)
	out := Person{
		Index: i, Household: int(c.home), Twin: c.twin,
		Name:      record.Name{Given: t.list[c.given], Family: h.surname.String()},
		BirthDate: dateString(c.dob), Gender: "female", NHSNumber: nhsNumber(c, false),
	}
	if c.male {
		out.Gender = "male"
	}
	if c.middle != noName {
		out.Name.Middle = t.list[c.middle]
	}
	if c.upn != 0 {
		out.UPN = upnString(c.upn)
	}
	s := &p.pl.streets[h.street]
	out.Address = record.Address{Postcode: p.postcode(s, int(h.house)), Town: districts[s.district].town}
	if out.Address.Town == "" {
		out.Address.Town = p.area
	}
	if h.flat != 0 {
		out.Address.Lines = append(out.Address.Lines, "Flat "+strconv.Itoa(int(h.flat)))
	}
	out.Address.Lines = append(out.Address.Lines, strconv.Itoa(int(h.house))+" "+s.name)
	return out
}

// Stats summarises a population: how many of each thing, and how many
// records carry each kind of error.
type Stats struct {
	Children, Households, Twins int
	Records                     map[string]int // by system
	SecondHealthRecords         int            // children known to both hospitals
	Sensitive                   int            // social care records with a consented sensitive service
	Errors                      map[string]int // by Errors.String of a single kind
}

// Stats counts the population.
func (p *Population) Stats() Stats {
	s := Stats{Children: len(p.people), Households: len(p.homes), Records: map[string]int{}, Errors: map[string]int{}}
	for i := range p.people {
		if p.people[i].twin {
			s.Twins++
		}
	}
	for _, f := range p.feeds {
		s.Records[p.systemName(f.sys)] += f.hi - f.lo
	}
	for i := range p.recs {
		fl := p.recs[i].flags
		if fl&markSecond != 0 {
			s.SecondHealthRecords++
		}
		if fl&markSensitive != 0 {
			s.Sensitive++
		}
		for _, k := range ErrorKinds() {
			if Errors(fl)&k != 0 {
				s.Errors[k.String()]++
			}
		}
	}
	return s
}
