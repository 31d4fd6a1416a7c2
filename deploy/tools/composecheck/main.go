// composecheck loads a Compose file the way `docker compose config` does (compose-go: schema validation,
// interpolation, env files, depends_on and extension merging) and prints the services it found.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: composecheck <compose.yml> <env-file>")
		os.Exit(2)
	}
	opts, err := cli.NewProjectOptions([]string{os.Args[1]}, cli.WithEnvFiles(os.Args[2]), cli.WithDotEnv, cli.WithName("rollcall"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("compose ok: %d services (%v)\n", len(project.Services), project.ServiceNames())
}
