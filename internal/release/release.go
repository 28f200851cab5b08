package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/mod/semver"
)

// releaseOptions configure a release.
type releaseOptions struct {
	version  string
	apply    bool   // act; otherwise print the plan only
	test     string // shell command run before committing; "" runs none
	modcache string
	log      io.Writer
}

// release sets every sibling requirement and the CLI's version constant to
// the version, tidies every module, runs the tests, commits and creates
// the per-module tags (dir/vX.Y.Z) that the go command looks for in a
// multi-module repository. Without apply it prints that plan and changes
// nothing.
func (w *workspace) release(o releaseOptions) error {
	v := o.version
	if !isReleaseVersion(v) {
		return fmt.Errorf("version %q: want a canonical vX.Y.Z (v0 or v1; a -prerelease is fine), not a pseudo-version", v)
	}
	var problems []string
	if cur, err := w.version(); err == nil && semver.Compare(v, cur) < 0 {
		problems = append(problems, fmt.Sprintf("%s is older than %s, the version the modules require each other at", v, cur))
	}
	edits, err := w.bump(v)
	if err != nil {
		return err
	}
	existing, err := w.git("tag", "--list")
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, t := range strings.Fields(existing) {
		have[t] = true
	}
	for _, m := range w.modules {
		if have[tag(m, v)] {
			problems = append(problems, "tag "+tag(m, v)+" exists already")
		}
	}
	dirty, err := w.git("status", "--porcelain")
	if err != nil {
		return err
	}
	if dirty != "" {
		msg := "the working tree has uncommitted changes:\n    " + strings.ReplaceAll(strings.TrimSpace(dirty), "\n", "\n    ")
		if o.apply {
			problems = append(problems, msg)
		} else {
			fmt.Fprintf(o.log, "note: %s\n", msg)
		}
	}

	if ok, err := w.changelogHas(v); err != nil {
		return err
	} else if !ok {
		msg := "CHANGELOG.md has no \"## [" + strings.TrimPrefix(v, "v") + "]\" entry: rename \"Unreleased\" first"
		if o.apply {
			problems = append(problems, msg)
		} else {
			fmt.Fprintf(o.log, "note: %s\n", msg)
		}
	}

	mode := "dry run: nothing is changed; APPLY=1 to act"
	if o.apply {
		mode = "applying"
	}
	fmt.Fprintf(o.log, "release %s (%s)\n\n", v, mode)
	fmt.Fprintf(o.log, "1. rewrite (golang.org/x/mod/modfile; go/parser for the constant):\n")
	if len(edits) == 0 {
		fmt.Fprintf(o.log, "   nothing: every requirement and the constant name %s already\n", v)
	}
	for _, e := range edits {
		for _, c := range e.changes {
			fmt.Fprintf(o.log, "   %s: %s\n", e.file, c)
		}
	}
	fmt.Fprintf(o.log, "2. go mod tidy in each of the %d modules (GOWORK=off; no go.sum keeps a sibling's checksum;\n   a no-op for a tree that passes make tidy-check)\n", len(w.modules))
	if o.test != "" {
		fmt.Fprintf(o.log, "3. run: %s\n", o.test)
	} else {
		fmt.Fprintf(o.log, "3. run no tests\n")
	}
	fmt.Fprintf(o.log, "4. git commit the changed go.mod, go.sum and Go files, if any: %q\n", commitMessage(v))
	fmt.Fprintf(o.log, "5. git tag -a, on that commit:\n")
	for _, m := range w.modules {
		fmt.Fprintf(o.log, "   %-40s %s\n", tag(m, v), m.path)
	}
	if len(problems) > 0 {
		return fmt.Errorf("cannot release %s:\n  %s", v, strings.Join(problems, "\n  "))
	}
	if !o.apply {
		return nil
	}

	fmt.Fprintf(o.log, "\n== 1. rewrite\n")
	if err := w.apply(edits); err != nil {
		return err
	}
	w, err = loadWorkspace(w.root) // the go.mod files changed
	if err != nil {
		return err
	}
	fmt.Fprintf(o.log, "== 2. tidy\n")
	if err := w.tidy(false, o.modcache, o.log); err != nil {
		return fmt.Errorf("%v\n(the rewritten files are left for inspection; git checkout -- . undoes them)", err)
	}
	if o.test != "" {
		fmt.Fprintf(o.log, "== 3. %s\n", o.test)
		cmd := exec.Command("sh", "-c", o.test)
		cmd.Dir, cmd.Stdout, cmd.Stderr = w.root, o.log, o.log
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %v; nothing committed or tagged (git checkout -- . undoes the rewrite)", o.test, err)
		}
	}
	fmt.Fprintf(o.log, "== 4. commit\n")
	add := []string{"add", "--"}
	for _, e := range edits {
		add = append(add, e.file)
	}
	for _, m := range w.modules {
		for _, f := range []string{"go.mod", "go.sum"} {
			if _, err := os.Stat(filepath.Join(w.root, filepath.FromSlash(m.dir), f)); err == nil {
				add = append(add, m.dir+"/"+f)
			}
		}
	}
	if _, err := w.git(add...); err != nil {
		return err
	}
	if _, err := w.git("diff", "--cached", "--quiet"); err != nil {
		if _, err := w.git("commit", "-q", "-m", commitMessage(v)); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(o.log, "   nothing to commit: tagging HEAD\n")
	}
	fmt.Fprintf(o.log, "== 5. tag\n")
	var tags []string
	for _, m := range w.modules {
		t := tag(m, v)
		if _, err := w.git("tag", "-a", t, "-m", m.path+" "+v); err != nil {
			return err
		}
		tags = append(tags, t)
	}
	if left, _ := w.git("status", "--porcelain"); left != "" {
		fmt.Fprintf(o.log, "note: the tests left changes in the working tree:\n%s\n", left)
	}
	fmt.Fprintf(o.log, "\nTagged %d modules at %s. Nothing was pushed; to publish:\n  git push origin HEAD %s\n", len(tags), v, strings.Join(tags, " "))
	return nil
}

// changelogHas reports whether CHANGELOG.md has an entry for v; true when
// there is no changelog at all.
func (w *workspace) changelogHas(v string) (bool, error) {
	b, err := readOptional(filepath.Join(w.root, "CHANGELOG.md"))
	if err != nil || b == nil {
		return true, err
	}
	return bytes.Contains(b, []byte("## ["+strings.TrimPrefix(v, "v")+"]")), nil
}

func commitMessage(v string) string {
	return "Release " + v + ": the modules require each other at " + v
}

// git runs git in the root and returns its output.
func (w *workspace) git(args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = w.root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(args) > 0 && args[0] == "diff" {
			return "", err // --quiet: exit status 1 means a difference
		}
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return string(out), nil
}
