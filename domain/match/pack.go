package match

import (
	"encoding/binary"
	"errors"
)

// Pack writes f as one string. A linker holding the features of millions of
// source records keeps each as a single string, one pointer for the
// garbage collector instead of a score of strings and slices, and unpacks a
// record's features only when it is a candidate.
//
// The form is private to one process: a sequence of unsigned varints
// (numbers, lengths, counts) and bytes, in the order of the fields below.
func (f *Features) Pack() string {
	b := make([]byte, 0, 256)
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	strs := func(ss []string) {
		b = binary.AppendUvarint(b, uint64(len(ss)))
		for _, s := range ss {
			str(s)
		}
	}
	groups := func(g NameGroups) {
		for _, w := range g {
			b = binary.AppendUvarint(b, w)
		}
	}
	str(f.Given)
	strs(f.GivenOther)
	groups(f.GivenGroups)
	groups(f.OtherGroups)
	strs(f.GivenRoots)
	str(f.GivenCode)
	strs(f.RootCodes)
	str(f.Family)
	strs(f.FamilyKeys)
	str(f.FamilyCode)
	strs(f.FamilyCodes)
	str(f.BirthDate)
	b = binary.AppendUvarint(b, uint64(f.Year))
	b = binary.AppendUvarint(b, uint64(f.Month))
	b = binary.AppendUvarint(b, uint64(f.Day))
	b = append(b, f.Gender)
	str(f.Postcode)
	str(f.Sector)
	str(f.District)
	str(f.AddressLine)
	str(f.AddressNumber)
	str(f.AddressStreet)
	str(f.AddressOther)
	b = binary.AppendUvarint(b, uint64(len(f.Carers)))
	for _, c := range f.Carers {
		str(c.Given)
		groups(c.Groups)
		str(c.Family)
	}
	strs(f.Phones)
	str(f.NHS)
	str(f.UPN)
	if f.UPNTemporary {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	return string(b)
}

// ErrPacked is returned by Unpack for a string Pack did not write.
var ErrPacked = errors.New("match: not packed features")

// Unpack sets f from a string written by Pack. Its strings are substrings of
// s, and its slices reuse f's own, so unpacking into the same Features again
// and again allocates nothing once the slices have grown.
func (f *Features) Unpack(s string) error {
	r := unpacker{s: s, ok: true}
	f.Given = r.str()
	f.GivenOther = r.strs(f.GivenOther)
	r.groups(&f.GivenGroups)
	r.groups(&f.OtherGroups)
	f.GivenRoots = r.strs(f.GivenRoots)
	f.GivenCode = r.str()
	f.RootCodes = r.strs(f.RootCodes)
	f.Family = r.str()
	f.FamilyKeys = r.strs(f.FamilyKeys)
	f.FamilyCode = r.str()
	f.FamilyCodes = r.strs(f.FamilyCodes)
	f.BirthDate = r.str()
	f.Year, f.Month, f.Day = int(r.num()), int(r.num()), int(r.num())
	f.Gender = r.byte()
	f.Postcode = r.str()
	f.Sector = r.str()
	f.District = r.str()
	f.AddressLine = r.str()
	f.AddressNumber = r.str()
	f.AddressStreet = r.str()
	f.AddressOther = r.str()
	n := r.count()
	f.Carers = f.Carers[:0]
	for i := 0; i < n && r.ok; i++ {
		var c CarerName
		c.Given = r.str()
		r.groups(&c.Groups)
		c.Family = r.str()
		f.Carers = append(f.Carers, c)
	}
	f.Phones = r.strs(f.Phones)
	f.NHS = r.str()
	f.UPN = r.str()
	f.UPNTemporary = r.byte() == 1
	if !r.ok || r.i != len(s) {
		return ErrPacked
	}
	return nil
}

// unpacker reads Pack's form; a read past the end clears ok and yields
// zero values, so Unpack checks once at the end. Empty slices come back
// empty rather than nil, keeping their room for the next Unpack.
type unpacker struct {
	s  string
	i  int
	ok bool
}

func (r *unpacker) num() uint64 {
	var x uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if r.i >= len(r.s) {
			r.ok = false
			return 0
		}
		c := r.s[r.i]
		r.i++
		x |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return x
		}
	}
	r.ok = false
	return 0
}

func (r *unpacker) byte() byte {
	if r.i >= len(r.s) {
		r.ok = false
		return 0
	}
	r.i++
	return r.s[r.i-1]
}

// count reads a length that must fit in what is left of the string.
func (r *unpacker) count() int {
	n := r.num()
	if n > uint64(len(r.s)-r.i) {
		r.ok = false
		return 0
	}
	return int(n)
}

func (r *unpacker) str() string {
	n := r.count()
	if !r.ok {
		return ""
	}
	s := r.s[r.i : r.i+n]
	r.i += n
	return s
}

func (r *unpacker) strs(into []string) []string {
	n := r.count()
	into = into[:0]
	for i := 0; i < n && r.ok; i++ {
		into = append(into, r.str())
	}
	return into
}

func (r *unpacker) groups(g *NameGroups) {
	for i := range g {
		g[i] = r.num()
	}
}
