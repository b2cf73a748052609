package child

// Notice is what the access policy tells a viewer about a view it has cut
// down; Survive never sets it.
type Notice struct {
	Shielded bool   `json:"shielded"`
	Message  string `json:"message"`
	Contact  string `json:"contact,omitempty"`
}
