package ident

import (
	"errors"
	"testing"
)

func TestCheckNHS(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{"9434765919", nil},
		{"9434765918", ErrNHSCheck},
		{"4010232137", nil},
		{"1234567890", ErrNHSCheck}, // remainder gives 10: never issued
		{"943476591", ErrNHSFormat},
		{"94347659199", ErrNHSFormat},
		{"94347659A9", ErrNHSFormat},
		{"", ErrNHSFormat},
	}
	for _, tt := range tests {
		if got := CheckNHS(tt.in); !errors.Is(got, tt.want) {
			t.Errorf("CheckNHS(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestNHSCheckDigitAgreesWithCheck(t *testing.T) {
	for _, nine := range []string{"943476591", "401023213", "000000000", "999999999", "123456789"} {
		d, ok := NHSCheckDigit(nine)
		err := CheckNHS(nine + string(d))
		if ok != (err == nil) {
			t.Errorf("%s: digit %q ok=%v but CheckNHS=%v", nine, d, ok, err)
		}
	}
}

func TestNormaliseNHS(t *testing.T) {
	if got := NormaliseNHS(" 943 476-5919 "); got != "9434765919" {
		t.Fatalf("got %q", got)
	}
}

func TestCheckUPN(t *testing.T) {
	body := "82120071400" + "1"
	l, ok := UPNCheckLetter(body)
	if !ok {
		t.Fatal("no letter")
	}
	valid := string(l) + body
	wrong := string(upnLetters[(indexOf(l)+1)%23]) + body
	tempBody := "82120071400" + "A"
	tl, _ := UPNCheckLetter(tempBody)
	tests := []struct {
		in   string
		want error
	}{
		{valid, nil},
		{wrong, ErrUPNCheck},
		{string(tl) + tempBody, nil},
		{"A82120071400", ErrUPNFormat},
		{"A8212007140011", ErrUPNFormat},
		{"A8212X0714001", ErrUPNFormat},
		{"A821200714001I", ErrUPNFormat},
		{"1821200714001", ErrUPNCheck},
	}
	for _, tt := range tests {
		if got := CheckUPN(tt.in); !errors.Is(got, tt.want) {
			t.Errorf("CheckUPN(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestUPNKnownValue pins the algorithm to a worked example: the weights 2..13
// over "801200110001" sum to 60, and 60 mod 23 = 14, the letter Q.
func TestUPNKnownValue(t *testing.T) {
	l, ok := UPNCheckLetter("801200110001")
	if !ok || l != 'Q' {
		t.Fatalf("got %q %v, want Q", l, ok)
	}
}

func indexOf(b byte) int {
	for i := 0; i < len(upnLetters); i++ {
		if upnLetters[i] == b {
			return i
		}
	}
	return -1
}
