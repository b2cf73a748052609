package match

import "strconv"

// BlockingKeys returns the keys under which a record is filed so that the
// linker compares it only with records sharing at least one key. The keys
// are chosen so that a true match survives any two errors — a wrong or
// misspelt given name, family name, postcode, date-of-birth digit, swapped
// day and month, a nickname, a changed surname, a move, a missing address
// or identifier — in at least one key:
//
//	n|NHS                         same NHS number
//	u|UPN                         same UPN
//	dn|YYYYMMDD|code              date of birth + the family phonetic, and
//	                              date of birth + each given-root phonetic,
//	                              as one kind: names swapped and one misspelt
//	sn|YYYYMMDD|name|name         date of birth + the given and family codes
//	                              sorted: names recorded the wrong way round
//	hd|sector|YYYYMMDD            postcode sector + date of birth: both names
//	                              wrong, and the postcode's unit mistyped too
//	di|district|YYYYMMDD|letter   postcode district + date of birth + the
//	                              first letter of the family or the given
//	                              name: both names misspelt and the sector
//	                              mistyped too
//	ad|address|YYYYMMDD           first address line + date of birth, for an
//	                              address with no postcode (no fixed abode,
//	                              a site, abroad)
//	cd|carer|YYYYMMDD             a parent's or carer's name + date of birth:
//	                              the child renamed or misspelt, and moved
//	sc|sector|name|name           postcode sector + the given and family codes
//	                              sorted: the date wrong and the unit mistyped
//	pg|postcode|given             postcode + given root: the date and family
//	                              name both wrong
//	pf|postcode|family|YYYY       postcode + family phonetic + birth year, and
//	pm|postcode|family|MMDD       + day and month: the given name and one
//	                              part of the date both wrong
//	sf|YYYY|lo|hi|family          year, day and month as an unordered pair,
//	                              + family phonetic (day ≤ 12): a record with
//	                              day and month swapped files the same key
//	ss|YYYY|lo|hi|name|name       the same + both name codes sorted: the date
//	                              swapped and the names the wrong way round
//	ym|name|name|YYYYMM           family + given phonetic (sorted) + year and month (day wrong)
//	yd|name|name|YYYY|DD          family + given phonetic (sorted) + year and day (month wrong)
//	fd|name|name|MMDD             family + given phonetic (sorted) + day and month (year wrong)
//
// "family" runs over the phonetic codes of the whole family name and of each
// part of a double-barrelled one (at most three), "given" over the codes of
// the given name's nickname roots (at most two), so "Liz Smith-Jones" meets
// "Elizabeth Jones". A record yields at most a few dozen keys, usually about
// fifteen; they are ASCII, prefixed by kind, and hashed by the linker before
// they are kept, so no raw name or address is held in a key.
//
// Cost stays linear in the number of records as long as every key's block
// is bounded: each record is then compared with at most keys × cap others.
// Every key holds the full date of birth, or two of its three parts, or a
// household (postcode, address, carer): none pairs a name with the year
// alone, whose blocks would grow with the area. A few values are common
// even so (a popular surname code with a popular first name born in one
// month of one year, a large hostel's postcode). The caller must cap blocks,
// for example by skipping keys whose block holds more than a few hundred
// records; the other keys still find true matches.
func BlockingKeys(f *Features) []string {
	keys := make([]string, 0, 20)
	if f.NHS != "" {
		keys = append(keys, "n|"+f.NHS)
	}
	if f.UPN != "" {
		keys = append(keys, "u|"+f.UPN)
	}
	givens := f.RootCodes
	families := f.FamilyCodes
	year := ""
	if f.BirthDate != "" {
		year = f.BirthDate[:4]
	}
	if f.BirthDate != "" {
		// One kind for both fields: a name code is filed whichever field
		// holds it, so that names keyed the wrong way round, one of them
		// misspelt too, still meet on the name spelt right.
		for _, c := range families {
			keys = append(keys, "dn|"+f.BirthDate+"|"+c)
		}
		for _, c := range givens {
			if !contains(families, c) {
				keys = append(keys, "dn|"+f.BirthDate+"|"+c)
			}
		}
		if f.GivenCode != "" && f.FamilyCode != "" {
			lo, hi := f.GivenCode, f.FamilyCode
			if hi < lo {
				lo, hi = hi, lo
			}
			keys = append(keys, "sn|"+f.BirthDate+"|"+lo+"|"+hi)
		}
		if f.Sector != "" {
			// The sector rather than the full postcode: the unit's two
			// letters are the postcode's most often mistyped part, and a
			// sector's children born on one day are still a handful.
			keys = append(keys, "hd|"+f.Sector+"|"+f.BirthDate)
			// Both names misspelt and the sector mistyped too: the
			// district, the date and the first letter of either name (a
			// slip seldom changes the first letter; one kind for both
			// fields, so that swapped names meet). A district's children
			// born on one day with one initial are a handful, bounded by
			// the district, not the area.
			if f.District != "" {
				var done byte
				for _, n := range [2]string{f.Family, f.Given} {
					if n != "" && n[0] != done {
						keys = append(keys, "di|"+f.District+"|"+f.BirthDate+"|"+n[:1])
						done = n[0]
					}
				}
			}
		} else if f.AddressLine != "" {
			keys = append(keys, "ad|"+f.AddressLine+"|"+f.BirthDate)
		}
		for i, c := range f.Carers {
			if i == 2 {
				break
			}
			if c.Given != "" && c.Family != "" {
				keys = append(keys, "cd|"+NYSIIS(c.Given)+"|"+NYSIIS(c.Family)+"|"+f.BirthDate)
			}
		}
		if f.Day <= 12 && f.Day != f.Month {
			lo, hi := min(f.Day, f.Month), max(f.Day, f.Month)
			pair := year + "|" + two(lo) + "|" + two(hi)
			for _, fc := range families {
				keys = append(keys, "sf|"+pair+"|"+fc)
			}
			// and with both name codes sorted, for names also the wrong way
			// round (a given code alone would fill blocks with the area's size)
			if f.GivenCode != "" && f.FamilyCode != "" {
				lo, hi := f.GivenCode, f.FamilyCode
				if hi < lo {
					lo, hi = hi, lo
				}
				keys = append(keys, "ss|"+pair+"|"+lo+"|"+hi)
			}
		}
	}
	if f.Sector != "" && f.GivenCode != "" && f.FamilyCode != "" {
		lo, hi := f.GivenCode, f.FamilyCode
		if hi < lo {
			lo, hi = hi, lo
		}
		keys = append(keys, "sc|"+f.Sector+"|"+lo+"|"+hi)
	}
	if f.Postcode != "" {
		for _, gc := range givens {
			keys = append(keys, "pg|"+f.Postcode+"|"+gc)
		}
		if year != "" && f.FamilyCode != "" {
			keys = append(keys, "pf|"+f.Postcode+"|"+f.FamilyCode+"|"+year, "pm|"+f.Postcode+"|"+f.FamilyCode+"|"+f.BirthDate[4:])
		}
	}
	if year != "" {
		// Each of these keeps two of the date's three parts, never one:
		// names with the year alone fill blocks in proportion to the area's
		// size, and the cost of a record would grow with it.
		ym, md := f.BirthDate[:6], f.BirthDate[4:]
		yd := year + "|" + f.BirthDate[6:]
		// The two codes go in sorted order, so that names recorded the
		// wrong way round still meet when the date is wrong too.
		for _, fc := range families {
			for _, gc := range givens {
				names := fc + "|" + gc
				if gc < fc {
					names = gc + "|" + fc
				}
				keys = append(keys, "ym|"+names+"|"+ym, "yd|"+names+"|"+yd, "fd|"+names+"|"+md)
			}
		}
	}
	return keys
}

func two(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}
