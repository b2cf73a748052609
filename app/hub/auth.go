package hub

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	auditadapter "contactpoint/adapters/audit"
	"contactpoint/adapters/auth"
	"contactpoint/adapters/natsjs"
	"contactpoint/domain/registry"
	auditproj "contactpoint/projections/audit"
	"contactpoint/projections/directory"
)

// AuthConfig configures authentication and the audit trail.
type AuthConfig struct {
	// TokenKey signs tokens (hex, 32 bytes or more). Every instance of a
	// deployment needs the same key. Empty: a key kept in DataDir/auth.key,
	// created on first start.
	TokenKey string
	// BootstrapAdmin, when set, is the username of an administrator
	// enrolled when the register is empty (first start); the credentials
	// are written once to DataDir/bootstrap-admin.json (mode 0600), never
	// to the log.
	BootstrapAdmin string
	SecureCookie   bool
	TokenTTL       time.Duration
	SessionTTL     time.Duration
	Lockout        registry.Lockout
	Signals        auditproj.Thresholds
	// OIDC, when its issuer is set, adds sign-in through the deployment's
	// OpenID Connect provider.
	OIDC auth.OIDCConfig
	// TrustedProxies are the addresses (IPs or CIDR prefixes) of the
	// proxies in front of the hub whose X-Forwarded-Proto and
	// X-Forwarded-Host the FHIR facade believes for its absolute URLs.
	TrustedProxies []string
	// FHIRRate is the FHIR requests a second one practitioner may make
	// (FHIRBurst in hand); more are answered 429. Zero: no limit.
	FHIRRate  float64
	FHIRBurst int
	// PublicURL is the deployment's public base URL, from which the
	// hub's own FHIR identifier systems derive (fhir.NewSystems); empty is
	// fhir.DefaultPublicURL.
	PublicURL string
}

// Security is the hub's authentication, register and audit trail.
type Security struct {
	Registry   *auth.Registry
	Auth       *auth.Service
	AuditLog   *auditadapter.Writer
	AuditProj  *auditproj.Projection
	AuditStore *auditproj.Store
	auditHTTP  *auditadapter.Routes
}

func (h *Hub) startSecurity(ctx, runCtx context.Context) error {
	cfg := h.cfg.Auth
	if err := natsjs.EnsureAuthStreams(ctx, h.NATS.JS, natsjs.WithReplicas(h.cfg.StreamReplicas)); err != nil {
		return err
	}
	key, err := tokenKey(cfg.TokenKey, h.cfg.DataDir)
	if err != nil {
		return err
	}
	h.Registry = auth.NewRegistry(h.NATS.JS, h.DB)
	if err := h.Registry.CatchUp(ctx); err != nil {
		return err
	}
	h.AuditLog = auditadapter.NewWriter(h.NATS.JS)
	h.AuditLog.Keys = h.DB
	h.Auth, err = auth.New(h.Registry, h.AuditLog, h.log, auth.Config{TokenKey: key, TokenTTL: cfg.TokenTTL,
		SessionTTL: cfg.SessionTTL, Lockout: cfg.Lockout, SecureCookie: cfg.SecureCookie})
	if err != nil {
		return err
	}
	if cfg.OIDC.Enabled() {
		if err := h.Auth.EnableOIDC(cfg.OIDC); err != nil {
			return err
		}
	}
	h.AuditProj = auditproj.New(h.NATS.JS, h.DB, h.log)
	h.AuditStore = auditproj.NewStore(h.DB)
	th := cfg.Signals
	if th == (auditproj.Thresholds{}) {
		th = auditproj.DefaultThresholds
	}
	if err := th.Validate(); err != nil {
		return fmt.Errorf("audit-signals: %w", err)
	}
	h.auditHTTP = &auditadapter.Routes{Store: h.AuditStore, Recorder: h.AuditLog, Thresholds: th, Log: h.log,
		Restricted: directory.NewStore(h.DB).Restricted}
	h.leased(runCtx, h.AuditProj.Name, h.AuditProj.Run)
	if cfg.BootstrapAdmin != "" {
		if err := h.bootstrapAdmin(ctx, cfg.BootstrapAdmin); err != nil {
			return err
		}
	}
	return nil
}

// mount adds sign-in, the register and the auditors' routes to the API and
// puts authentication in front of every route.
func (h *Hub) mount(mux *http.ServeMux) http.Handler {
	h.Auth.Register(mux)
	h.auditHTTP.Register(mux)
	return h.Auth.Middleware(mux)
}

// bootstrapAdmin enrols the first administrator of an empty register and
// writes its credentials once to DataDir/bootstrap-admin.json; the log says
// where, never what.
func (h *Hub) bootstrapAdmin(ctx context.Context, username string) error {
	path := filepath.Join(h.cfg.DataDir, "bootstrap-admin.json")
	created, err := h.Registry.BootstrapAdmin(ctx, username, path)
	if errors.Is(err, auth.ErrBootstrapFileExists) {
		h.log.Warn("register is empty; no administrator enrolled", "file", path, "reason", err.Error())
		return nil
	}
	if err != nil {
		return err
	}
	if created {
		h.log.Info("bootstrap administrator enrolled; credentials written once", "username", username, "file", path)
	}
	return nil
}

// tokenKey decodes the configured key or reads (creating if need be) the
// key file in the data directory.
func tokenKey(configured, dataDir string) ([]byte, error) {
	if configured != "" {
		k, err := hex.DecodeString(strings.TrimSpace(configured))
		if err != nil || len(k) < 32 {
			return nil, errors.New("auth token key must be at least 32 bytes in hex (64 hex digits)")
		}
		return k, nil
	}
	path := filepath.Join(dataDir, "auth.key")
	b, err := os.ReadFile(path)
	if err == nil {
		return tokenKey(string(b), "")
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read token key: %w", err)
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(k)), 0o600); err != nil {
		return nil, fmt.Errorf("write token key: %w", err)
	}
	return k, nil
}

// WaitAudited blocks until every audit entry written so far is in the
// auditors' tables.
func (h *Hub) WaitAudited(ctx context.Context) error {
	for {
		done, err := h.AuditProj.Caught(ctx)
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
