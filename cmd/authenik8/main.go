package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"golang.org/x/term"
)

// Exit codes (see the package documentation).
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and failed
	exitUsage   = 2 // the command line is wrong
)

// stdio is what a command may touch of its process, so that tests run the
// commands in-process.
type stdio struct {
	stdin       io.Reader
	stdout      io.Writer
	stderr      io.Writer
	getenv      func(string) string
	interactive bool // stdin is a terminal: prompts are allowed
}

func main() {
	std := &stdio{
		stdin:       os.Stdin,
		stdout:      os.Stdout,
		stderr:      os.Stderr,
		getenv:      os.Getenv,
		interactive: term.IsTerminal(int(os.Stdin.Fd())),
	}
	os.Exit(run(os.Args[1:], std))
}

const usage = `authenik8 scaffolds and checks Authenik8 authentication services.

Usage:
  authenik8 new <dir> [--framework gin|echo|fiber|nethttp] [--store memory|redis] [--users postgres] [--module path] [--yes] [--tidy] [--replace checkout]
  authenik8 secret [--raw] [--bytes n] | --jwks ed25519|p256
  authenik8 doctor [--env .env] [--json] [--timeout 5s]
  authenik8 version

Run "authenik8 <command> -h" for a command's flags.
Exit status: 0 success, 1 failure, 2 usage error.
`

// run dispatches to a subcommand and returns the exit code.
func run(args []string, std *stdio) int {
	if len(args) == 0 {
		fmt.Fprint(std.stderr, usage)
		return exitUsage
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "new":
		return cmdNew(rest, std)
	case "secret":
		return cmdSecret(rest, std)
	case "doctor":
		return cmdDoctor(rest, std)
	case "version":
		fmt.Fprintf(std.stdout, "authenik8 %s (new projects require the authenik8 modules at %s)\n", cliVersion(), authenik8Version)
		return exitOK
	case "help", "-h", "-help", "--help":
		fmt.Fprint(std.stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(std.stderr, "authenik8: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
}

// cliVersion is the version of this module as the go command recorded it.
func cliVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// parseArgs parses flags that may come before, between or after the
// positional arguments ("new myapp --yes" as well as "new --yes myapp") and
// returns the positional ones. It returns the flag package's error, which
// has already been printed with the usage.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(positional, rest...), nil // everything after "--"
		}
		if len(rest) == 0 {
			return positional, nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// flagExit maps a flag parsing error to an exit code: -h is not an error.
func flagExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitUsage
}
