// Package ident holds the national identifiers the hub recognises for a child
// and the check-digit rules that make a typed or mis-keyed one detectable.
package ident

import (
	"errors"
	"strings"
)

// Errors name the rule that failed, so that a feed's integrator knows what to fix.
var (
	ErrNHSFormat = errors.New("NHS number must be 10 digits")
	ErrNHSCheck  = errors.New("NHS number fails its modulus 11 check digit")
	ErrUPNFormat = errors.New("UPN must be a check letter followed by 11 digits and a final digit or letter")
	ErrUPNCheck  = errors.New("UPN check letter does not match")
)

// NormaliseNHS strips the spaces and hyphens people type into NHS numbers
// ("943 476 5919", "943-476-5919").
func NormaliseNHS(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
}

// CheckNHS validates an NHS number (already normalised) by its modulus 11 check digit.
func CheckNHS(n string) error {
	if len(n) != 10 {
		return ErrNHSFormat
	}
	sum := 0
	for i := 0; i < 10; i++ {
		c := n[i]
		if c < '0' || c > '9' {
			return ErrNHSFormat
		}
		if i < 9 {
			sum += int(c-'0') * (10 - i)
		}
	}
	check := 11 - sum%11
	if check == 11 {
		check = 0
	}
	if check == 10 || check != int(n[9]-'0') {
		return ErrNHSCheck
	}
	return nil
}

// NHSCheckDigit returns the check digit for the first nine digits of an NHS
// number, and false when no digit makes those nine valid (remainder 10).
func NHSCheckDigit(nine string) (byte, bool) {
	if len(nine) != 9 {
		return 0, false
	}
	sum := 0
	for i := 0; i < 9; i++ {
		c := nine[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		sum += int(c-'0') * (10 - i)
	}
	check := 11 - sum%11
	if check == 11 {
		check = 0
	}
	if check == 10 {
		return 0, false
	}
	return byte('0' + check), true
}

// upnLetters is the DfE alphabet for UPN check letters and temporary-UPN final
// letters: A–Z without I, O and S, which are too easily misread as digits.
const upnLetters = "ABCDEFGHJKLMNPQRTUVWXYZ"

// NormaliseUPN upper-cases a UPN and drops surrounding space.
func NormaliseUPN(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }

// CheckUPN validates a Unique Pupil Number (already normalised): 13 characters,
// a check letter, then 11 digits (LA, establishment, year, serial) and a final
// digit, or a letter for a temporary UPN.
func CheckUPN(u string) error {
	if len(u) != 13 {
		return ErrUPNFormat
	}
	for i := 1; i < 12; i++ {
		if u[i] < '0' || u[i] > '9' {
			return ErrUPNFormat
		}
	}
	last := u[12]
	if !(last >= '0' && last <= '9') && strings.IndexByte(upnLetters, last) < 0 {
		return ErrUPNFormat
	}
	want, ok := UPNCheckLetter(u[1:])
	if !ok {
		return ErrUPNFormat
	}
	if u[0] != want {
		return ErrUPNCheck
	}
	return nil
}

// UPNCheckLetter computes the check letter for the 12 characters that follow it.
func UPNCheckLetter(body string) (byte, bool) {
	if len(body) != 12 {
		return 0, false
	}
	sum := 0
	for i := 0; i < 12; i++ {
		c := body[i]
		var v int
		switch {
		case c >= '0' && c <= '9':
			v = int(c - '0')
		case i == 11 && strings.IndexByte(upnLetters, c) >= 0:
			v = strings.IndexByte(upnLetters, c)
		default:
			return 0, false
		}
		sum += v * (i + 2)
	}
	return upnLetters[sum%23], true
}
