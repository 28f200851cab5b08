package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// tidy runs `go mod tidy` in every module, each on its own (GOWORK=off).
// A module that replaces its siblings with their directories needs nothing
// else; one that does not (the CLI) resolves them from a file proxy of the
// checkout. With check, it changes nothing and reports what tidy would
// change. Either way no go.sum keeps a sibling's checksum: until a version
// is tagged, that checksum changes with every commit.
func (w *workspace) tidy(check bool, modcache string, log io.Writer) error {
	var problems []string
	if check {
		problems = append(problems, w.checkGraph()...)
	}
	var pe *proxyEnv
	for _, m := range w.modules {
		env := append(os.Environ(), "GOWORK=off")
		if !w.selfContained(m) {
			if pe == nil {
				var err error
				if pe, err = w.proxyEnv(modcache); err != nil {
					return err
				}
				defer pe.cleanup()
			}
			env = pe.env
		}
		fmt.Fprintf(log, "== go mod tidy %s\n", m.dir)
		p, err := w.tidyModule(m, env, check)
		if err != nil {
			return err
		}
		problems = append(problems, p...)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%d problem(s):\n  %s", len(problems), strings.Join(problems, "\n  "))
	}
	return nil
}

// proxyEnv is the stranger's environment on a file proxy of the checkout at
// the current version, for modules that cannot resolve their siblings.
type proxyEnv struct {
	*strangerEnv
	tmp string
}

func (p *proxyEnv) cleanup() {
	p.unlock()
	os.RemoveAll(p.tmp)
}

func (w *workspace) proxyEnv(modcache string) (*proxyEnv, error) {
	v, err := w.version()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "authenik8-proxy-")
	if err != nil {
		return nil, err
	}
	if err := w.buildProxy(tmp, v); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	se, err := w.newStrangerEnv(tmp, modcache)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	return &proxyEnv{se, tmp}, nil
}

// tidyModule tidies m, or with check tidies a scratch copy of its go.mod
// and go.sum (-modfile) and compares.
func (w *workspace) tidyModule(m *gomod, env []string, check bool) ([]string, error) {
	dir := filepath.Join(w.root, filepath.FromSlash(m.dir))
	modFile, sumFile := filepath.Join(dir, "go.mod"), filepath.Join(dir, "go.sum")
	oldSum, err := readOptional(sumFile)
	if err != nil {
		return nil, err
	}
	args := []string{"mod", "tidy"}
	if check {
		tmp, err := os.MkdirTemp("", "authenik8-tidy-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		modFile, sumFile = filepath.Join(tmp, "go.mod"), filepath.Join(tmp, "go.sum")
		if err := os.WriteFile(modFile, m.data, 0o644); err != nil {
			return nil, err
		}
		if err := os.WriteFile(sumFile, oldSum, 0o644); err != nil {
			return nil, err
		}
		args = append(args, "-modfile="+modFile)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir, cmd.Env = dir, env
	if _, err := run(cmd); err != nil {
		return nil, err
	}
	newMod, err := os.ReadFile(modFile)
	if err != nil {
		return nil, err
	}
	newSum, err := readOptional(sumFile)
	if err != nil {
		return nil, err
	}
	newSum = w.dropSiblingSums(newSum)
	if !check {
		if len(newSum) == 0 {
			return nil, removeOptional(sumFile)
		}
		return nil, os.WriteFile(sumFile, newSum, 0o644)
	}
	var problems []string
	if !bytes.Equal(newMod, m.data) {
		problems = append(problems, fmt.Sprintf("%s/go.mod: go mod tidy would change it:\n%s", m.dir, lineDiff(m.data, newMod)))
	}
	if !bytes.Equal(newSum, oldSum) {
		problems = append(problems, fmt.Sprintf("%s/go.sum: go mod tidy would change it (siblings' checksums aside):\n%s", m.dir, lineDiff(oldSum, newSum)))
	}
	return problems, nil
}

// dropSiblingSums removes the workspace modules' lines from a go.sum.
func (w *workspace) dropSiblingSums(sum []byte) []byte {
	var out bytes.Buffer
	for line := range strings.Lines(string(sum)) {
		if f := strings.Fields(line); len(f) > 0 && w.byPath(f[0]) != nil {
			continue
		}
		out.WriteString(line)
	}
	return out.Bytes()
}

// checkGraph checks the module graph: no requirement cycle between our
// modules, one release version, replace lines that point at the siblings'
// directories, and no go.sum that records a sibling's checksum.
func (w *workspace) checkGraph() []string {
	var problems []string
	if _, err := w.version(); err != nil {
		problems = append(problems, err.Error())
	}
	for _, m := range w.modules {
		reps := 0
		for _, r := range m.file.Replace {
			s := w.byPath(r.Old.Path)
			if s == nil {
				continue
			}
			reps++
			want, _ := filepath.Rel(filepath.FromSlash(m.dir), filepath.FromSlash(s.dir))
			if r.New.Version != "" || path.Clean(r.New.Path) != filepath.ToSlash(want) {
				problems = append(problems, fmt.Sprintf("%s/go.mod: replace %s => %s %s, want => %s", m.dir, r.Old.Path, r.New.Path, r.New.Version, filepath.ToSlash(want)))
			}
		}
		if reps > 0 && !w.selfContained(m) {
			problems = append(problems, fmt.Sprintf("%s/go.mod replaces some siblings but not all it requires: replace all (a library) or none (a command for go run pkg@version)", m.dir))
		}
		sum, err := readOptional(filepath.Join(w.root, filepath.FromSlash(m.dir), "go.sum"))
		if err != nil {
			problems = append(problems, err.Error())
		} else if d := w.dropSiblingSums(sum); !bytes.Equal(d, sum) {
			problems = append(problems, fmt.Sprintf("%s/go.sum records a sibling's checksum, which changes with every commit until tagged", m.dir))
		}
	}
	if cycle := w.cycle(); cycle != nil {
		problems = append(problems, "a requirement cycle between the modules: "+strings.Join(cycle, " -> "))
	}
	return problems
}

// cycle returns a cycle of sibling requirements, or nil.
func (w *workspace) cycle() []string {
	const (
		unseen = iota
		active
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(m *gomod) []string
	visit = func(m *gomod) []string {
		state[m.path] = active
		stack = append(stack, m.dir)
		for _, r := range w.siblings(m) {
			s := w.byPath(r.Mod.Path)
			switch state[s.path] {
			case active:
				i := slices.Index(stack, s.dir)
				return append(slices.Clone(stack[i:]), s.dir)
			case unseen:
				if c := visit(s); c != nil {
					return c
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[m.path] = done
		return nil
	}
	for _, m := range w.modules {
		if state[m.path] == unseen {
			if c := visit(m); c != nil {
				return c
			}
		}
	}
	return nil
}

// goworkOff runs `go args…` in every module on its own (GOWORK=off). A
// module that cannot resolve its siblings alone runs on the file proxy,
// with scratch copies of its go.mod and go.sum (-modfile) that a tidy
// completes with the siblings' checksums; then -mod=readonly, so that
// nothing writes the module's own go.sum (its tests may run go commands in
// its directory, without -modfile).
// Only the modules in only run, all when it is empty. The file proxy and
// the module cache's lock are held for one module's run only: the release
// tool's own tests, run here, take that lock too.
func (w *workspace) goworkOff(args []string, only []*gomod, modcache string, log io.Writer) error {
	if len(only) == 0 {
		only = w.modules
	}
	for _, m := range only {
		fmt.Fprintf(log, "== GOWORK=off go %s %s\n", strings.Join(args, " "), m.dir)
		if err := w.goworkOffModule(m, args, modcache, log); err != nil {
			return fmt.Errorf("%s: go %s: %w", m.dir, strings.Join(args, " "), err)
		}
	}
	return nil
}

func (w *workspace) goworkOffModule(m *gomod, args []string, modcache string, log io.Writer) error {
	dir := filepath.Join(w.root, filepath.FromSlash(m.dir))
	cmd := exec.Command("go", args...)
	cmd.Dir, cmd.Env = dir, append(os.Environ(), "GOWORK=off")
	cmd.Stdout, cmd.Stderr = log, log
	if w.selfContained(m) {
		return cmd.Run()
	}
	pe, err := w.proxyEnv(modcache)
	if err != nil {
		return err
	}
	defer pe.cleanup()
	tmp, err := os.MkdirTemp(pe.tmp, "modfile-")
	if err != nil {
		return err
	}
	sum, err := readOptional(filepath.Join(dir, "go.sum"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "go.mod"), m.data, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "go.sum"), sum, 0o644); err != nil {
		return err
	}
	modfile := "-modfile=" + filepath.Join(tmp, "go.mod")
	if _, err := run(pe.goCmd(dir, "mod", "tidy", modfile)); err != nil {
		return err
	}
	// -modfile goes first: flags after a test's package list would be the
	// test binary's.
	cmd.Args = slices.Insert(slices.Clone(cmd.Args), 2, modfile)
	cmd.Env = pe.readonly()
	return cmd.Run()
}

func readOptional(name string) ([]byte, error) {
	b, err := os.ReadFile(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

func removeOptional(name string) error {
	if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// lineDiff lists the lines only in a (-) and only in b (+): enough to see
// what tidy wants in files whose lines are unique.
func lineDiff(a, b []byte) string {
	count := map[string]int{}
	for l := range strings.Lines(string(a)) {
		count[l]++
	}
	for l := range strings.Lines(string(b)) {
		count[l]--
	}
	var out []string
	for l := range strings.Lines(string(a)) {
		if count[l] > 0 {
			out = append(out, "    - "+strings.TrimRight(l, "\n"))
			count[l]--
		}
	}
	for l := range strings.Lines(string(b)) {
		if count[l] < 0 {
			out = append(out, "    + "+strings.TrimRight(l, "\n"))
			count[l]++
		}
	}
	if len(out) == 0 {
		return "    (the same lines in another order)"
	}
	return strings.Join(out, "\n")
}
