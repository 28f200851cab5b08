package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	if err := cli(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "release: %v\n", err)
		os.Exit(1)
	}
}

func cli(args []string) error {
	top := flag.NewFlagSet("release", flag.ContinueOnError)
	root := top.String("C", "", "the repository (default: the nearest directory above holding go.work)")
	modcache := top.String("modcache", "", "module cache for runs on a file proxy (default: under the user cache directory)")
	if err := top.Parse(args); err != nil {
		return err
	}
	if top.NArg() == 0 {
		return errors.New("a command: release, bump, consumer, tidy, gowork-off or proxy")
	}
	if *root == "" {
		var err error
		if *root, err = findRoot(); err != nil {
			return err
		}
	}
	w, err := loadWorkspace(*root)
	if err != nil {
		return err
	}
	cmd, rest := top.Arg(0), top.Args()[1:]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	switch cmd {
	case "release":
		apply := fs.Bool("apply", false, "act: rewrite, tidy, test, commit and tag (default: print the plan)")
		test := fs.String("test", "make test consumer", "shell command that must pass before the commit; empty for none")
		if err := fs.Parse(rest); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return errors.New("release: one version expected: release [-apply] vX.Y.Z")
		}
		return w.release(releaseOptions{version: fs.Arg(0), apply: *apply, test: *test, modcache: *modcache, log: os.Stdout})
	case "bump":
		if len(rest) != 1 || !isReleaseVersion(rest[0]) {
			return errors.New("bump: one version vX.Y.Z expected")
		}
		edits, err := w.bump(rest[0])
		if err != nil {
			return err
		}
		for _, e := range edits {
			for _, c := range e.changes {
				fmt.Printf("%s: %s\n", e.file, c)
			}
		}
		return w.apply(edits)
	case "consumer":
		keep := fs.Bool("keep", false, "keep the scratch directory")
		if err := fs.Parse(rest); err != nil {
			return err
		}
		return w.consumer(consumerOptions{
			modcache:     *modcache,
			keep:         *keep,
			requireRedis: os.Getenv("AUTHENIK8_REQUIRE_REDIS") == "1",
			log:          os.Stdout,
		})
	case "tidy":
		check := fs.Bool("check", false, "change nothing; fail if tidy would change a go.mod or go.sum")
		if err := fs.Parse(rest); err != nil {
			return err
		}
		return w.tidy(*check, *modcache, os.Stdout)
	case "gowork-off":
		only := fs.String("only", "", "comma-separated module directories (default: all)")
		if err := fs.Parse(rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			return errors.New("gowork-off: the go command's arguments expected, e.g. test ./...")
		}
		var keep []*gomod
		if *only != "" {
			for _, d := range strings.Split(*only, ",") {
				m := w.byDir(d)
				if m == nil {
					return fmt.Errorf("gowork-off: no module %s in go.work", d)
				}
				keep = append(keep, m)
			}
		}
		return w.goworkOff(fs.Args(), keep, *modcache, os.Stdout)
	case "proxy":
		dir := fs.String("dir", "", "directory to write the proxy into")
		version := fs.String("version", "", "version to serve the modules at (default: the one they require each other at)")
		if err := fs.Parse(rest); err != nil {
			return err
		}
		if *dir == "" {
			return errors.New("proxy: -dir is required")
		}
		v := *version
		if v == "" {
			if v, err = w.version(); err != nil {
				return err
			}
		}
		if err := w.buildProxy(*dir, v); err != nil {
			return err
		}
		fmt.Printf("GOPROXY=%s serves %d modules at %s\n", fileURL(*dir), len(w.modules), v)
		return nil
	default:
		return fmt.Errorf("unknown command %q: release, bump, consumer, tidy, gowork-off or proxy", cmd)
	}
}

// findRoot is the nearest directory at or above the working directory that
// holds go.work.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.work in this directory or above: run from the repository")
		}
		dir = parent
	}
}
