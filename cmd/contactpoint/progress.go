package main

import (
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progressOut is where progress is drawn: standard error when it is a
// terminal, nowhere otherwise, so that logs, pipes and CI stay clean.
func progressOut() io.Writer {
	if term.IsTerminal(int(os.Stderr.Fd())) {
		return os.Stderr
	}
	return io.Discard
}

func barOptions(desc string) []progressbar.Option {
	return []progressbar.Option{
		progressbar.OptionSetWriter(progressOut()),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("records"),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetWidth(30),
	}
}

// newBar counts n items (records) under desc.
func newBar(n int64, desc string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(n, barOptions(desc)...)
}

// newByteBar counts the bytes of a file as they are read.
func newByteBar(n int64, desc string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(n,
		progressbar.OptionSetWriter(progressOut()),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetWidth(30),
	)
}

// spin shows a spinner with the time elapsed for a step whose size is not
// known in advance (a rebuild, reading CHILDREN); stop ends it.
func spin(desc string) (stop func()) {
	bar := progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(progressOut()),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionClearOnFinish(),
	)
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(150 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = bar.Add(1)
			}
		}
	}()
	// Callers stop the spinner when the step ends and again on their way
	// out (a deferred stop): only the first call does anything.
	var once sync.Once
	return func() { once.Do(func() { close(done); _ = bar.Finish() }) }
}
