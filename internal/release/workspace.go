package main

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
)

// workspace is the repository as go.work describes it: every module it
// uses is one of ours, released together at one version.
type workspace struct {
	root    string   // absolute directory holding go.work
	modules []*gomod // sorted by directory
}

// gomod is one module of the workspace.
type gomod struct {
	dir  string // relative to the root, slash-separated: "adapters/gin"
	path string // module path
	file *modfile.File
	data []byte // go.mod as read
}

// loadWorkspace reads go.work in root and the go.mod of every module it uses.
func loadWorkspace(root string) (*workspace, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(root, "go.work"))
	if err != nil {
		return nil, err
	}
	wf, err := modfile.ParseWork("go.work", data, nil)
	if err != nil {
		return nil, err
	}
	w := &workspace{root: root}
	for _, u := range wf.Use {
		dir := path.Clean(filepath.ToSlash(u.Path))
		if path.IsAbs(dir) || dir == ".." || strings.HasPrefix(dir, "../") {
			return nil, fmt.Errorf("go.work: %s is outside the repository", u.Path)
		}
		if dir == "." {
			return nil, errors.New("go.work: the repository root is not a module of its own (tags are per directory)")
		}
		m, err := loadModule(root, dir)
		if err != nil {
			return nil, err
		}
		w.modules = append(w.modules, m)
	}
	if len(w.modules) == 0 {
		return nil, errors.New("go.work uses no module")
	}
	slices.SortFunc(w.modules, func(a, b *gomod) int { return strings.Compare(a.dir, b.dir) })
	return w, nil
}

func loadModule(root, dir string) (*gomod, error) {
	name := filepath.Join(root, filepath.FromSlash(dir), "go.mod")
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	f, err := parseModFile(name, data)
	if err != nil {
		return nil, err
	}
	if f.Module == nil {
		return nil, fmt.Errorf("%s: no module line", name)
	}
	return &gomod{dir: dir, path: f.Module.Mod.Path, file: f, data: data}, nil
}

// byPath returns the workspace module with the given module path, or nil.
func (w *workspace) byPath(p string) *gomod {
	for _, m := range w.modules {
		if m.path == p {
			return m
		}
	}
	return nil
}

// siblings returns m's requirements on other workspace modules.
func (w *workspace) siblings(m *gomod) []*modfile.Require {
	var out []*modfile.Require
	for _, r := range m.file.Require {
		if w.byPath(r.Mod.Path) != nil {
			out = append(out, r)
		}
	}
	return out
}

// replaced reports whether m replaces sibling p with a local directory.
func replaced(m *gomod, p string) bool {
	for _, r := range m.file.Replace {
		if r.Old.Path == p && r.New.Version == "" {
			return true
		}
	}
	return false
}

// selfContained reports whether m resolves all its siblings without the
// workspace (replace lines); a module that does not, such as a command
// meant for `go run pkg@version`, needs a module proxy for them.
func (w *workspace) selfContained(m *gomod) bool {
	for _, r := range w.siblings(m) {
		if !replaced(m, r.Mod.Path) {
			return false
		}
	}
	return true
}

// version is the one version at which the modules require each other.
func (w *workspace) version() (string, error) {
	by := map[string][]string{} // version → "dir requires path"
	for _, m := range w.modules {
		for _, r := range w.siblings(m) {
			by[r.Mod.Version] = append(by[r.Mod.Version], m.dir+" requires "+r.Mod.Path+" "+r.Mod.Version)
		}
	}
	if len(by) == 0 {
		return "", errors.New("no module requires another: no version to read")
	}
	if len(by) > 1 {
		// The odd ones out: every version but the most required one.
		var most string
		for v, l := range by {
			if len(l) > len(by[most]) || len(l) == len(by[most]) && v > most {
				most = v
			}
		}
		var odd []string
		for v, l := range by {
			if v != most {
				odd = append(odd, l...)
			}
		}
		slices.Sort(odd)
		return "", fmt.Errorf("the modules must require each other at one version; most say %s, but:\n  %s", most, strings.Join(odd, "\n  "))
	}
	for v := range by {
		if !isReleaseVersion(v) {
			return "", fmt.Errorf("the modules require each other at %s, not a release version vX.Y.Z", v)
		}
		return v, nil
	}
	panic("unreachable")
}

// isReleaseVersion accepts canonical semantic versions, prereleases
// included (v1.2.0-rc.1), but not pseudo-versions; v0 or v1 only, since
// the module paths have no /vN suffix.
func isReleaseVersion(v string) bool {
	return semver.IsValid(v) && semver.Canonical(v) == v && !module.IsPseudoVersion(v) &&
		(semver.Major(v) == "v0" || semver.Major(v) == "v1")
}

// tag is the git tag Go expects for module m at version v in a
// multi-module repository: the module's directory, then the version.
func tag(m *gomod, v string) string { return m.dir + "/" + v }

func parseModFile(name string, data []byte) (*modfile.File, error) {
	return modfile.Parse(name, data, nil)
}
