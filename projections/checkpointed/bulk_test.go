package checkpointed_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"contactpoint/adapters/parked"
	"contactpoint/projections/checkpointed"
)

// kvBulk folds kv messages in memory and writes them by COPY; a body
// "bad" cannot be decoded, and with dup its write meets a key twice,
// which fails for a reason of the messages' own.
type kvBulk struct {
	seqs   []int64
	bodies []string
	dup    bool
}

func (b *kvBulk) Decode(m jetstream.Msg) (any, error) {
	if string(m.Data()) == "bad" {
		return nil, parked.Poison(parked.KindInvalidEvent, "bad body")
	}
	md, err := m.Metadata()
	if err != nil {
		return nil, err
	}
	return [2]any{int64(md.Sequence.Stream), string(m.Data())}, nil
}

func (b *kvBulk) Add(v any) {
	kv := v.([2]any)
	b.seqs = append(b.seqs, kv[0].(int64))
	b.bodies = append(b.bodies, kv[1].(string))
}

func (b *kvBulk) Write(ctx context.Context, tx pgx.Tx) error {
	rows := make([][]any, 0, len(b.seqs)+1)
	for i := range b.seqs {
		rows = append(rows, []any{b.seqs[i], b.bodies[i]})
	}
	if b.dup {
		rows = append(rows, rows[0])
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"kv"}, []string{"seq", "body"}, pgx.CopyFromRows(rows))
	return err
}

// kvApply is the batch applier beside kvBulk: it parks what kvBulk
// cannot decode.
func kvApply(ctx context.Context, tx pgx.Tx, msgs []jetstream.Msg) error {
	for _, m := range msgs {
		if string(m.Data()) == "bad" {
			return parked.Poison(parked.KindInvalidEvent, "bad body")
		}
		md, err := m.Metadata()
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "insert into kv (seq, body) values ($1, $2)", int64(md.Sequence.Stream), string(m.Data())); err != nil {
			return err
		}
	}
	return nil
}

// A rebuild with a BulkLoader loads the stream in one write, parks what
// cannot be decoded under the projection's name, and when the write fails
// for a reason of the messages' own loads batch after batch instead; the
// rows are the same either way.
func TestRebuildLoadsInBulk(t *testing.T) {
	tests := []struct {
		name string
		dup  bool
	}{
		{"in bulk", false},
		{"falling back to batches", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			bulks := 0
			p := checkpointed.New(checkpointed.Spec{Name: "kv", Stream: "KV", Tables: []string{"kv"}, Batch: 50, RebuildBatch: 100,
				Open: func() checkpointed.Applier { return checkpointed.Func(kvApply) },
				Bulk: func() checkpointed.BulkLoader { bulks++; return &kvBulk{dup: tt.dup} }}, f.pool, f.js, nil)
			bad := map[int]bool{}
			for i := 1; i <= 1000; i++ {
				body := "m" + strconv.Itoa(i)
				if i%97 == 0 {
					body, bad[i] = "bad", true
				}
				if _, err := f.js.Publish(f.ctx, "kv.x", []byte(body)); err != nil {
					t.Fatal(err)
				}
			}
			st, err := p.Rebuild(f.ctx)
			if err != nil {
				t.Fatal(err)
			}
			if bulks != 1 || st.Events != 1000 || st.Fold <= 0 {
				t.Fatalf("%d bulk loaders, %d events, fold %s", bulks, st.Events, st.Fold)
			}
			var n, lo, hi int64
			if err := f.pool.QueryRow(f.ctx, "select count(*), min(seq), max(seq) from kv").Scan(&n, &lo, &hi); err != nil {
				t.Fatal(err)
			}
			if n != int64(1000-len(bad)) || lo != 1 || hi != 1000 {
				t.Fatalf("kv holds %d rows, seq %d..%d; want %d", n, lo, hi, 1000-len(bad))
			}
			rows, err := f.pool.Query(f.ctx, "select seq from parked_messages where consumer = 'kv' order by seq")
			if err != nil {
				t.Fatal(err)
			}
			got, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(bad) {
				t.Fatalf("parked %v, want the %d bad messages", got, len(bad))
			}
			for _, s := range got {
				if !bad[int(s)] {
					t.Fatalf("parked %d, which is not bad", s)
				}
			}
			if cp := f.checkpoint("kv"); cp != 1000 {
				t.Fatalf("checkpoint %d after the switch", cp)
			}
		})
	}
}
