package match

// NYSIIS returns the New York State Identification and Intelligence System
// phonetic code of a name (Taft, 1970), without the original six-character
// truncation, which throws away too much of long British surnames. It was
// designed for exactly this job, matching personal names across records,
// and on surnames it is more selective than Soundex. The rules and their
// order follow the widely used Apache Commons Codec implementation, so codes
// can be checked against published values.
//
// Only the ASCII letters of s count; callers pass NormaliseName output.
func NYSIIS(s string) string {
	var buf [64]byte
	n := 0
	for i := 0; i < len(s) && n < len(buf); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c >= 'A' && c <= 'Z' {
			buf[n] = c
			n++
		}
	}
	if n == 0 {
		return ""
	}
	w := buf[:n]

	// Prefixes.
	switch {
	case hasPrefix(w, "MAC"):
		w[1] = 'C'
	case hasPrefix(w, "KN"):
		w[0] = 'N'
	case w[0] == 'K':
		w[0] = 'C'
	case hasPrefix(w, "PH"), hasPrefix(w, "PF"):
		w[0], w[1] = 'F', 'F'
	case hasPrefix(w, "SCH"):
		w[1], w[2] = 'S', 'S'
	}
	// Suffixes.
	if l := len(w); l >= 2 {
		switch string(w[l-2:]) {
		case "EE", "IE":
			w = w[:l-1]
			w[l-2] = 'Y'
		case "DT", "RT", "RD", "NT", "ND":
			w = w[:l-1]
			w[l-2] = 'D'
		}
	}

	var key [64]byte
	k := 0
	key[k] = w[0]
	k++
	for i := 1; i < len(w); i++ {
		prev := w[i-1]
		cur := w[i]
		var next, after byte = ' ', ' '
		if i+1 < len(w) {
			next = w[i+1]
		}
		if i+2 < len(w) {
			after = w[i+2]
		}
		switch {
		case cur == 'E' && next == 'V':
			w[i], w[i+1] = 'A', 'F'
		case isVowel(cur):
			w[i] = 'A'
		case cur == 'Q':
			w[i] = 'G'
		case cur == 'Z':
			w[i] = 'S'
		case cur == 'M':
			w[i] = 'N'
		case cur == 'K':
			if next == 'N' {
				w[i], w[i+1] = 'N', 'N'
			} else {
				w[i] = 'C'
			}
		case cur == 'S' && next == 'C' && after == 'H':
			w[i], w[i+1], w[i+2] = 'S', 'S', 'S'
		case cur == 'P' && next == 'H':
			w[i], w[i+1] = 'F', 'F'
		case cur == 'H' && (!isVowel(prev) || !isVowel(next)):
			w[i] = prev
		case cur == 'W' && isVowel(prev):
			w[i] = prev
		}
		// A letter repeating the one before it adds nothing to the sound.
		if w[i] != w[i-1] {
			key[k] = w[i]
			k++
		}
	}

	if k > 1 {
		if key[k-1] == 'S' {
			k--
		}
		if k > 2 && key[k-2] == 'A' && key[k-1] == 'Y' {
			key[k-2] = 'Y'
			k--
		}
		if k > 1 && key[k-1] == 'A' {
			k--
		}
	}
	return string(key[:k])
}

func hasPrefix(w []byte, p string) bool {
	return len(w) >= len(p) && string(w[:len(p)]) == p
}

func isVowel(c byte) bool {
	return c == 'A' || c == 'E' || c == 'I' || c == 'O' || c == 'U'
}
