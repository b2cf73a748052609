package synth

import (
	"math/rand/v2"
	"strings"
	"time"
)

// Errors is the set of deliberate errors in one source record.
type Errors uint16

// The kinds of error a source record may carry.
const (
	ErrTypo      Errors = 1 << iota // a keying error in the given or family name
	ErrNickname                     // a short form in place of the registered given name
	ErrSurname                      // a changed family name (step-parent's, or double-barrelled)
	ErrDOBSwap                      // day and month swapped in the birth date
	ErrDOBDigit                     // one digit of the birth date wrong
	ErrMoved                        // an address the child's household moved to, known to this system only
	ErrNoGender                     // gender left out
	ErrNoAddress                    // address left out

	allErrors = ErrTypo | ErrNickname | ErrSurname | ErrDOBSwap | ErrDOBDigit | ErrMoved | ErrNoGender | ErrNoAddress
)

var errorNames = []struct {
	e    Errors
	name string
}{
	{ErrTypo, "typo"}, {ErrNickname, "nickname"}, {ErrSurname, "surname"}, {ErrDOBSwap, "dob-swap"},
	{ErrDOBDigit, "dob-digit"}, {ErrMoved, "moved"}, {ErrNoGender, "no-gender"}, {ErrNoAddress, "no-address"},
}

// ErrorKinds lists each kind of error once, in a fixed order.
func ErrorKinds() []Errors {
	out := make([]Errors, len(errorNames))
	for i, en := range errorNames {
		out[i] = en.e
	}
	return out
}

func (e Errors) String() string {
	var parts []string
	for _, en := range errorNames {
		if e&en.e != 0 {
			parts = append(parts, en.name)
		}
	}
	return strings.Join(parts, "+")
}

// Rate is the chance that a source record eligible for the error carries
// it. A nickname needs a given name with a common short form; a day/month
// swap needs a day of 12 or less that differs from the month.
func Rate(e Errors) float64 {
	switch e {
	case ErrTypo:
		return 0.03
	case ErrNickname:
		return 0.04
	case ErrSurname:
		return 0.02
	case ErrDOBSwap:
		return 0.005
	case ErrDOBDigit:
		return 0.003
	case ErrMoved:
		return 0.05
	case ErrNoGender, ErrNoAddress:
		return 0.01
	}
	return 0
}

// NicknameEligible reports whether a registered given name has a common
// short form that an agency might record instead.
func NicknameEligible(given string) bool { return len(shortForms[given]) > 0 }

// SwapEligible reports whether swapping day and month of a birth date gives
// another real, different date.
func SwapEligible(dob time.Time) bool { return dob.Day() <= 12 && dob.Day() != int(dob.Month()) }

// injectErrors decides, at generation time, which errors rec carries. The
// birth date errors are worked out here, so that a date the schema would
// refuse (in the future, or over eighteen years ago) is never chosen.
func (p *Population) injectErrors(r *rand.Rand, rec *srcRec, c *person) {
	var e Errors
	rec.dob = c.dob
	hit := func(k Errors) bool { return r.Float64() < Rate(k) }
	if hit(ErrTypo) {
		e |= ErrTypo
	}
	if NicknameEligible(names(c.male).list[c.given]) && hit(ErrNickname) {
		e |= ErrNickname
	}
	if hit(ErrSurname) {
		e |= ErrSurname
	}
	dob := fromDays(c.dob)
	if SwapEligible(dob) && hit(ErrDOBSwap) {
		swapped := time.Date(dob.Year(), time.Month(dob.Day()), int(dob.Month()), 0, 0, 0, 0, time.UTC)
		if d := toDays(swapped); p.plausibleDOB(d) {
			rec.dob, e = d, e|ErrDOBSwap
		}
	}
	if hit(ErrDOBDigit) {
		if d, ok := p.digitOff(r, rec.dob); ok {
			rec.dob, e = d, e|ErrDOBDigit
		}
	}
	if hit(ErrNoAddress) {
		e |= ErrNoAddress
	} else if hit(ErrMoved) {
		e |= ErrMoved
	}
	if hit(ErrNoGender) {
		e |= ErrNoGender
	}
	rec.flags |= uint16(e)
}

func (p *Population) plausibleDOB(d int32) bool { return d >= p.earliest && d < p.today }

// digitOff mis-keys one digit of the date: mostly the day, sometimes the
// month or the last digit of the year, usually to a neighbouring digit.
func (p *Population) digitOff(r *rand.Rand, d int32) (int32, bool) {
	s := []byte(dateString(d))
	for range 20 {
		b := append([]byte(nil), s...)
		pos := []int{3, 6, 8, 9, 9, 9}[r.IntN(6)]
		delta := byte(1)
		if r.IntN(3) == 0 {
			delta = byte(1 + r.IntN(9))
		}
		if r.IntN(2) == 0 {
			b[pos] = '0' + (b[pos]-'0'+delta)%10
		} else {
			b[pos] = '0' + (b[pos]-'0'+10-delta)%10
		}
		t, err := time.Parse(time.DateOnly, string(b))
		if err != nil {
			continue
		}
		if nd := toDays(t); nd != d && p.plausibleDOB(nd) {
			return nd, true
		}
	}
	return 0, false
}

// keyboard lists the keys next to each letter on a UK QWERTY keyboard.
var keyboard = map[byte]string{
	'q': "wa", 'w': "qes", 'e': "wrd", 'r': "etf", 't': "ryg", 'y': "tuh", 'u': "yij", 'i': "uok",
	'o': "ipl", 'p': "ol", 'a': "qsz", 's': "adwx", 'd': "sfex", 'f': "dgrc", 'g': "fhtv", 'h': "gjyb",
	'j': "hkun", 'k': "jlim", 'l': "kop", 'z': "asx", 'x': "zsdc", 'c': "xdfv", 'v': "cfgb", 'b': "vghn",
	'n': "bhjm", 'm': "njk",
}

func isLower(c byte) bool { return c >= 'a' && c <= 'z' }

// typo makes one keying error in s: two letters transposed, a letter
// dropped or doubled, or a neighbouring key struck. The first letter is
// left alone, as people rarely get it wrong.
func typo(r *rand.Rand, s string) string {
	for range 30 {
		if len(s) < 3 {
			return s + s[len(s)-1:]
		}
		i := 1 + r.IntN(len(s)-1)
		if !isLower(s[i]) {
			continue
		}
		var out string
		switch r.IntN(4) {
		case 0:
			if i+1 >= len(s) || !isLower(s[i+1]) || s[i] == s[i+1] {
				continue
			}
			out = s[:i] + string(s[i+1]) + string(s[i]) + s[i+2:]
		case 1:
			out = s[:i] + s[i+1:]
		case 2:
			out = s[:i+1] + s[i:]
		default:
			keys := keyboard[s[i]]
			out = s[:i] + string(keys[r.IntN(len(keys))]) + s[i+1:]
		}
		if out != s {
			return out
		}
	}
	return s + s[len(s)-1:]
}
