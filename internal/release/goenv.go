package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/mod/module"
)

// strangerEnv is the environment of someone who gets the modules from a
// module proxy: no workspace, no replace of theirs, our modules from the
// file proxy at proxyDir, everything else from the machine's module cache
// (as a file proxy: fast, offline) and then the configured proxy.
//
// It has a module cache of its own, so that the checkout's modules, served
// under a version that may also exist for real, never enter the user's
// cache; our modules are purged from it first, since a module cache never
// refreshes a version it holds.
type strangerEnv struct {
	env      []string
	flags    string // the user's GOFLAGS
	modcache string
	unlock   func()
}

// defaultModcache is the stranger's module cache unless -modcache says
// otherwise: one for every checkout, so that builds stay warm.
func defaultModcache() string {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir() // no HOME: still one place for every run
	}
	return filepath.Join(cache, "authenik8-go", "stranger-modcache")
}

// readonly is the environment with -mod=readonly, the go command's default:
// for commands that must not write a go.mod or go.sum, including go
// commands that a module's tests start in its directory (go/build does).
func (se *strangerEnv) readonly() []string {
	env := slices.Clone(se.env)
	for i, kv := range env {
		if strings.HasPrefix(kv, "GOFLAGS=") {
			env[i] = "GOFLAGS=" + strings.TrimSpace(se.flags+" -modcacherw")
		}
	}
	return env
}

// goEnv holds the go command's settings that the stranger's environment
// starts from.
type goEnv struct {
	GOPROXY, GOMODCACHE, GOFLAGS string
}

func readGoEnv() (goEnv, error) {
	var e goEnv
	out, err := exec.Command("go", "env", "-json", "GOPROXY", "GOMODCACHE", "GOFLAGS").Output()
	if err != nil {
		return e, fmt.Errorf("go env: %w", err)
	}
	return e, json.Unmarshal(out, &e)
}

// newStrangerEnv prepares the environment; call unlock when done with it.
// modcache "" takes a directory under the user's cache directory, shared by
// every checkout (a lock serializes them) so that builds stay warm.
func (w *workspace) newStrangerEnv(proxyDir, modcache string) (*strangerEnv, error) {
	ge, err := readGoEnv()
	if err != nil {
		return nil, err
	}
	if modcache == "" {
		modcache = defaultModcache()
	}
	if err := os.MkdirAll(modcache, 0o755); err != nil {
		return nil, err
	}
	unlock, err := lockDir(modcache, lockWait)
	if err != nil {
		return nil, err
	}
	if err := w.purge(modcache); err != nil {
		unlock()
		return nil, err
	}
	proxies := []string{fileURL(proxyDir)}
	if ge.GOMODCACHE != "" {
		proxies = append(proxies, fileURL(filepath.Join(ge.GOMODCACHE, "cache", "download")))
	}
	if ge.GOPROXY != "" && ge.GOPROXY != "off" {
		proxies = append(proxies, ge.GOPROXY)
	}
	se := &strangerEnv{flags: ge.GOFLAGS, modcache: modcache, unlock: unlock}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "GOWORK", "GOPROXY", "GOFLAGS", "GOMODCACHE", "GONOSUMDB", "GONOPROXY", "GOPRIVATE", "GODEBUG":
			continue
		}
		se.env = append(se.env, kv)
	}
	se.env = append(se.env,
		"GOWORK=off",
		"GOPROXY="+strings.Join(proxies, ","),
		// -mod=mod: a stranger's go.sum starts empty. -modcacherw: the
		// purge can delete what the cache extracted.
		"GOFLAGS="+strings.TrimSpace(ge.GOFLAGS+" -mod=mod -modcacherw"),
		"GOMODCACHE="+modcache,
		// No checksum database knows the checkout's modules; the others
		// are checked as usual. GOPRIVATE would also send our modules
		// around the proxy, straight to the repository.
		"GONOSUMDB="+w.pathPrefix(),
		"GONOPROXY=",
		"GOPRIVATE=",
		// The go command indexes a module version's files once, in the
		// build cache, trusting that a module cache never changes what
		// path@version holds. Here it does: each run serves the working
		// tree at the same version, so an index of an earlier run would
		// hide packages added since ("does not contain package").
		"GODEBUG="+strings.Trim(os.Getenv("GODEBUG")+",goindex=0", ","),
	)
	return se, nil
}

// pathPrefix is the module path every workspace module starts with.
func (w *workspace) pathPrefix() string {
	p := w.modules[0].path
	for _, m := range w.modules[1:] {
		for !strings.HasPrefix(m.path+"/", p+"/") {
			i := strings.LastIndex(p, "/")
			if i < 0 {
				return ""
			}
			p = p[:i]
		}
	}
	return p
}

// purge removes every version of the workspace's modules from a module
// cache: extracted trees and downloads.
func (w *workspace) purge(modcache string) error {
	for _, m := range w.modules {
		esc, err := module.EscapePath(m.path)
		if err != nil {
			return err
		}
		if err := os.RemoveAll(filepath.Join(modcache, "cache", "download", filepath.FromSlash(esc), "@v")); err != nil {
			return err
		}
		trees, err := filepath.Glob(filepath.Join(modcache, filepath.FromSlash(esc)+"@*"))
		if err != nil {
			return err
		}
		for _, t := range trees {
			if err := os.RemoveAll(t); err != nil {
				return err
			}
		}
	}
	return nil
}

func fileURL(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	abs = filepath.ToSlash(abs)
	if !strings.HasPrefix(abs, "/") {
		abs = "/" + abs // Windows: file:///C:/…
	}
	return "file://" + abs
}

// goCmd is a go command in dir with the stranger's environment.
func (se *strangerEnv) goCmd(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = se.env
	return cmd
}

// run runs a command and returns its combined output; on failure the error
// carries the command and the end of the output.
func run(cmd *exec.Cmd) ([]byte, error) {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("%s (in %s): %v\n%s", strings.Join(cmd.Args, " "), cmd.Dir, err, tail(out.String(), 60))
	}
	return out.Bytes(), nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[… %d lines]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return "    " + strings.Join(lines, "\n    ")
}
