package intake

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"contactpoint/adapters/natsjs"
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

// Rules of the refusals NATS intake itself makes (besides the schema's).
const (
	RuleSubjectAgency = "agency"
	RuleSubjectSystem = "system"
	RuleReplySubject  = "reply-subject"
)

// ReplyAllowed reports whether the hub may publish its answer to a request
// on intake.<agency>.<system> to reply: only below the requester's own inbox
// prefix, natsjs.InboxPrefix, the one subject space its NATS user may
// subscribe to, with at least one further token and no wildcard. The hub's
// connection may publish anywhere, so a reply subject naming a stream's
// subject (feeds.…, children.…), JetStream's API or another agency's inbox
// would otherwise make the hub write there on the requester's behalf.
func ReplyAllowed(agency, system, reply string) bool {
	rest, ok := strings.CutPrefix(reply, natsjs.InboxPrefix(agency, system)+".")
	if !ok || rest == "" {
		return false
	}
	for _, tok := range strings.Split(rest, ".") {
		if tok == "" || tok == "*" || tok == ">" {
			return false
		}
		for i := 0; i < len(tok); i++ {
			// Printable ASCII only: a subject token with spaces or control
			// bytes would be a different subject, or none, on the wire.
			if c := tok[i]; c <= ' ' || c > '~' {
				return false
			}
		}
	}
	return true
}

// subjectOrigin reads agency and system from intake.<agency>.<system> and
// returns the reasons to refuse it, if any. The origin is then only used to
// name the quarantine entry, with unsafe bytes replaced.
func subjectOrigin(subject string) (Origin, []record.FieldError) {
	o := Origin{Format: "json", Channel: "nats"}
	parts := strings.Split(subject, ".")
	if len(parts) != 3 || parts[0] != "intake" {
		return o, []record.FieldError{{Field: "subject", Rule: RuleSubjectSystem,
			Message: "publish to intake.<agency>.<system>"}}
	}
	o.Agency, o.System = parts[1], parts[2]
	switch {
	case !record.IsAgency(o.Agency):
		return o, []record.FieldError{{Field: "subject", Rule: RuleSubjectAgency,
			Message: "unknown agency in subject; publish to intake.<agency>.<system>"}}
	case !record.IsSystem(o.System):
		return o, []record.FieldError{{Field: "subject", Rule: RuleSubjectSystem,
			Message: "the system in the subject must be 1–40 characters of a–z, 0–9 and '-'; publish to intake.<agency>.<system>"}}
	}
	return o, nil
}

// SubscribeNATS serves intake.<agency>.<system>.
func SubscribeNATS(ctx context.Context, nc *nats.Conn, s *Service, log *slog.Logger) (*nats.Subscription, error) {
	sub, err := nc.QueueSubscribe(SubjectIntake, QueueGroup, func(m *nats.Msg) {
		serveNATS(ctx, s, log, m)
	})
	if err != nil {
		return nil, err
	}
	go func() { <-ctx.Done(); _ = sub.Drain() }()
	return sub, nil
}

func serveNATS(ctx context.Context, s *Service, log *slog.Logger, m *nats.Msg) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	o, refused := subjectOrigin(m.Subject)
	// A request on a malformed subject gets no answer at all: the hub cannot
	// tell whose inbox would be the sender's.
	replyOK := m.Reply == "" || (refused == nil && ReplyAllowed(o.Agency, o.System, m.Reply))
	if refused == nil && !replyOK {
		// The record is kept, not applied: a steward can see what was
		// sent and resubmit it, and the sender learns nothing through a
		// subject it does not own.
		refused = append(refused, record.FieldError{Field: "reply", Rule: RuleReplySubject,
			Message: "the reply subject must be under the sender's own inbox, " + natsjs.InboxPrefix("<agency>", "<system>") +
				".…; set the client's inbox prefix (nats.go: nats.CustomInboxPrefix)"})
	}
	var (
		out Outcome
		err error
	)
	if refused != nil {
		log.Warn("nats intake: request refused", "agency", token(o.Agency), "system", token(o.System), "rule", refused[len(refused)-1].Rule)
		out, err = s.quarantineJSON(cctx, o, m.Data, refused)
	} else {
		var outs []Outcome
		if outs, err = s.SubmitJSON(cctx, o, [][]byte{m.Data}); err == nil {
			out = outs[0]
		}
	}
	if err != nil {
		log.Error("nats intake: event log did not confirm", "agency", token(o.Agency), "system", token(o.System), "err", err)
		// No reply: a requester times out and resends; dedupe makes that safe.
		return
	}
	if m.Reply != "" && replyOK {
		b, _ := json.Marshal(out)
		if err := m.Respond(b); err != nil {
			log.Warn("nats intake: reply not sent", "agency", o.Agency, "system", o.System, "err", err)
		}
	}
}

// quarantineJSON keeps a canonical JSON record refused before validation,
// with its record id when it names one, so that a steward's correction can
// be held to the same record.
func (s *Service) quarantineJSON(ctx context.Context, o Origin, raw []byte, reasons []record.FieldError) (Outcome, error) {
	out := Outcome{Status: StatusQuarantined, RecordID: bestEffortRecordID(raw), Errors: reasons}
	f, err := s.publishQuarantine(o, raw, out.RecordID, reasons)
	if err != nil {
		return Outcome{}, err
	}
	return wait(ctx, f, out)
}
