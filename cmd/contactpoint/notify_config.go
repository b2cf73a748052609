package main

import (
	"github.com/spf13/viper"

	"contactpoint/adapters/notify"
	"contactpoint/app/notifier"
)

// notifyKeys are the notifier's settings, each also readable from the
// environment (notify.smtp.addr from CONTACTPOINT_NOTIFY_SMTP_ADDR).
var notifyKeys = []string{
	"notify.smtp.addr", "notify.smtp.tls", "notify.smtp.username", "notify.smtp.password", "notify.smtp.from", "notify.smtp.timeout",
	"notify.smtp.ca-file",
	"notify.webhook.url", "notify.webhook.secret", "notify.webhook.timeout",
	"notify.max-retries", "notify.retry-initial", "notify.retry-max", "notify.max-age",
	"notify.check-every", "notify.shield-lead", "notify.review-age",
}

// notifyConfig reads notify.*; zero values take the notifier's defaults,
// and notifier.New checks what is set.
func notifyConfig(v *viper.Viper) notifier.Config {
	bindNested(v, notifyKeys...)
	return notifier.Config{
		SMTP: notify.SMTPConfig{
			Addr: v.GetString("notify.smtp.addr"), TLS: v.GetString("notify.smtp.tls"),
			Username: v.GetString("notify.smtp.username"), Password: v.GetString("notify.smtp.password"),
			From: v.GetString("notify.smtp.from"), Timeout: v.GetDuration("notify.smtp.timeout"),
			CAFile: v.GetString("notify.smtp.ca-file"),
		},
		Webhook: notify.WebhookConfig{
			URL: v.GetString("notify.webhook.url"), Secret: v.GetString("notify.webhook.secret"),
			Timeout: v.GetDuration("notify.webhook.timeout"),
		},
		MaxRetries:      v.GetInt("notify.max-retries"),
		InitialInterval: v.GetDuration("notify.retry-initial"),
		MaxInterval:     v.GetDuration("notify.retry-max"),
		MaxAge:          v.GetDuration("notify.max-age"),
		CheckEvery:      v.GetDuration("notify.check-every"),
		ShieldLead:      v.GetDuration("notify.shield-lead"),
		ReviewAge:       v.GetDuration("notify.review-age"),
	}
}
