package directory

import (
	"context"
	"fmt"
	"strings"
	"time"

	json "github.com/goccy/go-json"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"contactpoint/domain/child"
)

// rowColumns are the directory columns one child's row writes, in the
// order directoryRow returns their values.
var rowColumns = []string{"child_id", "family_name", "given_name", "birth_date", "gender", "postcode", "nhs_number", "upn",
	"names", "state", "view", "last_seq", "shielded", "shield_review", "status", "merged_into", "shield_own", "shield_contact",
	"archived_on", "retention"}

// directoryRow derives a child's directory row from its state: the view by
// survivorship and the search columns from the view.
func directoryRow(id uuid.UUID, st *child.State, lastSeq uint64, rules child.Rules) ([]any, error) {
	v := child.Survive(st, rules)
	stateJSON, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("directory: encode state: %w", err)
	}
	viewJSON, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("directory: encode view: %w", err)
	}
	var family, given, gender, postcode, nhs, upn *string
	var birth *time.Time
	names := []string{}
	if v.Name != nil {
		family, given = lowerPtr(v.Name.Value.Family), lowerPtr(v.Name.Value.Given)
	}
	for _, n := range v.PreviousNames {
		names = append(names, strings.ToLower(n.Value.Given+" "+n.Value.Family))
	}
	if v.BirthDate != nil {
		if d, err := time.Parse(time.DateOnly, v.BirthDate.Value); err == nil {
			birth = &d
		}
	}
	if v.Gender != nil {
		gender = &v.Gender.Value
	}
	if v.Address != nil {
		postcode = &v.Address.Value.Postcode
	}
	if v.NHSNumber != nil {
		nhs = &v.NHSNumber.Value
	}
	if v.UPN != nil {
		upn = &v.UPN.Value
	}
	shielded, review := shieldColumns(st)
	var contact *string
	if st.Shield != nil {
		contact = &st.Shield.Contact
	}
	// Ids go as [16]byte, which pgx writes as they are: a uuid.UUID goes
	// through its driver.Valuer, a string parsed back, which costs a
	// rebuild seconds.
	status, mergedInto := "active", (*[16]byte)(nil)
	if st.MergedInto != "" {
		if s, err := uuid.Parse(st.MergedInto); err == nil {
			b := [16]byte(s)
			status, mergedInto = "merged", &b
		}
	}
	// A record's place in its life (domain/retention): archived children
	// leave ordinary search, erased ones keep only their id and status.
	archivedOn, retentionJSON := retentionColumns(st)
	if rs := st.Status(); rs == "erased" || (rs == "archived" && status == "active") {
		status = rs
	}
	return []any{[16]byte(id), family, given, birth, gender, postcode, nhs, upn, strings.Join(names, " | "), stateJSON, viewJSON, int64(lastSeq), shielded, review, status, mergedInto, shielded, contact,
		archivedOn, retentionJSON}, nil
}

// BulkLoad writes children straight into an empty directory with COPY,
// for benchmarks and load tests: it bypasses the event log, so a directory
// loaded this way is not one a replay would rebuild.
func BulkLoad(ctx context.Context, pool *pgxpool.Pool, states []*child.State, rules child.Rules) error {
	rows := make([][]any, 0, len(states))
	for _, st := range states {
		id, err := uuid.Parse(st.ID)
		if err != nil {
			return fmt.Errorf("bulk load: child id: %w", err)
		}
		row, err := directoryRow(id, st, 0, rules)
		if err != nil {
			return err
		}
		rows = append(rows, row)
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"directory"}, rowColumns, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("bulk load: %w", err)
	}
	return nil
}
