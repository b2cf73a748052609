// Package arrivals counts what reached the event log, per UTC day, agency
// and system: every record FEEDS holds (feed_arrivals) and every entry
// QUARANTINE holds, with the rules that refused it (quarantine_arrivals,
// quarantine_arrival_rules). The directory shows each record once, as it
// stands now, so it cannot say how many records a system sent on a day;
// these counts can, and they are exact however large the quarantine grows.
// Counts and times only: subjects name an agency and a system, never a
// child, and no body is read.
package arrivals

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"contactpoint/adapters/natsjs"
	"contactpoint/adapters/parked"
	"contactpoint/projections/checkpointed"
)

// The projections' checkpoint and consumer names.
const (
	FeedsName      = "feed_arrivals"
	QuarantineName = "quarantine_arrivals"
)

// A quarantine resolution marker (app/quarantine) travels on
// quarantine.resolved.<seq> with this header; intake never sets it, so an
// agency system called "resolved" still has its refusals counted.
const (
	resolvedPrefix = "quarantine.resolved."
	headerResolves = "Cp-Resolves"
)

// maxToken bounds an agency, system or rule name: the schema allows 254
// characters for a system, and a longer token is no name the hub wrote.
const maxToken = 254

// NewFeeds returns the projection of FEEDS into feed_arrivals.
func NewFeeds(js jetstream.JetStream, pool *pgxpool.Pool, log *slog.Logger) *checkpointed.Projection {
	return checkpointed.New(checkpointed.Spec{
		Name: FeedsName, Stream: natsjs.StreamFeeds, Tables: []string{"feed_arrivals"},
		Batch: 2000, RebuildBatch: 20_000,
		Open: func() checkpointed.Applier { return checkpointed.Func(applyFeeds) },
	}, pool, js, log)
}

// NewQuarantine returns the projection of QUARANTINE into
// quarantine_arrivals and quarantine_arrival_rules.
func NewQuarantine(js jetstream.JetStream, pool *pgxpool.Pool, log *slog.Logger) *checkpointed.Projection {
	return checkpointed.New(checkpointed.Spec{
		Name: QuarantineName, Stream: natsjs.StreamQuarantine, Tables: []string{"quarantine_arrivals", "quarantine_arrival_rules"},
		Batch: 2000, RebuildBatch: 20_000,
		Open: func() checkpointed.Applier { return checkpointed.Func(applyQuarantine) },
	}, pool, js, log)
}

type key struct {
	day            string
	agency, system string
}

type tally struct {
	n    int64
	last time.Time
}

func (t *tally) add(at time.Time) {
	t.n++
	if at.After(t.last) {
		t.last = at
	}
}

// origin reads the agency and system from a subject of the form
// <prefix>.<agency>.<system>. Anything else is poison: the hub writes no
// such subject, and counting it under a made-up name would mislead.
func origin(subject, prefix string) (agency, system string, err error) {
	parts := strings.Split(subject, ".")
	if len(parts) != 3 || parts[0] != prefix || !name(parts[1]) || !name(parts[2]) {
		return "", "", parked.Poison(parked.KindInvalidRecord, "subject is not "+prefix+".<agency>.<system>")
	}
	return parts[1], parts[2], nil
}

func name(s string) bool {
	return s != "" && len(s) <= maxToken && utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

func arrival(m jetstream.Msg) (time.Time, error) {
	md, err := m.Metadata()
	if err != nil {
		return time.Time{}, fmt.Errorf("message metadata: %w", err)
	}
	return md.Timestamp.UTC(), nil
}

func applyFeeds(ctx context.Context, tx pgx.Tx, msgs []jetstream.Msg) error {
	counts := map[key]*tally{}
	for _, m := range msgs {
		at, err := arrival(m)
		if err != nil {
			return err
		}
		agency, system, err := origin(m.Subject(), "feeds")
		if err != nil {
			return err
		}
		k := key{at.Format(time.DateOnly), agency, system}
		if counts[k] == nil {
			counts[k] = &tally{}
		}
		counts[k].add(at)
	}
	batch := &pgx.Batch{}
	for k, t := range counts {
		batch.Queue(`insert into feed_arrivals (day, agency, system, received, last_at) values ($1, $2, $3, $4, $5)
			on conflict (day, agency, system) do update
			set received = feed_arrivals.received + excluded.received, last_at = greatest(feed_arrivals.last_at, excluded.last_at)`,
			k.day, k.agency, k.system, t.n, t.last)
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("feed arrivals: write counts: %w", err)
	}
	return nil
}

// rules names the distinct rules of an entry's Cp-Reason header, so that an
// entry refused twice under one rule (two forbidden fields) counts once for
// it. A header that is not the list intake writes names no rule; the entry
// still counts, as the quarantine list still shows it.
func rules(h nats.Header) []string {
	var reasons []struct {
		Rule string `json:"rule"`
	}
	if json.Unmarshal([]byte(h.Get(natsjs.HeaderReason)), &reasons) != nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for _, r := range reasons {
		if !name(r.Rule) || seen[r.Rule] {
			continue
		}
		seen[r.Rule] = true
		out = append(out, r.Rule)
	}
	return out
}

type ruleKey struct {
	key
	rule string
}

func applyQuarantine(ctx context.Context, tx pgx.Tx, msgs []jetstream.Msg) error {
	entries, byRule := map[key]*tally{}, map[ruleKey]int64{}
	for _, m := range msgs {
		if strings.HasPrefix(m.Subject(), resolvedPrefix) && m.Headers().Get(headerResolves) != "" {
			continue // a steward's resolution, not an arrival
		}
		at, err := arrival(m)
		if err != nil {
			return err
		}
		agency, system, err := origin(m.Subject(), "quarantine")
		if err != nil {
			return err
		}
		k := key{at.Format(time.DateOnly), agency, system}
		if entries[k] == nil {
			entries[k] = &tally{}
		}
		entries[k].add(at)
		for _, r := range rules(m.Headers()) {
			byRule[ruleKey{k, r}]++
		}
	}
	batch := &pgx.Batch{}
	for k, t := range entries {
		batch.Queue(`insert into quarantine_arrivals (day, agency, system, quarantined, last_at) values ($1, $2, $3, $4, $5)
			on conflict (day, agency, system) do update
			set quarantined = quarantine_arrivals.quarantined + excluded.quarantined, last_at = greatest(quarantine_arrivals.last_at, excluded.last_at)`,
			k.day, k.agency, k.system, t.n, t.last)
	}
	for k, n := range byRule {
		batch.Queue(`insert into quarantine_arrival_rules (day, agency, system, rule, entries) values ($1, $2, $3, $4, $5)
			on conflict (day, agency, system, rule) do update set entries = quarantine_arrival_rules.entries + excluded.entries`,
			k.day, k.agency, k.system, k.rule, n)
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("quarantine arrivals: write counts: %w", err)
	}
	return nil
}
