package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func cmdStdout() io.Writer { return os.Stdout }

func versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print meso's version and the Mesos version it is compatible with",
		RunE: func(c *cobra.Command, _ []string) error {
			v := "(devel)"
			if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
				v = bi.Main.Version
			}
			fmt.Fprintf(c.OutOrStdout(), "meso %s (speaks Apache Mesos 1.11.0 wire protocols)\n", v)
			return nil
		},
	}
}
