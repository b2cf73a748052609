package match

import (
	"math"
	"testing"
)

func TestJaroWinkler(t *testing.T) {
	tests := []struct {
		a, b string
		want float64
	}{
		{"MARTHA", "MARHTA", 0.9611},
		{"DWAYNE", "DUANE", 0.8400},
		{"DIXON", "DICKSONX", 0.8133},
		{"jonathon", "jonathan", 0.9500},
		{"hughes", "hughs", 0.9667},
		{"oliver", "olivia", 0.8667},
		{"abc", "xyz", 0},
		{"same", "same", 1},
		{"", "", 0},
		{"", "x", 0},
		{"zoë", "zoe", 0.8222}, // by rune, not by byte,
	}
	for _, tt := range tests {
		got := JaroWinkler(tt.a, tt.b)
		if math.Abs(got-tt.want) > 0.0001 {
			t.Errorf("JaroWinkler(%q, %q) = %.4f, want %.4f", tt.a, tt.b, got, tt.want)
		}
		if back := JaroWinkler(tt.b, tt.a); back != got {
			t.Errorf("JaroWinkler not symmetric on %q, %q: %v vs %v", tt.a, tt.b, got, back)
		}
	}
}

func TestJaroWinklerLongStrings(t *testing.T) {
	a := "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
	b := a[1:] + "q"
	if s := JaroWinkler(a, b); s <= 0.5 || s >= 1 {
		t.Fatalf("JaroWinkler of long near-equal strings = %v", s)
	}
}
