package match

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormaliseName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Olivia", "olivia"},
		{"  OLIVIA  ", "olivia"},
		{"O'Brien", "obrien"},
		{"O’Brien", "obrien"},
		{"OBrien", "obrien"},
		{"Smith-Jones", "smith jones"},
		{"Smith  -  Jones", "smith jones"},
		{"Zoë", "zoe"},
		{"Renée", "renee"},
		{"JOSÉ", "jose"},
		{"Łukasz", "lukasz"},
		{"Øyvind", "oyvind"},
		{"Strauß", "strauss"},
		{"Siobhán Ní Bhriain", "siobhan ni bhriain"},
		{"Mary Jane", "mary jane"},
		{"St. John", "st john"},
		{"Twin 2", "twin"},
		{"", ""},
		{"--", ""},
		{"Дмитрий", "дмитрий"},
	}
	for _, tt := range tests {
		if got := NormaliseName(tt.in); got != tt.want {
			t.Errorf("NormaliseName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNormalisePostcode(t *testing.T) {
	tests := []struct{ in, full, sector, district string }{
		{"LS6 2AB", "LS6 2AB", "LS6 2", "LS6"},
		{"ls62ab", "LS6 2AB", "LS6 2", "LS6"},
		{" ls6  2ab ", "LS6 2AB", "LS6 2", "LS6"},
		{"SW1A 1AA", "SW1A 1AA", "SW1A 1", "SW1A"},
		{"m11ae", "M1 1AE", "M1 1", "M1"},
		{"B33 8TH", "B33 8TH", "B33 8", "B33"},
		{"not a postcode", "NOTAPOSTCODE", "", ""},
		{"", "", "", ""},
		// NHS pseudo-postcodes are shared by every child so recorded.
		{"ZZ99 3VZ", "", "", ""},
		{"zz993wz", "", "", ""},
	}
	for _, tt := range tests {
		full, sector, district := NormalisePostcode(tt.in)
		if full != tt.full || sector != tt.sector || district != tt.district {
			t.Errorf("NormalisePostcode(%q) = %q %q %q, want %q %q %q", tt.in, full, sector, district, tt.full, tt.sector, tt.district)
		}
	}
}

func TestNormalisePhone(t *testing.T) {
	tests := []struct{ in, want string }{
		{"07700 900123", "07700900123"},
		{"07700900123", "07700900123"},
		{"+44 7700 900123", "07700900123"},
		{"+44 (0)7700 900123", "07700900123"},
		{"0044 7700 900123", "07700900123"},
		{"(0113) 496-0000", "01134960000"},
		{"+353 1 234 5678", "+35312345678"},
		{"12345", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := NormalisePhone(tt.in); got != tt.want {
			t.Errorf("NormalisePhone(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNormaliseAddressLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"14 Elm Grove", "14 elm gr"},
		{"14, Elm Grove.", "14 elm gr"},
		{"14 ELM GR", "14 elm gr"},
		{"Flat 2, 14a High Street", "flat 2 14a high st"},
		{"Apartment 3 Château Road", "flat 3 chateau rd"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := NormaliseAddressLine(tt.in); got != tt.want {
			t.Errorf("NormaliseAddressLine(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzNormaliseName(f *testing.F) {
	for _, s := range []string{"O'Brien", "Smith-Jones", "Zoë", "Strauß", "ǅemal", "\xff\xfe", "ﬁ", "İstanbul", "가", "LS6 2AB", "+44 (0)7700 900123"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := NormaliseName(s)
		if !utf8.ValidString(n) {
			t.Fatalf("NormaliseName(%q) = %q: invalid UTF-8", s, n)
		}
		if strings.HasPrefix(n, " ") || strings.HasSuffix(n, " ") || strings.Contains(n, "  ") {
			t.Fatalf("NormaliseName(%q) = %q: stray spaces", s, n)
		}
		if again := NormaliseName(n); again != n {
			t.Fatalf("NormaliseName not idempotent on %q: %q then %q", s, n, again)
		}
		code := NYSIIS(n)
		for i := 0; i < len(code); i++ {
			if code[i] < 'A' || code[i] > 'Z' {
				t.Fatalf("NYSIIS(%q) = %q", n, code)
			}
		}
		if jw := JaroWinkler(n, s); jw < 0 || jw > 1 {
			t.Fatalf("JaroWinkler(%q, %q) = %v", n, s, jw)
		}
		NormalisePostcode(s)
		NormalisePhone(s)
		NormaliseAddressLine(s)
	})
}
