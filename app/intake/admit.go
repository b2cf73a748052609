package intake

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrBacklog refuses a submission while the linker is further behind FEEDS
// than the configured bound: the sender is told to resend later (HTTP 429
// with Retry-After, MLLP AR), rather than the backlog growing without
// limit. Nothing of the submission was stored.
var ErrBacklog = errors.New("the hub is behind with linking; resend later")

// ErrStorageFull wraps an append that the event log refused for want of
// storage (JetStream's insufficient resources, or a stream at its byte
// limit): resending later is safe, and waiting will not help until an
// operator makes room.
var ErrStorageFull = errors.New("the event log is out of storage")

// RetryAfter is what a refused sender is told to wait.
const RetryAfter = 5 * time.Second

// storageWindow is how long after a refusal for want of storage the hub
// reports itself full (GET /readyz) without another refusal: long enough
// to be seen, short enough that the first append after space returns is
// not held back by it.
const storageWindow = 3 * time.Second

// admission is the service's view of whether to take records now.
type admission struct {
	// backlog, when set, reports whether the linker's backlog is past its
	// bound; it reads a figure kept up to date in the background, never
	// the database, so that an outage does not stop intake.
	backlog  func() bool
	fullAt   atomic.Int64 // unix nanoseconds of the last refusal for want of storage
	fullWhat atomic.Value // string: which limit refused
}

// SetBacklog sets the check of the linker's backlog (nil: never refuse).
func (s *Service) SetBacklog(over func() bool) { s.adm.backlog = over }

func (s *Service) admit() error {
	if s.adm.backlog != nil && s.adm.backlog() {
		return ErrBacklog
	}
	return nil
}

// StorageFull reports whether an append was refused for want of storage in
// the last few seconds, and what said so (a limit's name, no data).
func (s *Service) StorageFull() (bool, string) {
	at := s.adm.fullAt.Load()
	if at == 0 || time.Since(time.Unix(0, at)) > storageWindow {
		return false, ""
	}
	what, _ := s.adm.fullWhat.Load().(string)
	return true, what
}

// classify wraps an append's error in ErrStorageFull when JetStream refused
// it for want of storage, and remembers that for StorageFull.
func (s *Service) classify(err error) error {
	if what, ok := storageRefusal(err); ok {
		s.adm.fullAt.Store(time.Now().UnixNano())
		s.adm.fullWhat.Store(what)
		return fmt.Errorf("%w (%s): %w", ErrStorageFull, what, err)
	}
	return err
}

// stored clears the full state: an append has just been stored.
func (s *Service) stored() { s.adm.fullAt.Store(0) }

// storageRefusal tells a refusal for want of storage from other errors.
func storageRefusal(err error) (string, bool) {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return "", false
	}
	switch apiErr.ErrorCode {
	case 10023: // JSInsufficientResourcesErr: the server's store limit
		return "server storage limit", true
	case 10047: // JSStorageResourcesExceededErr
		return "account storage limit", true
	case 10077: // JSStreamStoreFailedErr: a stream's own limits
		if strings.Contains(apiErr.Description, "maximum bytes") {
			return "stream byte limit", true
		}
	}
	return "", false
}
