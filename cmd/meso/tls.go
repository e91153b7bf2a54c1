package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/meso-project/meso/pkg/tlsconfig"
)

// tlsFromEnv reads libprocess's LIBPROCESS_SSL_* variables, as every Mesos
// binary does at startup; a bad setting stops the command, as Mesos exits.
func tlsFromEnv(logger *slog.Logger) (*tlsconfig.Config, error) {
	c, err := tlsconfig.FromEnv(os.LookupEnv, logger)
	if err != nil {
		return nil, err
	}
	if c.On() {
		logger.Info("TLS enabled (LIBPROCESS_SSL_ENABLED)", "downgrade", c.SupportDowngrade,
			"verify_server_cert", c.VerifyServerCert, "require_client_cert", c.RequireClientCert,
			"hostname_validation_scheme", c.HostnameValidationScheme)
	}
	return c, nil
}

// describeTLS names the scheme for the startup banners.
func describeTLS(c *tlsconfig.Config) string { return fmt.Sprintf("%s://", c.Scheme()) }
