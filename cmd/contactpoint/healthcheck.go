package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"
)

// healthcheckCmd asks a hub's /healthz. The container image has no shell or
// HTTP client, so the compose file's health check runs the binary itself.
func healthcheckCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "healthcheck [URL]",
		Short: "Exit 0 when the hub at URL (default http://127.0.0.1:8080/healthz) answers 200; for container health checks",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			url := "http://127.0.0.1:8080/healthz"
			if len(args) == 1 {
				url = args[0]
			}
			tr := http.DefaultTransport.(*http.Transport).Clone()
			if ca, _ := cmd.Flags().GetString("ca"); ca != "" {
				pem, err := os.ReadFile(ca)
				if err != nil {
					return fmt.Errorf("healthcheck: %w", err)
				}
				pool := x509.NewCertPool()
				if !pool.AppendCertsFromPEM(pem) {
					return fmt.Errorf("healthcheck: %s holds no PEM certificate", ca)
				}
				tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
			}
			client := &http.Client{Timeout: 5 * time.Second, Transport: tr}
			resp, err := client.Get(url)
			if err != nil {
				return fmt.Errorf("healthcheck %s: %w", url, err)
			}
			defer resp.Body.Close()
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("healthcheck %s: status %d", url, resp.StatusCode)
			}
			return nil
		},
	}
	cmd.Flags().String("ca", "", "trust this CA (PEM file) for an https URL")
	return cmd
}
