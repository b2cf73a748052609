package hl7

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// MLLP framing bytes: a message travels as <VT> message <FS><CR>.
const (
	StartBlock = 0x0B
	EndBlock   = 0x1C
	EndFrame   = 0x0D
)

// ErrFrameTooLarge is returned (with the frame's first bytes) when a frame
// is longer than the limit; the rest of it has been read and discarded, so
// the connection is still in step with the sender.
var ErrFrameTooLarge = errors.New("mllp: frame exceeds the maximum message size")

// ErrNoFrame means the peer sent a run of bytes that never began a frame: it
// is not speaking MLLP, and the connection should be dropped.
var ErrNoFrame = errors.New("mllp: no start-of-block byte")

// ErrUnframed means the peer sent bytes outside any frame and then paused:
// it is answered, and the connection read on.
var ErrUnframed = errors.New("mllp: bytes outside MLLP framing")

// ReadFrame reads one MLLP frame of at most max bytes and returns its
// content without the framing bytes. io.EOF means the peer closed cleanly
// between frames; io.ErrUnexpectedEOF that it closed inside one.
func ReadFrame(r *bufio.Reader, max int) ([]byte, error) { return readFrame(r, max, nil, nil) }

// readFrame calls started once the start byte has arrived, so that the
// listener can swap its idle deadline for the shorter read deadline, and
// sets *outside to the number of bytes that came before it outside any
// frame, so that the listener can say so rather than drop them silently.
func readFrame(r *bufio.Reader, max int, started func(), outside *int) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxMessageBytes
	}
	// Bytes between frames (stray newlines from some senders, a message sent
	// without framing) are skipped, but only so many: past that the peer is
	// not speaking MLLP.
	stray := 0 // bytes other than white space: line ends between frames are common and harmless
	report := func() {
		if outside != nil {
			*outside = stray
		}
	}
	for skipped := 0; ; skipped++ {
		c, err := r.ReadByte()
		if err != nil {
			report()
			return nil, err
		}
		if c == StartBlock {
			report()
			break
		}
		if c != '\r' && c != '\n' && c != ' ' && c != '\t' {
			stray++
		}
		if stray > 0 && r.Buffered() == 0 {
			// The sender has stopped after bytes that began no frame:
			// most likely a message sent without MLLP framing, waiting for
			// an answer that would otherwise never come.
			report()
			return nil, ErrUnframed
		}
		if skipped >= max {
			report()
			return nil, ErrNoFrame
		}
	}
	if started != nil {
		started()
	}
	var buf []byte
	over := false
	for {
		chunk, err := r.ReadSlice(EndBlock)
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("mllp: read frame: %w", err)
		}
		done := err == nil
		if done {
			chunk = chunk[:len(chunk)-1]
		}
		if !over {
			if len(buf)+len(chunk) > max {
				buf = append(buf, chunk[:max-len(buf)]...)
				over = true
			} else {
				buf = append(buf, chunk...)
			}
		}
		if done {
			break
		}
	}
	// <FS> is followed by <CR>; a sender that omits the <CR> is tolerated, and
	// the byte it sent instead is left for the next frame.
	if c, err := r.ReadByte(); err == nil && c != EndFrame {
		_ = r.UnreadByte()
	}
	if over {
		return buf, ErrFrameTooLarge
	}
	if buf == nil {
		buf = []byte{}
	}
	return buf, nil
}

// WriteFrame writes msg as one MLLP frame.
func WriteFrame(w io.Writer, msg []byte) error {
	out := make([]byte, 0, len(msg)+3)
	out = append(out, StartBlock)
	out = append(out, msg...)
	out = append(out, EndBlock, EndFrame)
	if _, err := w.Write(out); err != nil {
		return fmt.Errorf("mllp: write frame: %w", err)
	}
	return nil
}
