package hl7

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.hl7"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(msg("A29", pidA)))
	f.Add([]byte("MSH#*@!%#APP#FAC####ADT*A01#1#P#2.3\rPID#1##X!F!Y*a%b"))
	f.Add([]byte("MSH|^~\\&|A|B|||1||ADT^A01|1|P|2.3\rPID|||\\X\\||\\Xzz\\"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		ackInfo := AckInfo{Code: AckError, ControlID: "X", Time: time.Unix(0, 0), Problems: []Problem{{Field: "PID-7", Code: 101, Message: string(b)}}}
		ack := BuildAck(m, ackInfo)
		// Whatever came in, the ACK must be one well-formed message, safe to frame.
		if bytes.ContainsAny(ack, "\x0b\x1c\n") {
			t.Fatalf("ACK carries framing bytes: %q", ack)
		}
		if _, err := Parse(ack); err != nil {
			t.Fatalf("ACK does not parse: %v\n%q", err, ack)
		}
		if err != nil {
			return
		}
		res, err := Map(m, MapOptions{System: "pas"})
		if err != nil {
			var he *Error
			if !errors.As(err, &he) || len(he.Errors) == 0 {
				t.Fatalf("Map error %v is not a populated *Error", err)
			}
			return
		}
		if (res.Record == nil) == (res.Merge == nil) {
			t.Fatalf("result must hold exactly one of record and merge: %+v", res)
		}
		if res.Record != nil {
			if _, err := json.Marshal(res.Record); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func FuzzFrame(f *testing.F) {
	f.Add([]byte("\x0bMSH|^~\\&|A\x1c\x0d"), 64)
	f.Add([]byte("\r\n\x0bone\x1c\x0d\x0btwo\x1c\x0d"), 4)
	f.Add([]byte("\x0bno end"), 64)
	f.Add([]byte("\x0b\x1c\x0b\x1cx"), 1)
	f.Add([]byte("junk junk junk"), 3)
	f.Fuzz(func(t *testing.T, b []byte, max int) {
		if max <= 0 || max > 1<<16 {
			max = 64
		}
		br := bufio.NewReaderSize(bytes.NewReader(b), 16)
		for i := 0; i <= len(b); i++ {
			frame, err := ReadFrame(br, max)
			if len(frame) > max {
				t.Fatalf("frame of %d bytes exceeds max %d", len(frame), max)
			}
			if err == nil || errors.Is(err, ErrFrameTooLarge) || errors.Is(err, ErrUnframed) {
				if bytes.IndexByte(frame, EndBlock) >= 0 {
					t.Fatalf("frame holds an end-of-block byte: %q", frame)
				}
				continue
			}
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrNoFrame) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		t.Fatal("more frames than bytes")
	})
}

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	msgs := [][]byte{[]byte("MSH|one"), {}, []byte("MSH|three\rPID|1")}
	for _, m := range msgs {
		if err := WriteFrame(&buf, m); err != nil {
			t.Fatal(err)
		}
	}
	buf.WriteString("\r\n") // trailing bytes between frames are ignored
	br := bufio.NewReader(&buf)
	for _, want := range msgs {
		got, err := ReadFrame(br, 100)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("ReadFrame = %q, %v; want %q", got, err, want)
		}
	}
	if _, err := ReadFrame(br, 100); !errors.Is(err, io.EOF) {
		t.Fatalf("at end: %v, want EOF", err)
	}
}

func TestFrameErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want error
		data string
	}{
		{"truncated", "\x0bMSH|abc", 100, io.ErrUnexpectedEOF, ""},
		{"too large keeps head", "\x0b0123456789\x1c\x0d", 4, ErrFrameTooLarge, "0123"},
		{"no start byte", "xxxxxxxxxxxx", 4, ErrNoFrame, ""},
		{"missing CR tolerated", "\x0babc\x1c", 100, nil, "abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadFrame(bufio.NewReader(bytes.NewReader([]byte(tt.in))), tt.max)
			if !errors.Is(err, tt.want) || string(got) != tt.data {
				t.Errorf("ReadFrame = %q, %v; want %q, %v", got, err, tt.data, tt.want)
			}
		})
	}
}
