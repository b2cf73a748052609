package child

// Notice is what the access policy tells a viewer about a view it has cut
// down; Survive never sets it.
type Notice struct {
	Shielded bool   `json:"shielded"`
	Message  string `json:"message"`
	Contact  string `json:"contact,omitempty"`
}

// Guard says that a child may be the same child as a shielded one, and whom
// to contact about it. It carries nothing of the shielded child but the
// shield's contact route.
type Guard struct {
	// Candidates are the shielded children it may be; for shield officers.
	Candidates []string `json:"candidates"`
	Contact    string   `json:"contact"`
}
