package match

import "strconv"

// BlockingKeys returns the keys under which a record is filed so that the
// linker compares it only with records sharing at least one key. The keys
// are chosen so that a true match survives any single error — a wrong given
// name, family name, postcode, date-of-birth digit, swapped day and month,
// missing identifier — in at least one key:
//
//	n|NHS                         same NHS number
//	u|UPN                         same UPN
//	df|YYYYMMDD|family            date of birth + family phonetic
//	dg|YYYYMMDD|given             date of birth + given-root phonetic
//	pg|postcode|given|YYYY        postcode + given root + birth year
//	sf|YYYY|lo|hi|family          year, day and month as an unordered pair,
//	                              + family phonetic (day ≤ 12): a record with
//	                              day and month swapped files the same key
//	ym|family|given|YYYYMM        family + given phonetic + year and month (day wrong)
//	yd|family|given|YYYY|DD       family + given phonetic + year and day (month wrong)
//	fd|family|given|MMDD          family + given phonetic + day and month (year wrong)
//
// "family" runs over the phonetic codes of the whole family name and of each
// part of a double-barrelled one (at most three), "given" over the codes of
// the given name's nickname roots (at most two), so "Liz Smith-Jones" meets
// "Elizabeth Jones". A record yields at most a few dozen keys, usually about
// ten; they are ASCII, prefixed by kind, and contain no raw name.
//
// Cost stays linear in the number of records as long as every key's block
// is bounded: each record is then compared with at most keys × cap others.
// Most keys are selective by construction (a date of birth alone is shared
// by 1 in 6,570 children; with a family code by far fewer), but a few values
// are common (a popular surname code with a popular first name born in
// one month of one year). The caller must cap blocks, for example by skipping keys whose
// block holds more than a few hundred records, or by comparing against only
// the most recently seen members; the other keys still find true matches.
func BlockingKeys(f *Features) []string {
	keys := make([]string, 0, 12)
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
		for _, fc := range families {
			keys = append(keys, "df|"+f.BirthDate+"|"+fc)
		}
		for _, gc := range givens {
			keys = append(keys, "dg|"+f.BirthDate+"|"+gc)
		}
		if f.Day <= 12 && f.Day != f.Month {
			lo, hi := min(f.Day, f.Month), max(f.Day, f.Month)
			pair := year + "|" + two(lo) + "|" + two(hi)
			for _, fc := range families {
				keys = append(keys, "sf|"+pair+"|"+fc)
			}
		}
	}
	if f.Postcode != "" && year != "" {
		for _, gc := range givens {
			keys = append(keys, "pg|"+f.Postcode+"|"+gc+"|"+year)
		}
	}
	if year != "" {
		// Each of these keeps two of the date's three parts, never one:
		// names with the year alone fill blocks in proportion to the area's
		// size, and the cost of a record would grow with it.
		ym, md := f.BirthDate[:6], f.BirthDate[4:]
		yd := year + "|" + f.BirthDate[6:]
		for _, fc := range families {
			for _, gc := range givens {
				keys = append(keys, "ym|"+fc+"|"+gc+"|"+ym, "yd|"+fc+"|"+gc+"|"+yd, "fd|"+fc+"|"+gc+"|"+md)
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
