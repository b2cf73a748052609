package notifier

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go/jetstream"

	"contactpoint/adapters/natsjs"
)

// Router topics are stream names: the consumer initializer turns each into
// the notifier's durable consumer on that stream.
const (
	topicChildren = natsjs.StreamChildren
	topicNotify   = StreamNotify
)

// Metadata the unmarshaler sets from the JetStream message.
const (
	metaStream  = "cp_stream"
	metaSeq     = "cp_seq"
	metaSubject = "cp_subject"
	metaTime    = "cp_time"
	metaBad     = "cp_unreadable"
	// metaOrigin* name the message a retry job stands for, so that a
	// retry that fails again parks the original, not the job.
	metaOriginStream = "cp_origin_stream"
	metaOriginSeq    = "cp_origin_seq"
	metaKind         = "cp_kind"
)

// consumer is the ResourceInitializer: one durable pull consumer per
// stream, created or brought up to date at each start. Durable, so that a
// message appended while the hub is down is delivered when it is back;
// filtered on the stream's subjects, with an ack wait past the retries.
func (n *Notifier) consumer(ctx context.Context, js jetstream.JetStream, topic string) (jetstream.Consumer, func(context.Context, watermill.LoggerAdapter), error) {
	name, filter := ConsumerChildren, "children.>"
	if topic == topicNotify {
		name, filter = ConsumerJobs, subjectNotify
	}
	c, err := js.CreateOrUpdateConsumer(ctx, topic, jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "contactpoint notifier",
		FilterSubject: filter,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       n.ackWait() + 30*time.Second,
		MaxDeliver:    -1,
		MaxAckPending: 256,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("notifier consumer %s on %s: %w", name, topic, err)
	}
	// No closer: the consumer is durable and outlives this process.
	return c, nil, nil
}

// unmarshaler maps a JetStream message to a Watermill message: the
// payload as it is, the stream, sequence, subject and time as metadata,
// and the hub's headers (Cp-Events) as they are. The message id is
// <stream>:<sequence>, which is also the correlation id.
type unmarshaler struct{}

func (unmarshaler) Unmarshal(m jetstream.Msg) (*message.Message, error) {
	md, err := m.Metadata()
	if err != nil {
		// The subscriber would dereference a nil message: hand on one the
		// handlers acknowledge without reading.
		wm := message.NewMessage(watermill.NewUUID(), nil)
		wm.Metadata.Set(metaBad, "no-metadata")
		return wm, nil
	}
	id := md.Stream + ":" + strconv.FormatUint(md.Sequence.Stream, 10)
	wm := message.NewMessage(id, m.Data())
	for k, v := range m.Headers() {
		if len(v) > 0 {
			wm.Metadata.Set(k, v[0])
		}
	}
	wm.Metadata.Set(metaStream, md.Stream)
	wm.Metadata.Set(metaSeq, strconv.FormatUint(md.Sequence.Stream, 10))
	wm.Metadata.Set(metaSubject, m.Subject())
	wm.Metadata.Set(metaTime, md.Timestamp.UTC().Format(time.RFC3339Nano))
	middleware.SetCorrelationID(id, wm)
	return wm, nil
}

func seqOf(msg *message.Message, key string) uint64 {
	s, _ := strconv.ParseUint(msg.Metadata.Get(key), 10, 64)
	return s
}
