// Package synth generates a deterministic synthetic population of children
// for a pilot area, the records each agency system would hold about them, and
// the ground truth of which record is whose. It feeds `contactpoint seed`,
// the ingest benchmark and the record-linkage quality benchmark, so its
// mistakes are deliberate, realistic in kind and rate, and counted.
//
// # Population
//
// Families have one to five children (42/36/15/5/2%). Birth dates are uniform
// over the eighteen years before Config.Today, never on Today itself nor on
// the first day of the window; siblings are at least ten months apart. 1.5%
// of maternities are twins (so about 3% of children): same surname, birth
// date and address, different given names, and for 30% of same-sex pairs
// names that look alike (Ella/Ellie, Jack/Jake). 55% of children have a
// middle name.
//
// Given names are drawn by popularity rank from about 200 names per sex, with
// the names in fashion in the decade of birth weighted up. Surnames come from
// about 520, weighted by rank, including hyphenated (Smith-Jones), spaced
// (De Souza) and apostrophe (O'Brien) names; one family in forty gives its
// children both parents' names. In 20% of families the mother has a surname
// the children do not share; 70% of fathers are known, 12% of them with a
// surname of their own. A few households also have a grandparent,
// step-parent or (in social care) foster carer.
//
// Addresses are a house number (8% of them flats) on a generated street,
// with real-format postcodes of districts LS1–LS29: about sixteen
// neighbouring houses share a unit, so a household's postcode is the same
// in every source that has it right.
//
// Every child has a valid NHS number from the 600 000 000–799 999 999 range,
// never one whose check digit would be 10 and never a repeat. Every child who
// has started reception has a valid UPN, allocated by their first school:
// LA code (383 for Leeds), establishment, year of entry, serial.
//
// # Feeds
//
// Five systems in three agencies, each with its own record id format; ids
// are scrambled, so they reveal nothing about who is who:
//
//	health       royal-infirmary-pas  RI-0048213      60% of families
//	health       st-lukes-pas         SL00123456      the rest; family names in capitals
//	education    sims-<area>          <URN>-<number>  schools using SIMS (about 65%)
//	education    arbor-<area>         ARB-1234567     schools using Arbor
//	social-care  mosaic-<area>        1234567
//
// Health knows 98% of children, and 6% of those are known to both hospitals
// (a duplicate within one agency). Education knows 95% of children who have
// started school. Social care knows every child of 4% of households, about
// 4% of children. Health records always carry the NHS number, social care
// records 70% of the time, education records 10%; education records carry
// the UPN except 3% of the time.
//
// # Errors
//
// Each source record draws its errors independently, at these rates among
// the records where the error is possible (Rate, Feed.Errors):
//
//	typo        3%    one keying error in the given (60%) or family (40%) name:
//	                  two letters transposed, a letter dropped or doubled, or a
//	                  neighbouring key; never in the first letter
//	nickname    4%    a short form (Elizabeth→Beth, William→Liam, Oliver→Ollie)
//	                  for the registered given name; possible for the 30% of
//	                  records whose child's name has one (1.2% of all records)
//	surname     2%    a changed family name: a step-parent's (55%) or a
//	                  double-barrelled one; half keep the old in previous_names
//	dob-swap    0.5%  day and month swapped; possible where the day is 12 or
//	                  less and differs from the month (36% of records)
//	dob-digit   0.3%  one digit of the date mis-keyed, most often in the day
//	moved       5%    an address the family moved to, known to this system
//	                  only (70% in the same postcode district)
//	no-gender   1%
//	no-address  1%    (a record with no address is not also "moved")
//
// A birth date error that would put the date in the future or more than
// eighteen years back is not made. At 80,000 children about 13% of the
// ~144,000 records carry at least one error.
//
// These are differences of habit, not errors, and a matcher should take them
// in its stride: middle names left out (never by the infirmary, 10% by St
// Luke's, 40–50% by schools, 30% by social care), family names in capitals
// (st-lukes-pas), the locality as an extra address line, postcodes without
// the space (4%) or in lower case (2%), NHS numbers with or without spaces,
// mobile numbers in each system's own style (07xxx xxxxxx, +44 7xxx xxxxxx,
// 07xxxxxxxxx, 07xxx xxx xxx) and in any style 10% of the time, and a
// "known as" short form in the preferred name field of 5% of school records.
//
// # Contacts and services
//
// Parents are contacts with parental responsibility; other carers are not.
// Parents' mobiles are random 07 numbers, as Ofcom's drama range holds only a
// thousand and shared numbers between families would mislead a matcher;
// practitioners, schools and practices use the drama ranges (07700 900xxx,
// 0113 496 0xxx). Emails are on example.com, .org and .net. Some health records
// name a health visitor or school nurse; every social care record names a
// social worker as lead professional, some an early help worker and a CAF.
// 0.5% of social care records name a mental-health service, always with the
// recorded consent the hub requires; nothing else is sensitive.
//
// # Determinism and cost
//
// The same Config gives byte-identical records and truth. The population is
// held compactly, about 150 bytes per child including its source records, and
// records are rendered on demand by Feed.Record, each from a random stream of
// its own, so they may be rendered in any order and in parallel. On a
// two-core machine Generate takes 0.07–0.3 s for 80,000 children and 2–3.5 s
// and about 130 MB for 800,000; rendering and marshalling a record takes
// about 10 µs.
package synth
