package match

// nicknameGroups lists names that agencies record for the same child: formal
// names, short forms, nicknames and common spelling variants. The first name
// of each group is its root. A name may sit in several groups ("Charlie" is
// Charlotte or Charles, "Alex" is Alexander or Alexandra); two names are
// equivalent when they share any group. Names that are popular in their own
// right and only rarely a short form (Ella, Amy, Eva, Luke, Jack) are left
// out on purpose: treating them as equivalent would make siblings look alike.
var nicknameGroups = [][]string{
	{"elizabeth", "elisabeth", "eliza", "beth", "liz", "lizzie", "lizzy", "lizbeth", "betty", "bess", "bessie", "libby", "elspeth"},
	{"william", "will", "willie", "willy", "liam", "bill", "billy", "wills"},
	{"thomas", "tom", "tommy", "thom", "tommie"},
	{"katherine", "catherine", "kathryn", "katharine", "cathryn", "catharine", "kate", "katie", "katy", "kat", "cath", "cathy", "kathy", "kitty"},
	{"alexander", "alex", "sasha", "xander", "alec", "alexandre", "aleksander", "aleksandr"},
	{"alexandra", "alex", "alexa", "lexi", "lexie", "sasha", "alexandria", "aleksandra"},
	{"jessica", "jess", "jessie", "jessy"},
	{"samuel", "sam", "sammy", "samual"},
	{"samantha", "sam", "sammy", "sammie"},
	{"oliver", "ollie", "olly", "oli"},
	{"robert", "rob", "robbie", "robby", "bob", "bobby", "rab"},
	{"james", "jim", "jimmy", "jamie", "jimmie", "jamey"},
	{"joseph", "joe", "joey", "jo", "jos"},
	{"daniel", "dan", "danny", "dani"},
	{"matthew", "matt", "matty", "mathew", "matthias"},
	{"christopher", "chris", "kit", "topher", "christoper"},
	{"rebecca", "becky", "becca", "bex", "rebekah", "rebeca"},
	{"abigail", "abi", "abby", "abbie", "abbi", "gail", "abigale"},
	{"olivia", "liv", "livvy", "livvie", "livia", "ollie"},
	{"isabella", "isabel", "isabelle", "isobel", "izabella", "bella", "belle", "izzy", "izzie", "issy"},
	{"margaret", "maggie", "meg", "peggy", "marge", "madge", "margo", "margot"},
	{"edward", "ed", "ted", "teddy", "eddie", "eddy", "ned"},
	{"benjamin", "ben", "benji", "benny", "benjy"},
	{"nicholas", "nick", "nicky", "nico", "nicolas", "nikolas", "nickolas"},
	{"jonathan", "jon", "jonny", "jonathon", "johnathan"},
	{"john", "johnny", "jonny", "jon", "johnnie"},
	{"michael", "mike", "mikey", "mick", "micky", "mickey", "micheal"},
	{"charlotte", "lottie", "lotte", "lotty", "charlie", "charley"},
	{"charles", "charlie", "charley", "chas", "chaz", "chuck"},
	{"amelia", "millie", "milly", "amalia"},
	{"emily", "em", "emmy", "emmie", "emilie", "emely"},
	{"emma", "em", "emmy", "emmie"},
	{"eleanor", "elinor", "eleanore", "ellie", "elle", "nell", "nellie", "nora", "norah", "leonora"},
	{"ellen", "ellie", "nell", "nellie"},
	{"helena", "helen"},
	{"alfred", "alfie", "alf", "fred", "freddie", "alfy"},
	{"frederick", "frederic", "fred", "freddie", "freddy", "fredrick"},
	{"archibald", "archie", "archy"},
	{"henry", "harry", "hal", "hank", "henri", "hendrik"},
	{"harold", "harry", "hal"},
	{"harriet", "hattie", "hatty", "harriett"},
	{"anthony", "tony", "ant", "antony", "anton"},
	{"andrew", "andy", "drew", "andrei"},
	{"richard", "rich", "richie", "rick", "ricky", "dick", "rico"},
	{"stephen", "steven", "steve", "stevie", "stephan", "stefan"},
	{"peter", "pete", "petr", "pieter"},
	{"david", "dave", "davey", "davy", "dafydd"},
	{"zachary", "zach", "zack", "zak", "zac", "zachariah", "zackary"},
	{"theodore", "theo", "ted", "teddy"},
	{"sebastian", "seb", "sebby", "bastian"},
	{"maximilian", "max", "maxi", "maximillian"},
	{"maxwell", "max"},
	{"joshua", "josh", "joshuah"},
	{"jacob", "jake", "jakob", "jakey", "coby"},
	{"gabriel", "gabe", "gab", "gabriele"},
	{"gabrielle", "gabriella", "gabby", "gabi", "gaby"},
	{"nathaniel", "nathanael", "nat", "nate", "nathan"},
	{"nathan", "nate", "nat"},
	{"timothy", "tim", "timmy"},
	{"patrick", "pat", "paddy", "padraig"},
	{"patricia", "pat", "patsy", "tricia", "trish", "patty"},
	{"lawrence", "laurence", "larry", "laurie", "lorenzo"},
	{"leonard", "leo", "len", "lenny"},
	{"dominic", "dominick", "dom", "dominik"},
	{"jennifer", "jen", "jenny", "jenni", "jenifer"},
	{"victoria", "vicky", "vicki", "vikki", "tori", "torie"},
	{"susan", "susanna", "susannah", "suzanne", "susie", "suzie", "suzy", "sue"},
	{"deborah", "debra", "debbie", "debby", "deb"},
	{"jacqueline", "jackie", "jacqui", "jacquelyn"},
	{"kimberley", "kimberly", "kim"},
	{"natalie", "natalia", "nat", "nattie", "natalya"},
	{"natasha", "tasha", "tash", "nat"},
	{"josephine", "jo", "josie", "jojo", "josey"},
	{"joanne", "joanna", "johanna", "jo", "jojo", "joann"},
	{"georgina", "georgie", "gina"},
	{"georgia", "georgie"},
	{"george", "georgie", "jorge"},
	{"penelope", "penny", "pen"},
	{"florence", "flo", "florrie", "flossie"},
	{"matilda", "mathilda", "tilly", "tillie", "tilda", "mattie"},
	{"dorothy", "dot", "dottie", "dolly"},
	{"frances", "fran", "frankie", "fanny"},
	{"francesca", "fran", "frankie", "chesca", "franchesca"},
	{"francis", "frank", "frankie", "franco"},
	{"sophia", "sophie", "sofia", "sofie", "soph"},
	{"evelyn", "evelyne", "eveline", "evie"},
	{"louis", "louie", "lou", "lewis", "luis"},
	{"louise", "louisa", "lou", "lulu"},
	{"lucinda", "lucy", "cindy"},
	{"lucy", "lucie", "luci"},
	{"anne", "ann", "anna", "annie", "ana"},
	{"annabel", "annabelle", "annabella", "bella", "belle", "annie"},
	{"caroline", "carolyn", "carol", "carrie", "caz"},
	{"christine", "christina", "kristina", "kirsty", "kirstie", "tina", "chrissie", "chris"},
	{"christian", "chris", "kristian", "christiaan"},
	{"raymond", "ray", "raymund"},
	{"ronald", "ron", "ronnie"},
	{"donald", "don", "donny", "donnie"},
	{"gerald", "gerry", "jerry", "ged"},
	{"jeremy", "jerry", "jez"},
	{"kenneth", "ken", "kenny"},
	{"terence", "terrence", "terry", "tel"},
	{"douglas", "doug", "dougie"},
	{"gregory", "greg", "gregor"},
	{"philip", "phillip", "phil", "pip", "filip"},
	{"arthur", "art", "artie"},
	{"reginald", "reg", "reggie"},
	{"stanley", "stan"},
	{"cameron", "cam", "kameron"},
	{"callum", "calum", "cal", "kallum"},
	{"mohammed", "muhammad", "mohammad", "mohamed", "muhammed", "mohamad", "mohammod", "mo", "moe"},
	{"jayden", "jaden", "jaiden", "jaydon", "jaydn"},
	{"aiden", "aidan", "ayden", "aden", "aydan"},
	{"jasmine", "jasmin", "yasmin", "yasmine", "jazmin", "jazmine", "jaz", "jas"},
	{"layla", "leila", "laila", "lailah", "leyla"},
	{"zoe", "zoey", "zoie"},
	{"isaac", "isaak", "izaak", "ike"},
	{"grace", "gracie", "gracey"},
	{"rose", "rosie", "rosa", "rosy"},
	{"elijah", "eli"},
	{"alice", "ally", "allie", "alys"},
	{"alison", "allison", "ali", "ally", "allie"},
	{"tobias", "toby", "tobi"},
	{"reuben", "ruben", "rube"},
	{"kayleigh", "kayley", "kaylee", "kaley", "kayla", "kaylie"},
	{"megan", "meghan", "meg", "megs"},
	{"madeleine", "madeline", "madelyn", "maddie", "maddy", "madi"},
	{"connor", "conor", "conner"},
	{"teresa", "theresa", "tess", "tessa", "terri"},
	{"vincent", "vince", "vinny", "vinnie"},
	{"raphael", "rafael", "rafe", "raff"},
	{"martin", "marty", "martyn"},
	{"sarah", "sara", "sally", "sadie"},
	{"mary", "marie", "maria", "molly", "polly", "mae"},
	{"nicola", "nicole", "nicky", "nikki", "nic"},
	{"cecilia", "cecily", "cissy", "cecelia"},
	{"stephanie", "steph", "stephenie", "stefanie"},
	{"kieran", "ciaran", "kieron"},
}

// groupWords sizes the bit set of nickname groups: one bit per group.
const groupWords = 3

// NameGroups is the set of nickname groups a given name belongs to.
type NameGroups [groupWords]uint64

func (g NameGroups) intersects(o NameGroups) bool {
	for i := range g {
		if g[i]&o[i] != 0 {
			return true
		}
	}
	return false
}

func (g NameGroups) empty() bool {
	for _, w := range g {
		if w != 0 {
			return false
		}
	}
	return true
}

func (g *NameGroups) add(o NameGroups) {
	for i := range g {
		g[i] |= o[i]
	}
}

var nicknameIndex = buildNicknameIndex()

func buildNicknameIndex() map[string]NameGroups {
	if len(nicknameGroups) > 64*groupWords {
		panic("match: too many nickname groups for NameGroups")
	}
	idx := make(map[string]NameGroups, 4*len(nicknameGroups))
	for gi, group := range nicknameGroups {
		for _, n := range group {
			n = joinTokens(NormaliseName(n))
			g := idx[n]
			g[gi/64] |= 1 << (gi % 64)
			idx[n] = g
		}
	}
	return idx
}

// nicknameGroupsOf returns the groups of a normalised, joined given name.
func nicknameGroupsOf(name string) NameGroups { return nicknameIndex[name] }

// nicknameRoots returns the root of every group the name belongs to (at
// most limit), lowest group first, or the name itself when it is in none.
func nicknameRoots(name string, g NameGroups, limit int) []string {
	if g.empty() {
		return []string{name}
	}
	var roots []string
	for gi := range nicknameGroups {
		if g[gi/64]&(1<<(gi%64)) != 0 {
			roots = append(roots, nicknameGroups[gi][0])
			if len(roots) == limit {
				break
			}
		}
	}
	return roots
}

// placeholderGiven are the given names hospitals use before a baby is named
// ("Baby", "Twin 1"); they say nothing about which child it is.
var placeholderGiven = map[string]bool{
	"baby": true, "babyboy": true, "babygirl": true, "infant": true, "twin": true,
	"unknown": true, "unnamed": true, "notknown": true, "nk": true, "bb": true,
	"boy": true, "girl": true, "male": true, "female": true, "child": true, "newborn": true,
}

// isPlaceholderGiven reports whether the normalised given name is only a
// placeholder ("baby of", "twin 2").
func isPlaceholderGiven(tokens []string) bool {
	if len(tokens) == 0 {
		return false
	}
	for _, t := range tokens {
		if !placeholderGiven[t] && t != "of" && t != "a" && t != "b" {
			return false
		}
	}
	return true
}
