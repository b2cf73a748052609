package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"contactpoint/adapters/natsjs"
)

func benchSubjectsCmd(v *viper.Viper) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "subjects",
		Short: "Measure the embedded JetStream server's memory with one subject per child, and direct-get latency at that scale",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return benchSubjects(cmd.Context(), v.GetInt("subjects"), v.GetInt("size"))
		},
	}
	cmd.Flags().Int("subjects", 1_000_000, "child subjects to create (one message each)")
	cmd.Flags().Int("size", 512, "bytes per message")
	return cmd
}

func heapInUse() uint64 {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// benchSubjects measures what DESIGN.md asks of JetStream as the event
// store: the server's memory per child subject, and that reading one
// child's latest event by direct get stays fast however many there are.
// Only the embedded server runs in this process, so the process's heap
// growth is the server's (the client's share is the publish buffers,
// released before measuring).
func benchSubjects(ctx context.Context, n, size int) error {
	dir, err := os.MkdirTemp("", "contactpoint-subjects-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	conn, err := natsjs.Open(ctx, natsjs.Config{DataDir: dir}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	defer conn.Close()
	js, err := conn.Publisher(8192)
	if err != nil {
		return err
	}
	before := heapInUse()
	payload := make([]byte, size)
	ids := make([]uuid.UUID, 0, 1000)
	start := time.Now()
	const window = 4096
	futs := make([]jetstream.PubAckFuture, 0, window)
	flush := func() error {
		for _, f := range futs {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return err
			}
		}
		futs = futs[:0]
		return nil
	}
	for i := 0; i < n; i++ {
		id, _ := uuid.NewV7()
		if i%(n/1000+1) == 0 {
			ids = append(ids, id)
		}
		m := nats.NewMsg("children." + id.String())
		m.Data = payload
		f, err := js.PublishMsgAsync(m, jetstream.WithExpectLastSequencePerSubject(0))
		if err != nil {
			return err
		}
		futs = append(futs, f)
		if len(futs) == window {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	took := time.Since(start)
	after := heapInUse()
	st, err := js.Stream(ctx, natsjs.StreamChildren)
	if err != nil {
		return err
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(""))
	if err != nil {
		return err
	}
	// Direct get of a child's latest message, as the linker and shield
	// commands do: no consumer, one request.
	lat := make([]time.Duration, 0, len(ids))
	for _, id := range ids {
		t := time.Now()
		if _, err := st.GetLastMsgForSubject(ctx, "children."+id.String()); err != nil {
			return fmt.Errorf("direct get: %w", err)
		}
		lat = append(lat, time.Since(t))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	per := float64(after-before) / float64(n)
	fmt.Printf("subjects: %d (stream reports %d), %d-byte messages, appended in %s (%.0f/s)\n",
		n, info.State.NumSubjects, size, took.Round(time.Millisecond), float64(n)/took.Seconds())
	fmt.Printf("server heap in use: %d MiB before, %d MiB after: %.0f bytes per child subject\n", before>>20, after>>20, per)
	fmt.Printf("at 11,000,000 children in one stream that is about %.1f GiB of server memory for subject state alone\n", per*11e6/(1<<30))
	fmt.Printf("direct get of a child's last message (%d samples): p50 %s  p99 %s\n", len(lat), lat[len(lat)/2], lat[len(lat)*99/100])
	fmt.Printf("peak memory (VmHWM): %s\n", peakRSS())
	return nil
}
