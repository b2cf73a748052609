package main

import (
	"context"
	"sync"

	"contactpoint/app/hub"
)

// benchKeys issues an API key per agency system on first use, so that the
// loader authenticates to intake exactly as an agency system would.
func benchKeys(ctx context.Context, h *hub.Hub) func(agency, system string) string {
	var mu sync.Mutex
	keys := map[string]string{}
	return func(agency, system string) string {
		mu.Lock()
		defer mu.Unlock()
		k := agency + "/" + system
		if keys[k] == "" {
			key, _, err := h.Registry.IssueKey(ctx, agency, system, "bench")
			if err != nil {
				return "" // the request fails with 401 and the loader reports it
			}
			keys[k] = "Bearer " + key
		}
		return keys[k]
	}
}
