package natsjs

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Follow reads stream from sequence `from` with one ordered consumer and
// hands fn batches of up to n messages: whatever has arrived, without waiting
// to fill a batch, so latency stays low when traffic is light and batches
// grow under load. It returns when ctx ends, fn fails, or — with until > 0 —
// once the message with sequence until has been handed over.
//
// The position lives with the caller (a checkpoint in PostgreSQL written
// with its rows), so the consumer itself is ephemeral: one per follower,
// never one per child.
func Follow(ctx context.Context, js jetstream.JetStream, stream string, from, until uint64, n int, fn func([]jetstream.Msg) error) error {
	if from == 0 {
		from = 1
	}
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: from,
	})
	if err != nil {
		return fmt.Errorf("follow %s: %w", stream, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan jetstream.Msg, 2*n)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case ch <- m:
		case <-ctx.Done():
		}
	}, jetstream.PullMaxMessages(n))
	if err != nil {
		return fmt.Errorf("follow %s: %w", stream, err)
	}
	defer cc.Stop()
	batch := make([]jetstream.Msg, 0, n)
	for {
		batch = batch[:0]
		select {
		case m := <-ch:
			batch = append(batch, m)
		case <-ctx.Done():
			return ctx.Err()
		}
	drain:
		for len(batch) < n {
			select {
			case m := <-ch:
				batch = append(batch, m)
			default:
				break drain
			}
		}
		if err := fn(batch); err != nil {
			return err
		}
		if until > 0 {
			md, err := batch[len(batch)-1].Metadata()
			if err != nil {
				return fmt.Errorf("follow %s: %w", stream, err)
			}
			if md.Sequence.Stream >= until {
				return nil
			}
		}
	}
}

// LastSeq is the stream's last sequence number (0 when empty).
func LastSeq(ctx context.Context, js jetstream.JetStream, stream string) (uint64, error) {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", stream, err)
	}
	return info.State.LastSeq, nil
}
