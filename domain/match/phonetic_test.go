package match

import "testing"

// Published NYSIIS codes (as used by Apache Commons Codec's tests).
func TestNYSIIS(t *testing.T) {
	tests := map[string]string{
		"Brian": "BRAN", "Brown": "BRAN", "Brun": "BRAN",
		"Capp": "CAP", "Cope": "CAP", "Copp": "CAP", "Kipp": "CAP",
		"Dane": "DAN", "Dean": "DAN", "Dionne": "DAN",
		"Smith": "SNAT", "Schmit": "SNAT", "Schmidt": "SNAD",
		"Trueman": "TRANAN", "Truman": "TRANAN",
		"Macintosh": "MCANT", "Knuth": "NAT", "Koehn": "CAN", "Phillipson": "FALAPSAN",
		"Pfeister": "FASTAR", "Schoenhoeft": "SANAFT", "McKee": "MCY", "Mackie": "MCY",
		"Heitschmidt": "HATSNAD", "Bart": "BAD", "Hurd": "HAD", "Hunt": "HAD",
		"Westerlund": "WASTARLAD", "Casstevens": "CASTAFAN", "Vasquez": "VASG",
		"Frazier": "FRASAR", "Bowman": "BANAN", "McKnight": "MCNAGT", "Rickert": "RACAD",
		"Deutsch": "DAT", "Westphal": "WASTFAL", "Shriver": "SRAVAR", "Kuhl": "CAL",
		"Rawson": "RASAN", "Jiles": "JAL", "Carraway": "CARY", "Yamada": "YANAD",
		// Names that sound alike should share a code.
		"Stephen": "STAFAN", "Steven": "STAFAN", "Catherine": "CATARAN", "Katherine": "CATARAN",
		"": "", "a": "A",
	}
	for in, want := range tests {
		if got := NYSIIS(NormaliseName(in)); got != want {
			t.Errorf("NYSIIS(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNYSIISLongInputDoesNotPanic(t *testing.T) {
	long := make([]byte, 500)
	for i := range long {
		long[i] = "schevk"[i%6]
	}
	if NYSIIS(string(long)) == "" {
		t.Fatal("empty code for a long name")
	}
}
