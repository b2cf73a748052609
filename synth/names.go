package synth

import "strings"

// Name lists are ordered roughly by popularity, most popular first, because
// the draw is rank-weighted: a realistic skew matters to matching, where a
// common name is weak evidence and a rare one strong.

// Boys' names registered in England and Wales since about 2006.
var boys = words(`Oliver Muhammad George Noah Harry Jack Leo Arthur Jacob Oscar Charlie
Freddie Alfie Thomas William Theo Henry Archie Joshua James Isaac Lucas Ethan
Alexander Mohammed Max Joseph Samuel Daniel Logan Edward Finley Teddy Sebastian
Adam Reggie Elijah Riley Tommy Albie Hugo Luca Dylan Jude Benjamin Mason Rory
Toby Louie Harrison Jaxon Reuben Ronnie Ezra Roman Frankie Arlo Jenson Lewis Jake
Nathan Caleb Kai Stanley Elliot Zachary Louis Harvey Michael Matthew Ryan Tyler
Callum Aaron Kyle Liam Cameron Connor Bobby Jayden Luke Owen Evan Rhys Aiden
Ellis Blake Bailey Brandon Kian Leon Jordan Frederick Gabriel Hunter Theodore
Ibrahim Yusuf Ali Omar Hamza Ayaan Zayn Musa Yahya Hassan Abdullah Aryan Arjun
Rayyan Eesa Zakariya Ahmed Bilal Usman Harley Kayden Dexter Felix Austin Carter
Jasper Rowan Ralph Hudson Grayson Milo Otis Vinnie Brody Fraser Patrick Declan
Conor Sean Kieran Dominic Christopher Anthony Andrew Jonathan Nicholas Robert
Richard Stephen Peter David John Mark Charles Alfred Albert Sonny Jesse Marley
Lenny Bertie Mateo Leonardo Nico Enzo Rafael Jakub Filip Szymon Kacper Aleksander
Dominik Tobias Elliott Mohammad Aidan Callan Corey Kane Reece Tristan Xavier Cody
Maxwell Harris Joel Morgan Spencer Jackson Jason Lincoln Rocco Chester Junior
Ruben Ashton Darius Eli Ezekiel Jamal Kobe Malachi Ollie-James Billy-Joe Tate`)

// Boys' names that rose in the 2020s; recent births draw from these more.
var boysRecent = words(`Muhammad Noah Oliver Leo Arthur Theo Oscar Freddie Archie Teddy Luca
Reggie Albie Ezra Arlo Roman Jude Hudson Grayson Milo Otis Mateo Rowan Ronnie
Elijah Hugo Jaxon Bertie Lenny Rocco Malachi Eli`)

// Girls' names registered in England and Wales since about 2006.
var girls = words(`Olivia Amelia Isla Ava Mia Ivy Lily Isabella Rosie Sophia Grace Freya
Willow Florence Emily Ella Poppy Evie Elsie Charlotte Evelyn Sienna Sofia Daisy
Phoebe Sophie Alice Harper Matilda Ruby Emilia Maya Isabelle Millie Eva Luna
Jessica Aria Maisie Esme Arabella Ellie Chloe Layla Hannah Lola Erin Holly
Scarlett Thea Lucy Eliza Harriet Imogen Molly Amber Megan Lauren Abigail Georgia
Leah Jasmine Madison Niamh Caitlin Zara Aisha Fatima Maryam Zainab Hafsa Khadija
Ayesha Inaya Aleena Hana Amira Anaya Alisha Nadia Sara Sarah Rebecca Elizabeth
Katherine Catherine Victoria Alexandra Eleanor Penelope Margot Beatrice Clara
Violet Iris Hallie Orla Aoife Ciara Edith Ada Mabel Nancy Olive Rose Maddison
Skye Summer Paige Courtney Chelsea Shannon Bethany Jade Kayla Demi Tia Keira
Lacey Macie Darcie Darcey Gracie Ellie-Mae Lily-Rose Mollie Amelie Emma Anna Zoe
Naomi Rachel Laura Natalie Samantha Jennifer Josephine Francesca Annabelle
Felicity Heidi Lydia Martha Mila Nova Hazel Aurora Ophelia Lyla Lila Eden Delilah
Bonnie Robyn Amy Nicole Lexi Maja Zuzanna Julia Oliwia Hanna Lena Eloise Elise
Alexa Mya Ivy-Rose Bonnie-Mae Leila Yasmin Safiya Hadiya Mariam Aleeza Sapphire
Ellis-Rose Georgina Madeleine Harriett Tegan Carys Seren Ffion Gabriella Serena`)

// Girls' names that rose in the 2020s.
var girlsRecent = words(`Olivia Amelia Isla Lily Ivy Freya Florence Willow Sienna Evelyn Luna Aria
Harper Mia Margot Maya Arabella Mila Nova Aurora Hallie Ophelia Lyla Delilah
Bonnie Mabel Ada Esme Iris Violet Hazel Eden`)

// Parents were mostly born between about 1975 and 1995.
var mothers = words(`Sarah Emma Laura Rebecca Gemma Claire Nicola Lisa Michelle Kelly Rachel Amy
Jennifer Stacey Hayley Danielle Natalie Kirsty Samantha Louise Victoria Joanne
Lindsay Zoe Helen Katie Jessica Charlotte Hannah Lauren Sophie Leanne Donna
Kerry Tracey Jade Amanda Catherine Elizabeth Kimberley Carly Chloe Stephanie
Jodie Aimee Abigail Lucy Holly Ruth Faye Naomi Fatima Nazia Shazia Saima Samina
Rubina Aisha Agnieszka Katarzyna Magdalena Siobhan Ciara Gillian Fiona Karen
Julie Becky Vicky Nadia Sadia Joanna Kate Charlene Toni`)

var fathers = words(`David Paul Mark Andrew Richard Daniel Christopher James Michael Matthew Steven
Lee Craig Darren Jason Wayne Gareth Carl Scott Stuart Ian Neil Simon Robert
Thomas Adam Jamie Ryan Liam Dean Kevin Anthony Jonathan Ben Nathan Luke Ashley
Martin Peter John Gary Shaun Mohammed Imran Tariq Asif Kamran Adeel Shahid Sajid
Piotr Tomasz Lukasz Marcin Sean Patrick Kieran Declan Joseph Samuel Alexander
Nicholas Philip Jordan Aaron Chris Danny Tom Rob Mike Kwame Emmanuel`)

// Classic middle names, added to the same-sex given names when drawing one.
var girlsMiddle = words(`Rose Grace Mae May Louise Elizabeth Jane Marie Anne Faith Hope Lily Jade`)
var boysMiddle = words(`James John Thomas William David Lee Michael Paul Edward Alexander Joseph Ali`)

// Surnames: common English and Welsh ones, West Yorkshire names, and the
// South Asian, Irish, Polish, African and Caribbean surnames that are
// common in a northern city. Multi-word surnames use "_" for the space.
var surnames = words(`Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson
Roberts Robinson Thompson Wright Walker White Edwards Hughes Green Hall Lewis
Harris Clarke Patel Jackson Wood Turner Martin Cooper Hill Ward Morris Moore
Clark Lee King Baker Harrison Morgan Allen James Scott Phillips Watson Davis
Parker Price Bennett Young Griffiths Mitchell Kelly Cook Carter Richardson Bailey
Collins Bell Shaw Murphy Miller Cox Richards Khan Marshall Anderson Simpson Ellis
Adams Singh Begum Wilkinson Foster Chapman Powell Webb Rogers Gray Mason Ali Hunt
Hussain Campbell Matthews Owen Palmer Holmes Mills Barnes Knight Lloyd Butler
Russell Barker Fisher Stevens Jenkins Murray Dixon Harvey Graham Pearson Ahmed
Fletcher Walsh Kaur Gibson Howard Andrews Stewart Elliott Reynolds Saunders Payne
Fox Ford Pearce Day Brooks West Lawrence Cole Atkinson Bradley Spencer Gill
Dawson Ball Burton O'Brien Watts Rose Booth Perry Ryan Grant Wells Armstrong
Francis Rees Hayes Hart Hudson Newman Barrett Webster Hunter Gregory Carr Lowe
Page Marsh Riley Dunn Woods Parsons Berry Stone Reid Holland Hawkins Harding
Porter Robertson Newton Oliver Reed Kennedy Williamson Bird Gardner Shah Dean
Lane Cooke Bates Henderson Parry Burgess Bishop Walton Burns Nicholson Shepherd
Ross Cross Long Freeman Warren Nicholls Hamilton Byrne Sutton McDonald Yates
Hodgson Robson Curtis Hopkins O'Connor Harper Coleman Watkins Moss McCarthy
Chambers Griffin Sharp Hardy Wheeler Potter Osborne Johnston Gordon Doyle Wallace
George Jordan Hutchinson Rowe Burke May Pritchard Gilbert Willis Higgins Read
Miles Stevenson Stephenson Hammond Arnold Buckley Walters Hewitt Barber Nelson
Slater Austin Sullivan Whitehead Mann Frost Lambert Stephens Blake Akhtar Lynch
Goodwin Barton Woodward Thomson Cunningham Quinn Barnett Baxter Bibi Clayton Nash
Greenwood Jennings Holt Kemp Poole Gallagher Bond Stokes Tucker Davidson Fowler
Heath Norman Middleton Lawson Banks French Stanley Jarvis Gibbs Ferguson Hayward
Carroll Farrell Iqbal Ackroyd Sykes Haigh Hirst Firth Crowther Holroyd Sutcliffe
Lister Priestley Rhodes Ramsden Hepworth Broadbent Wainwright Pickles Illingworth
Schofield Whiteley Beaumont Barraclough Hargreaves Horsfall Lumb Midgley Moorhouse
Oldroyd Pullan Stead Thackray Tordoff Varley Wilby Wormald Dransfield Ibbotson
Binns Senior Speight Kitchen Laycock Brook Dyson Gledhill Kaye Marsden Mahmood
Rehman Rahman Hussein Mohammed Javed Aslam Bashir Malik Butt Chaudhry Mirza
Qureshi Sheikh Siddiqui Anwar Karim Nawaz Rashid Riaz Saleem Sharif Yousaf Zaman
Parveen Kausar Mistry Sharma Kumar Gupta Sandhu Sidhu Dhillon Bains Chauhan Wong
Chan Li Zhang Wang Chen Liu Lin Okafor Mensah Osei Adeyemi Okonkwo Nwosu Asante
Boateng Owusu Forbes Gayle Kowalski Nowak Wisniewski Wojcik Kaminski Lewandowski
Zielinski Szymanski Kozlowski Mazur Kaczmarek Krawczyk Popescu Ionescu Horvath
Petrov O'Neill O'Sullivan O'Reilly O'Donnell O'Connell O'Hara O'Leary McKenzie
McLaughlin McGrath MacDonald MacLeod McIntyre McBride McGuire D'Souza D'Cruz
Fitzgerald Fitzpatrick De_Souza Da_Silva Dos_Santos Le_Roux Du_Plessis
Van_der_Berg Vaughan_Williams Lloyd_George St_John Smith-Jones Taylor-Brown
Brooke-Taylor Ashby-Clarke Hart-Davis Clarke-Wood Evans-Thomas Hughes-Parry
Gordon-Smith Lane-Fox Owen-Jones Wright-Phillips Morgan-Evans Baker-Hall
Foster-Kaye Harding-Lee Mills-Walker Bell-Hughes Ward-Prowse Jones-Hussain
Abbott Ashworth Bentley Birch Blackburn Bolton Bower Bradshaw Briggs Brennan
Cartwright Charlton Cooney Crawford Crossley Daly Dobson Duffy Eastwood Emmott
Fairclough Farrar Fenton Garside Gaunt Goddard Haley Hanson Hartley Haworth
Heaton Hinchliffe Holden Horner Howarth Hurst Jagger Kirk Lockwood Lupton
Metcalfe Naylor Nuttall Ogden Parkin Pollard Pratt Redman Robshaw Rushworth
Sagar Shackleton Smithson Spink Stansfield Sugden Swales Tattersall Thornton
Townend Wade Walmsley Waterhouse Whitaker Wilde Wilkins Womack Wray`)

// shortForms are the nicknames and short forms that one agency records in
// place of the registered given name.
var shortForms = map[string][]string{
	"Elizabeth": {"Beth", "Liz", "Lizzie", "Libby", "Eliza"}, "William": {"Will", "Liam", "Billy"},
	"Thomas": {"Tom", "Tommy"}, "Katherine": {"Kate", "Katie", "Kathy"}, "Catherine": {"Cath", "Kate", "Cathy"},
	"Alexander": {"Alex", "Xander"}, "Alexandra": {"Alex", "Lexi", "Sasha"}, "Jessica": {"Jess", "Jessie"},
	"Samuel": {"Sam", "Sammy"}, "Oliver": {"Ollie", "Olly"}, "James": {"Jamie", "Jim"},
	"Joseph": {"Joe", "Joey"}, "Benjamin": {"Ben", "Benji"}, "Daniel": {"Dan", "Danny"},
	"Matthew": {"Matt"}, "Jacob": {"Jake"}, "Joshua": {"Josh"}, "Nathan": {"Nate"},
	"Christopher": {"Chris"}, "Nicholas": {"Nick", "Nicky"}, "Edward": {"Ed", "Eddie", "Ted"},
	"Frederick": {"Freddie", "Fred"}, "Alfred": {"Alfie", "Alf"}, "Theodore": {"Theo", "Ted"},
	"Henry": {"Harry", "Hal"}, "Charles": {"Charlie"}, "Charlotte": {"Charlie", "Lottie"},
	"Isabella": {"Bella", "Izzy", "Issy"}, "Isabelle": {"Izzy", "Belle"}, "Amelia": {"Millie", "Amy"},
	"Emily": {"Em", "Emmy"}, "Olivia": {"Liv", "Livvy"}, "Sophia": {"Sophie", "Soph"},
	"Sophie": {"Soph"}, "Abigail": {"Abbie", "Abi", "Gail"}, "Rebecca": {"Becky", "Becca"},
	"Victoria": {"Tori", "Vicky"}, "Eleanor": {"Ellie", "Nell"}, "Florence": {"Flo", "Florrie"},
	"Matilda": {"Tilly", "Tilda"}, "Penelope": {"Penny"}, "Harriet": {"Hattie"},
	"Evelyn": {"Evie"}, "Gabriel": {"Gabe"}, "Zachary": {"Zach", "Zac"}, "Maxwell": {"Max"},
	"Sebastian": {"Seb"}, "Anthony": {"Tony", "Ant"}, "Michael": {"Mike", "Mikey"},
	"Robert": {"Rob", "Bobby"}, "Richard": {"Rich", "Richie"}, "Jonathan": {"Jon", "Jonny"},
	"Harrison": {"Harry"}, "Tobias": {"Toby"}, "Dominic": {"Dom"}, "Georgia": {"Georgie"},
	"Georgina": {"Georgie", "Gina"}, "Madison": {"Maddie"}, "Maddison": {"Maddie"},
	"Madeleine": {"Maddie"}, "Annabelle": {"Annie", "Bella"}, "Jennifer": {"Jenny", "Jen"},
	"Natalie": {"Nat"}, "Samantha": {"Sam", "Sammy"}, "Josephine": {"Josie", "Jo"},
	"Francesca": {"Frankie", "Fran"}, "Gabriella": {"Gabby", "Ella"}, "Stephen": {"Steve"},
	"Andrew": {"Andy", "Drew"}, "Peter": {"Pete"}, "David": {"Dave"}, "Arabella": {"Bella"},
	"Felicity": {"Flick"}, "Muhammad": {"Mo"}, "Mohammed": {"Mo"}, "Mohammad": {"Mo"},
	"Ibrahim": {"Ibby"}, "Abdullah": {"Abdul"}, "Reuben": {"Reub"}, "Leonardo": {"Leo"},
	"Aleksander": {"Olek", "Alex"}, "Jakub": {"Kuba"}, "Elliot": {"Eli"}, "Ezekiel": {"Zeke"},
	"Albert": {"Albie", "Bert"}, "Stanley": {"Stan"}, "Ronnie": {"Ron"}, "Harvey": {"Harv"},
	"Christina": {"Chris"}, "Margot": {"Margo"}, "Beatrice": {"Bea"}, "Imogen": {"Immy"},
	"Esme": {"Ez"}, "Scarlett": {"Scarlet"}, "Eliza": {"Liza"}, "Mabel": {"Mabs"},
}

// Given names that parents of twins like to pair.
var girlPairs = [][2]string{
	{"Ella", "Ellie"}, {"Lily", "Lila"}, {"Amelia", "Emilia"}, {"Sophie", "Sophia"},
	{"Isla", "Isabella"}, {"Evie", "Eva"}, {"Grace", "Gracie"}, {"Millie", "Mollie"},
	{"Hannah", "Anna"}, {"Ruby", "Rosie"}, {"Darcie", "Darcey"}, {"Maya", "Mia"},
}
var boyPairs = [][2]string{
	{"Jack", "Jake"}, {"Harry", "Harvey"}, {"Alfie", "Archie"}, {"Leo", "Theo"},
	{"Noah", "Jonah"}, {"Mason", "Jason"}, {"Ethan", "Evan"}, {"Aiden", "Jayden"},
	{"Riley", "Ryan"}, {"Lewis", "Louis"}, {"Elliot", "Elliott"}, {"Callum", "Callan"},
}

// words splits a list, turns "_" into a space, and drops repeats so that
// the lists can be edited without care for duplicates.
func words(s string) []string {
	f := strings.Fields(s)
	out := make([]string, 0, len(f))
	seen := make(map[string]bool, len(f))
	for _, w := range f {
		w = strings.ReplaceAll(w, "_", " ")
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}
