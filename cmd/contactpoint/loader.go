package main

// The loader sends a synthetic population to a hub through its HTTP
// intake, exactly as an agency system would: NDJSON batches per agency
// system, several requests in flight. It lives beside the commands that
// seed, so that no package of the hub itself depends on synth.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"contactpoint/synth"
)

// loadOptions tune the sender.
type loadOptions struct {
	BaseURL     string            // e.g. http://127.0.0.1:8080
	BatchSize   int               // records per request (default 1000)
	Concurrency int               // requests in flight (default 4)
	Headers     map[string]string // per-request headers, e.g. an agency API key
	// KeyFor, when set, gives the header value of Authorization for an
	// agency system's requests.
	KeyFor func(agency, system string) string
	// Progress, when set, is told of each batch the hub took.
	Progress func(records int)
}

// loadStats counts what the hub said of the records.
type loadStats struct {
	Sent, Accepted, Duplicates, Quarantined int64
}

type loadJob struct {
	agency, system string
	body           []byte
	n              int
}

// sendFeeds posts every record of every feed. Feeds are interleaved batch by
// batch, as agencies send concurrently in life.
func sendFeeds(ctx context.Context, feeds []synth.Feed, o loadOptions) (loadStats, error) {
	if o.BatchSize <= 0 {
		o.BatchSize = 1000
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	client := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: o.Concurrency}}
	jobs := make(chan loadJob, o.Concurrency)
	var st loadStats
	var firstErr error
	var once sync.Once
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fail := func(err error) { once.Do(func() { firstErr = err; cancel() }) }

	var wg sync.WaitGroup
	for w := 0; w < o.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if err := postBatch(ctx, client, o, j, &st); err != nil {
					fail(err)
				}
			}
		}()
	}
	go func() {
		defer close(jobs)
		pos := make([]int, len(feeds))
		for more := true; more; {
			more = false
			for fi, f := range feeds {
				if pos[fi] >= f.Len() {
					continue
				}
				more = true
				var buf bytes.Buffer
				n := 0
				for ; n < o.BatchSize && pos[fi] < f.Len(); n++ {
					b, err := json.Marshal(f.Record(pos[fi]))
					if err != nil {
						fail(err)
						return
					}
					buf.Write(b)
					buf.WriteByte('\n')
					pos[fi]++
				}
				select {
				case jobs <- loadJob{f.Agency, f.System, buf.Bytes(), n}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	wg.Wait()
	if firstErr != nil {
		return st, firstErr
	}
	return st, ctx.Err()
}

func postBatch(ctx context.Context, c *http.Client, o loadOptions, j loadJob, st *loadStats) error {
	url := fmt.Sprintf("%s/v1/feeds/%s/records?system=%s", o.BaseURL, j.agency, j.system)
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(j.body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-ndjson")
		for k, v := range o.Headers {
			req.Header.Set(k, v)
		}
		if o.KeyFor != nil {
			req.Header.Set("Authorization", o.KeyFor(j.agency, j.system))
		}
		resp, err := c.Do(req)
		if err != nil {
			return fmt.Errorf("post %s/%s batch: %w", j.agency, j.system, err)
		}
		var out struct {
			Accepted, Duplicates, Quarantined int64
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// 429: the hub is behind and asks for the batch again later.
		if resp.StatusCode == http.StatusTooManyRequests {
			wait := 5 * time.Second
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
				wait = time.Duration(s) * time.Second
			}
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		// 503 means the event log did not confirm: resending is safe.
		if resp.StatusCode == http.StatusServiceUnavailable && attempt < 5 {
			time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
			continue
		}
		if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusUnprocessableEntity {
			return fmt.Errorf("post %s/%s batch: HTTP %d: %.300s", j.agency, j.system, resp.StatusCode, body)
		}
		if err := json.Unmarshal(body, &out); err != nil {
			return fmt.Errorf("post %s/%s batch: %w", j.agency, j.system, err)
		}
		atomic.AddInt64(&st.Sent, int64(j.n))
		atomic.AddInt64(&st.Accepted, out.Accepted)
		atomic.AddInt64(&st.Duplicates, out.Duplicates)
		atomic.AddInt64(&st.Quarantined, out.Quarantined)
		if o.Progress != nil {
			o.Progress(j.n)
		}
		return nil
	}
}
