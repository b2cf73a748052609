package match

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// specialFold covers letters that Unicode does not decompose into a base
// letter plus a mark, so stripping marks alone would leave them (or drop them).
var specialFold = map[rune]string{
	'ß': "ss", 'æ': "ae", 'Æ': "ae", 'œ': "oe", 'Œ': "oe", 'ø': "o", 'Ø': "o",
	'ł': "l", 'Ł': "l", 'đ': "d", 'Đ': "d", 'ð': "d", 'Ð': "d", 'þ': "th", 'Þ': "th",
	'ı': "i", 'ŀ': "l", 'Ŀ': "l", 'ħ': "h", 'Ħ': "h",
}

// isApostrophe reports the characters people type inside names such as
// O'Brien; they are removed rather than turned into a space so that O'Brien,
// O’Brien and OBrien are one name.
func isApostrophe(r rune) bool {
	switch r {
	case '\'', '’', '‘', '`', '´', 'ʼ', 'ʻ':
		return true
	}
	return false
}

// NormaliseName folds a name to lower case, strips diacritics (é→e), removes
// apostrophes and turns every other run of punctuation, digits or spacing
// into one space: "  O’Brien-SMITH " → "obrien smith". Agencies key names
// differently; matching must not see those differences.
func NormaliseName(s string) string {
	if isPlainASCII(s) {
		return normaliseASCIIName(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	emit := func(r rune) {
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	latin := false // whether the last letter was Latin
	// Lower-casing first, and on valid UTF-8 only, means every letter is
	// fully decomposed before its marks are judged; otherwise a second call
	// could strip a mark the first one kept.
	for _, r := range norm.NFD.String(strings.ToLower(strings.ToValidUTF8(s, " "))) {
		switch {
		case isApostrophe(r):
		case unicode.Is(unicode.Mn, r):
			// A combining mark on a Latin letter is a diacritic (é→e); on
			// other scripts it can be part of the letter (Cyrillic й), so it
			// stays and the result is recomposed below.
			if !latin && b.Len() > 0 && !space {
				b.WriteRune(r)
			}
		case specialFold[r] != "":
			latin = true
			for _, x := range specialFold[r] {
				emit(x)
			}
		case unicode.IsLetter(r):
			latin = unicode.Is(unicode.Latin, r)
			l := unicode.ToLower(r)
			if f, ok := specialFold[l]; ok {
				for _, x := range f {
					emit(x)
				}
				continue
			}
			emit(l)
		default:
			space = true
		}
	}
	return norm.NFC.String(b.String())
}

func isPlainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// normaliseASCIIName is the allocation-light path taken by almost every name.
func normaliseASCIIName(s string) string {
	buf := make([]byte, 0, len(s))
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
			fallthrough
		case c >= 'a' && c <= 'z':
			if space && len(buf) > 0 {
				buf = append(buf, ' ')
			}
			space = false
			buf = append(buf, c)
		case c == '\'' || c == '`':
		default:
			space = true
		}
	}
	return string(buf)
}

// joinTokens removes the spaces NormaliseName leaves between parts, so that
// "Smith-Jones", "Smith Jones" and "SmithJones" compare equal as a whole.
func joinTokens(s string) string {
	if strings.IndexByte(s, ' ') < 0 {
		return s
	}
	return strings.ReplaceAll(s, " ", "")
}

// NormalisePostcode returns a UK postcode in its canonical form ("LS6 2AB")
// together with its sector ("LS6 2") and district ("LS6"). Input may be in
// any case, with or without the space. A string that is not shaped like a
// postcode comes back compacted and upper-cased with empty sector and
// district, so it can still match itself exactly.
func NormalisePostcode(s string) (full, sector, district string) {
	var buf [16]byte
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		default:
			continue
		}
		if n == len(buf) {
			return "", "", ""
		}
		buf[n] = c
		n++
	}
	p := buf[:n]
	// NHS pseudo-postcodes (ZZ99 3VZ no fixed abode, ZZ99 3WZ not known,
	// ZZ99 xxx a country abroad) are shared by every child so recorded:
	// agreeing on one says nothing about being the same child.
	if n >= 4 && string(p[:4]) == "ZZ99" {
		return "", "", ""
	}
	// The inward code is always digit-letter-letter; the outward code is 2–4
	// characters starting with a letter.
	if n < 5 || n > 7 || !isLetter(p[0]) || !isDigit(p[n-3]) || !isLetter(p[n-2]) || !isLetter(p[n-1]) {
		return string(p), "", ""
	}
	out := string(p[:n-3])
	full = out + " " + string(p[n-3:])
	return full, full[:len(out)+2], out
}

func isLetter(c byte) bool { return c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

// NormalisePhone reduces a phone number to the digits a UK caller would dial
// ("+44 (0)7700 900123" → "07700900123"), so that international and national
// forms of one number are equal. Numbers from other countries keep a leading
// "+". Anything too short to be a number returns "".
func NormalisePhone(s string) string {
	var buf [24]byte
	n := 0
	plus := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '+' && n == 0 {
			plus = true
			continue
		}
		if !isDigit(c) {
			continue
		}
		if n == len(buf) {
			return ""
		}
		buf[n] = c
		n++
	}
	d := buf[:n]
	if !plus && len(d) > 2 && d[0] == '0' && d[1] == '0' {
		d, plus = d[2:], true
	}
	if plus {
		if len(d) > 2 && d[0] == '4' && d[1] == '4' {
			d = d[2:]
			if len(d) > 0 && d[0] == '0' {
				d = d[1:] // the "(0)" people write after +44
			}
			if len(d) < 9 {
				return ""
			}
			return "0" + string(d)
		}
		if len(d) < 7 {
			return ""
		}
		return "+" + string(d)
	}
	if len(d) < 7 {
		return ""
	}
	return string(d)
}

// addressAbbrev maps street-type words to the Royal Mail abbreviation so that
// "Elm Road" and "Elm Rd" are the same line.
var addressAbbrev = map[string]string{
	"street": "st", "road": "rd", "avenue": "ave", "av": "ave", "lane": "ln", "drive": "dr",
	"close": "cl", "court": "ct", "crescent": "cres", "place": "pl", "gardens": "gdns",
	"terrace": "ter", "terr": "ter", "grove": "gr", "square": "sq", "park": "pk",
	"mount": "mt", "north": "n", "south": "s", "east": "e", "west": "w",
	"apartment": "flat", "apt": "flat", "flt": "flat", "house": "ho", "cottages": "cotts",
	"walk": "wlk", "way": "way", "view": "vw", "hill": "hl", "green": "grn",
}

// NormaliseAddressLine normalises the first line of an address: lower case,
// no punctuation, street types abbreviated ("14, Elm Grove." → "14 elm gr").
// Digits are kept because the house number is the most telling part.
func NormaliseAddressLine(s string) string {
	if s == "" {
		return ""
	}
	var b strings.Builder
	b.Grow(len(s))
	tok := make([]byte, 0, 16)
	flush := func() {
		if len(tok) == 0 {
			return
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		if a, ok := addressAbbrev[string(tok)]; ok {
			b.WriteString(a)
		} else {
			b.Write(tok)
		}
		tok = tok[:0]
	}
	src := s
	if !isPlainASCII(s) {
		src = foldDiacritics(s)
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c >= 'A' && c <= 'Z':
			tok = append(tok, c+'a'-'A')
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			// A house number written "14a" stays one token.
			tok = append(tok, c)
		case c == '\'':
		default:
			flush()
		}
	}
	flush()
	return b.String()
}

// foldDiacritics strips combining marks and folds the letters Unicode does
// not decompose, leaving everything else (digits, punctuation) in place.
func foldDiacritics(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
		case specialFold[r] != "":
			b.WriteString(specialFold[r])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
