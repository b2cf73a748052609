package notifier

import (
	"testing"

	"contactpoint/domain/child"
	"contactpoint/domain/record"
)

func TestRecipientsAreTheOthersAndNeverASensitiveService(t *testing.T) {
	fact := func(in record.Involvement, src record.SourceKey, rule string) child.Fact[record.Involvement] {
		return child.Fact[record.Involvement]{Value: in, Provenance: child.Provenance{Source: src, Rule: rule}}
	}
	feed := record.SourceKey{Agency: "social-care", System: "mosaic", RecordID: "r1"}
	hubKey := func(id string) record.SourceKey {
		return record.SourceKey{Agency: child.HubAgency, System: child.HubSystem, RecordID: id}
	}
	view := child.View{ChildID: "c1", Involvements: []child.Fact[record.Involvement]{
		fact(record.Involvement{Service: "Social care", Practitioner: &record.Practitioner{Name: "Tom", Email: "tom@x.example"}}, feed, child.RuleLatest),
		fact(record.Involvement{Service: "Counselling", Kind: "mental-health", Practitioner: &record.Practitioner{Name: "Mo", Email: "mo@x.example"}}, feed, child.RuleLatest),
		fact(record.Involvement{Service: "Health visiting", Practitioner: &record.Practitioner{Name: "Pat", Email: "pat@x.example"}}, hubKey("p-new"), child.RuleIndicated),
		fact(record.Involvement{Service: "School", Practitioner: &record.Practitioner{Name: "Ann", Phone: "0113"}}, hubKey("p-ann"), child.RuleIndicated),
		fact(record.Involvement{Service: "GP", Phone: "0113 1"}, feed, child.RuleLatest),
	}}
	rs := Recipients(view, child.InvolvementIndicated{PractitionerID: "p-new", Email: "pat@x.example"})
	if len(rs) != 2 || rs[0].Email != "tom@x.example" || rs[1].Key != "practitioner:p-ann" {
		t.Fatalf("recipients %+v", rs)
	}
	if rs[0].Key == "" || rs[0].Key == "tom@x.example" {
		t.Fatalf("recipient key holds the address: %q", rs[0].Key)
	}
	a := NotificationID(origin{Kind: KindInvolvement, Stream: "CHILDREN", Seq: 7}, rs[0].Key, "smtp")
	if a != NotificationID(origin{Kind: KindInvolvement, Stream: "CHILDREN", Seq: 7}, rs[0].Key, "smtp") ||
		a == NotificationID(origin{Kind: KindInvolvement, Stream: "CHILDREN", Seq: 8}, rs[0].Key, "smtp") ||
		a == NotificationID(origin{Kind: KindInvolvement, Stream: "CHILDREN", Seq: 7}, rs[1].Key, "smtp") {
		t.Fatal("notification ids are not one per sequence and recipient")
	}
}
