package hub

import (
	"fmt"
	"os"

	"contactpoint/domain/match"
)

// ReadLinkageRules reads and checks a rules file written by `contactpoint
// linkage train`.
func ReadLinkageRules(path string) (match.Rules, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return match.Rules{}, fmt.Errorf("linkage rules: %w", err)
	}
	r, err := match.ParseRules(b)
	if err != nil {
		return r, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}
