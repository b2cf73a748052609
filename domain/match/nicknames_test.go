package match

import "testing"

func TestNicknameEquivalence(t *testing.T) {
	same := [][2]string{
		{"Elizabeth", "Beth"}, {"Liz", "Lizzie"}, {"Eliza", "Elizabeth"},
		{"William", "Liam"}, {"Bill", "Will"}, {"Thomas", "Tommy"},
		{"Katherine", "Catherine"}, {"Kate", "Katie"}, {"Alexander", "Sasha"},
		{"Jessica", "Jess"}, {"Samuel", "Sam"}, {"Oliver", "Ollie"}, {"Robert", "Bob"},
		{"James", "Jamie"}, {"Joseph", "Joe"}, {"Daniel", "Danny"}, {"Matthew", "Matt"},
		{"Christopher", "Chris"}, {"Rebecca", "Becky"}, {"Abigail", "Abby"},
		{"Olivia", "Livvy"}, {"Isabella", "Izzy"}, {"Margaret", "Meg"}, {"Edward", "Ted"},
		{"Benjamin", "Ben"}, {"Nicholas", "Nick"}, {"Jonathan", "Jon"}, {"Michael", "Mike"},
		{"Charlotte", "Lottie"}, {"Charlie", "Charlotte"}, {"Charlie", "Charles"},
		{"Amelia", "Millie"}, {"Emily", "Em"}, {"Ellie", "Eleanor"}, {"Elle", "Eleanor"},
		{"Mohammed", "Muhammad"}, {"Aidan", "Aiden"},
	}
	for _, p := range same {
		a, b := joinTokens(NormaliseName(p[0])), joinTokens(NormaliseName(p[1]))
		if !nicknameGroupsOf(a).intersects(nicknameGroupsOf(b)) {
			t.Errorf("%s and %s should be nickname-equivalent", p[0], p[1])
		}
	}
	different := [][2]string{
		{"Oliver", "Olivia"}, {"Charlotte", "Charles"}, {"Jack", "John"}, {"Ella", "Ellie"},
		{"Sam", "Olivia"}, {"Harry", "Harriet"}, {"Hannah", "Anna"},
	}
	for _, p := range different {
		a, b := joinTokens(NormaliseName(p[0])), joinTokens(NormaliseName(p[1]))
		if nicknameGroupsOf(a).intersects(nicknameGroupsOf(b)) {
			t.Errorf("%s and %s should not be nickname-equivalent", p[0], p[1])
		}
	}
}

func TestNicknameTable(t *testing.T) {
	if n := len(nicknameGroups); n < 100 || n > 64*groupWords {
		t.Fatalf("%d nickname groups; want 100..%d", n, 64*groupWords)
	}
	for _, g := range nicknameGroups {
		for _, n := range g {
			if joinTokens(NormaliseName(n)) != n {
				t.Errorf("nickname %q is not in normalised form", n)
			}
		}
	}
	if r := nicknameRoots("liz", nicknameGroupsOf("liz"), 2); len(r) != 1 || r[0] != "elizabeth" {
		t.Errorf("root of liz = %v", r)
	}
	if r := nicknameRoots("zebedee", nicknameGroupsOf("zebedee"), 2); len(r) != 1 || r[0] != "zebedee" {
		t.Errorf("root of an unknown name = %v", r)
	}
}
