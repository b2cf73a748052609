package intake

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"contactpoint/domain/record"
)

// SubjectIntake is where agency systems that speak NATS publish canonical
// records: intake.<agency>.<system>. The hub validates each and appends it to
// FEEDS (feeds.<agency>.<system>) or QUARANTINE, and answers a request with
// the outcome. Agencies never publish to feeds.> themselves, so nothing
// unvalidated reaches the event log.
const SubjectIntake = "intake.*.*"

// QueueGroup shares NATS intake among hub instances.
const QueueGroup = "contactpoint-intake"

// SubscribeNATS serves intake.<agency>.<system>.
func SubscribeNATS(ctx context.Context, nc *nats.Conn, s *Service, log *slog.Logger) (*nats.Subscription, error) {
	sub, err := nc.QueueSubscribe(SubjectIntake, QueueGroup, func(m *nats.Msg) {
		parts := strings.Split(m.Subject, ".")
		o := Origin{Agency: parts[1], System: parts[2], Format: "json", Channel: "nats"}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		var out Outcome
		var err error
		if !record.IsAgency(o.Agency) {
			out, err = s.Quarantine(cctx, o, m.Data, []record.FieldError{{Field: "subject", Rule: "agency",
				Message: "unknown agency in subject; publish to intake.<agency>.<system>"}})
		} else {
			var outs []Outcome
			if outs, err = s.SubmitJSON(cctx, o, [][]byte{m.Data}); err == nil {
				out = outs[0]
			}
		}
		if err != nil {
			log.Error("nats intake: event log did not confirm", "agency", o.Agency, "err", err)
			// No reply: a requester times out and resends; dedupe makes that safe.
			return
		}
		if m.Reply != "" {
			b, _ := json.Marshal(out)
			_ = m.Respond(b)
		}
	})
	if err != nil {
		return nil, err
	}
	go func() { <-ctx.Done(); _ = sub.Drain() }()
	return sub, nil
}
