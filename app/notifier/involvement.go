package notifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"contactpoint/adapters/natsjs"
	"contactpoint/adapters/notify"
	"contactpoint/domain/access"
	"contactpoint/domain/child"
	"contactpoint/projections/checkpointed"
	"contactpoint/projections/directory"
)

// errBehind: the directory has not yet applied the message, so the view
// would not be the child as the event left it. Not a failure: the message
// goes back to JetStream and comes again (never parked).
var errBehind = errors.New("directory has not caught up with the message")

// onChildren handles one CHILDREN message. Most are not about involvement;
// the Cp-Events header says so without decoding the body.
func (n *Notifier) onChildren(msg *message.Message) error {
	if msg.Metadata.Get(metaBad) != "" || !hasEvent(msg.Metadata.Get(natsjs.HeaderEvents), child.TypeInvolvementIndicated) {
		return nil
	}
	return n.involvement(msg.Context(), seqOf(msg, metaSeq), msg.Payload)
}

func hasEvent(header, typ string) bool {
	return slices.Contains(strings.Split(header, ","), typ)
}

// involvement tells the other practitioners on the child about each
// involvement.indicated event of the CHILDREN message at seq.
func (n *Notifier) involvement(ctx context.Context, seq uint64, body []byte) error {
	var b child.Batch
	if err := json.Unmarshal(body, &b); err != nil {
		// The decoder's message can quote the body. The directory parks
		// such a message with its reason; there is nobody to tell here.
		n.d.Log.Warn("notifier: CHILDREN message not decodable; passed over", "seq", seq)
		return nil
	}
	id, err := uuid.Parse(b.ChildID)
	if err != nil {
		n.d.Log.Warn("notifier: CHILDREN message names no child; passed over", "seq", seq)
		return nil
	}
	var ins []child.Event
	for _, e := range b.Events {
		if e.Type == child.TypeInvolvementIndicated && e.Involvement != nil && n.now().Sub(e.At) <= n.cfg.MaxAge {
			ins = append(ins, e)
		}
	}
	if len(ins) == 0 {
		return nil
	}
	if err := n.awaitDirectory(ctx, seq); err != nil {
		return err
	}
	view, err := n.d.Store.Get(ctx, id)
	if errors.Is(err, directory.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("involvement notice at %d: %w", seq, err)
	}
	o := origin{Kind: KindInvolvement, Ref: view.ChildID, Stream: natsjs.StreamChildren, Seq: seq}
	var drafts []draft
	for _, e := range ins {
		drafts = append(drafts, involvementDrafts(view, *e.Involvement)...)
	}
	return n.deliver(ctx, o, drafts)
}

// awaitDirectory waits a little for the directory projection to apply the
// message: the view must include what the event's own message changed.
func (n *Notifier) awaitDirectory(ctx context.Context, seq uint64) error {
	ok, err := checkpointed.Await(ctx, n.d.DB, directory.Name, seq, n.wait)
	if err != nil {
		return fmt.Errorf("involvement notice at %d: %w", seq, err)
	}
	if !ok {
		return fmt.Errorf("involvement notice at %d: %w", seq, errBehind)
	}
	return nil
}

// Recipients returns the practitioners recorded on the child who should
// hear that `in` indicated involvement: every one with an email or a phone,
// except the new practitioner. It reads the view as a shield officer's,
// with sensitive services summarised: the practitioners of a shielded
// child are told (they know the child), but a sensitive service's are
// never addressed, as that would name the service to its own worker's
// inbox and to the channel between.
func Recipients(view child.View, in child.InvolvementIndicated) []notify.Recipient {
	full, _ := access.Show(access.Viewer{Roles: []string{access.RoleShield}}, view)
	seen := map[string]bool{recipientKey(in.PractitionerID, "", ""): true}
	if in.Email != "" {
		seen[recipientKey("", in.Email, "")] = true
	}
	var out []notify.Recipient
	for _, f := range full.Involvements {
		if f.Rule == access.RuleSensitive || f.Value.Practitioner == nil {
			// The summary of sensitive services, or a service with no
			// named practitioner: nobody in particular to tell.
			continue
		}
		p := f.Value.Practitioner
		phone := p.Phone
		if phone == "" {
			phone = f.Value.Phone
		}
		if p.Email == "" && phone == "" {
			continue
		}
		var pid string
		if f.Source.Agency == child.HubAgency && f.Source.System == child.HubSystem && f.Rule == child.RuleIndicated {
			pid = f.Source.RecordID
		}
		key := recipientKey(pid, p.Email, phone)
		emailKey := ""
		if p.Email != "" {
			emailKey = recipientKey("", p.Email, "")
		}
		if seen[key] || (emailKey != "" && seen[emailKey]) {
			continue
		}
		seen[key] = true
		if emailKey != "" {
			seen[emailKey] = true
		}
		out = append(out, notify.Recipient{Key: key, Name: p.Name, Email: p.Email, Phone: phone})
	}
	return out
}

// Messages of the involvement notice.
const (
	SubjectInvolvement = "ContactPoint: another practitioner is working with a child you work with"
	SubjectShielded    = "ContactPoint: a practitioner indicated involvement with a shielded record"
)

// involvementDrafts writes the notice for each recipient. What it says of
// the child is what an ordinary practitioner may see, and less: for a
// restricted child only that a practitioner indicated involvement with a
// shielded record, and whom to contact; otherwise the child's name and
// date of birth.
func involvementDrafts(view child.View, in child.InvolvementIndicated) []draft {
	rs := Recipients(view, in)
	if len(rs) == 0 {
		return nil
	}
	restricted, contact := access.Restricted(view)
	var subject, body, childID string
	if restricted {
		subject = SubjectShielded
		var sb strings.Builder
		sb.WriteString("A practitioner has indicated that they are working with a child whose record is shielded.\n")
		sb.WriteString("You are recorded as working with this child. This message says no more: the record is shielded.\n")
		if contact != "" {
			sb.WriteString("\nIf you need to know more, contact: " + contact + "\n")
		}
		body = sb.String()
	} else {
		ord, _ := access.Show(access.Ordinary, view)
		subject, childID = SubjectInvolvement, view.ChildID
		var sb strings.Builder
		sb.WriteString(line("", in.Name) + " has indicated that they are working with a child you are recorded as working with.\n\n")
		if ord.Name != nil {
			sb.WriteString(line("Child: ", strings.TrimSpace(ord.Name.Value.Given+" "+ord.Name.Value.Family)))
		}
		if ord.BirthDate != nil {
			sb.WriteString(line("Date of birth: ", ord.BirthDate.Value))
		}
		sb.WriteString(line("ContactPoint reference: ", view.ChildID))
		sb.WriteString("\nHow to reach them:\n")
		sb.WriteString(line("  Name: ", in.Name))
		sb.WriteString(line("  Role: ", in.Role))
		sb.WriteString(line("  Organisation: ", in.Organisation))
		sb.WriteString(line("  Service: ", in.Service))
		sb.WriteString(line("  Phone: ", in.Phone))
		sb.WriteString(line("  Email: ", in.Email))
		body = sb.String()
	}
	body += "\nYou receive this because you are recorded on the child's record in ContactPoint. Do not forward it.\n"
	out := make([]draft, 0, len(rs))
	for _, r := range rs {
		greeting := "Hello,\n\n"
		if r.Name != "" {
			greeting = "Dear " + oneLine(r.Name) + ",\n\n"
		}
		out = append(out, draft{To: r, Subject: subject, Body: greeting + body, ChildID: childID, AuditChild: view.ChildID})
	}
	return out
}

// line writes "label value\n", or nothing for an empty value. Values are
// made one line: a newline in a typed field must not forge lines.
func line(label, v string) string {
	v = oneLine(v)
	if v == "" {
		return ""
	}
	if label == "" {
		return v
	}
	return label + v + "\n"
}

func oneLine(v string) string { return strings.Join(strings.Fields(v), " ") }
