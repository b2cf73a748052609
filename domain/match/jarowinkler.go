package match

// JaroWinkler returns the Jaro–Winkler similarity of a and b in [0, 1]: the
// Jaro similarity boosted by up to four characters of common prefix (scale
// 0.1), applied only when the Jaro score is already at least 0.7 as in
// Winkler's original. Names typed wrongly tend to be right at the start, which
// is what the prefix boost rewards. Comparison is by byte for ASCII strings
// (all normalised names are) and by rune otherwise.
func JaroWinkler(a, b string) float64 {
	if a == b {
		if a == "" {
			return 0
		}
		return 1
	}
	// The greedy matching in jaro can depend on argument order; a fixed order
	// keeps the similarity, and so every decision, symmetric.
	if len(a) > len(b) || (len(a) == len(b) && a > b) {
		a, b = b, a
	}
	if isPlainASCII(a) && isPlainASCII(b) {
		return winkler(jaro([]byte(a), []byte(b)), []byte(a), []byte(b))
	}
	ra, rb := []rune(a), []rune(b)
	return winkler(jaro(ra, rb), ra, rb)
}

func winkler[E comparable](j float64, a, b []E) float64 {
	if j < 0.7 {
		return j
	}
	l := 0
	for l < 4 && l < len(a) && l < len(b) && a[l] == b[l] {
		l++
	}
	return j + float64(l)*0.1*(1-j)
}

// jaro computes the Jaro similarity. Matching flags live on the stack for
// names of ordinary length so that a comparison does not allocate.
func jaro[E comparable](a, b []E) float64 {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	if len(a) > len(b) {
		a, b = b, a
	}
	window := len(b)/2 - 1
	if window < 0 {
		window = 0
	}
	var fa, fb [64]bool
	ma, mb := fa[:0], fb[:0]
	if len(b) <= 64 {
		ma, mb = fa[:len(a)], fb[:len(b)]
	} else {
		ma, mb = make([]bool, len(a)), make([]bool, len(b))
	}
	m := 0
	for i := range a {
		lo, hi := max(0, i-window), min(len(b), i+window+1)
		for j := lo; j < hi; j++ {
			if !mb[j] && a[i] == b[j] {
				ma[i], mb[j] = true, true
				m++
				break
			}
		}
	}
	if m == 0 {
		return 0
	}
	t, j := 0, 0
	for i := range a {
		if !ma[i] {
			continue
		}
		for !mb[j] {
			j++
		}
		if a[i] != b[j] {
			t++
		}
		j++
	}
	fm := float64(m)
	return (fm/float64(len(a)) + fm/float64(len(b)) + (fm-float64(t)/2)/fm) / 3
}
