package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Webhook headers. The signature is "sha256=" and the hex HMAC-SHA256 of
// the timestamp, a dot and the body, keyed with the shared secret: the
// receiver recomputes it and refuses a mismatch or an old timestamp, so a
// captured request cannot be replayed much later.
const (
	HeaderSignature = "X-Contactpoint-Signature"
	HeaderTimestamp = "X-Contactpoint-Timestamp"
	HeaderID        = "X-Contactpoint-Notification"
)

// WebhookConfig is where a deployment's own messaging receives notices.
type WebhookConfig struct {
	URL     string // https; http only for a receiver on the loopback interface
	Secret  string // shared secret for the signature
	Timeout time.Duration
	Client  *http.Client // nil: a client with Timeout
}

// Webhook posts each notice as JSON.
type Webhook struct {
	cfg    WebhookConfig
	client *http.Client
	now    func() time.Time
}

// NewWebhook checks the settings.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" {
		return nil, errors.New("webhook url: want an absolute https URL")
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && loopback(u.Hostname())) {
		// The body names practitioners and children: never in clear
		// across a network.
		return nil, errors.New("webhook url: must be https (http only to a loopback address)")
	}
	if len(cfg.Secret) < 16 {
		return nil, errors.New("webhook secret: at least 16 characters")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	c := cfg.Client
	if c == nil {
		c = &http.Client{Timeout: cfg.Timeout}
	}
	return &Webhook{cfg: cfg, client: c, now: time.Now}, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Channel implements Sender.
func (w *Webhook) Channel() string { return ChannelWebhook }

// Accepts implements Sender: the deployment's messaging decides how to
// reach a practitioner, so any contact route will do.
func (w *Webhook) Accepts(r Recipient) bool { return r.Email != "" || r.Phone != "" || r.Key != "" }

// Sign returns the signature header value for a body sent at ts.
func Sign(secret string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a signature as a receiver would, in constant time.
func Verify(secret string, ts int64, body []byte, sig string) bool {
	return hmac.Equal([]byte(Sign(secret, ts, body)), []byte(sig))
}

// Send implements Sender. Any 2xx is delivery; the receiver dedupes on the
// notification id, since a timeout after it accepted means a resend.
func (w *Webhook) Send(ctx context.Context, n Notice) error {
	body, err := json.Marshal(n)
	if err != nil {
		return &Error{Channel: ChannelWebhook, Reason: "config", cause: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return &Error{Channel: ChannelWebhook, Reason: "config", cause: err}
	}
	ts := w.now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(w.cfg.Secret, ts, body))
	req.Header.Set(HeaderID, n.ID)
	resp, err := w.client.Do(req)
	if err != nil {
		var ne net.Error
		if ctx.Err() != nil || (errors.As(err, &ne) && ne.Timeout()) {
			return &Error{Channel: ChannelWebhook, Reason: "timeout", Temp: true, cause: err}
		}
		return &Error{Channel: ChannelWebhook, Reason: "dial", cause: err}
	}
	// Drain a little so the connection can be reused; the body is not
	// read further or kept, as it may echo what was sent.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return &Error{Channel: ChannelWebhook, Reason: "status", Code: resp.StatusCode,
			Temp:  resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests,
			cause: fmt.Errorf("webhook answered %d", resp.StatusCode)}
	}
	return nil
}
