package main

import (
	"archive/zip"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

// The proxy's zips hold what a commit would: tracked and untracked files,
// not ignored ones; the repository's LICENSE; and the go command takes
// them from a file proxy.
func TestProxy(t *testing.T) {
	root := scratchRepo(t)
	// An untracked file belongs in the zip; an ignored one does not.
	write(t, filepath.Join(root, "core", "untracked.go"), "package core\n")
	write(t, filepath.Join(root, ".gitignore"), "*.ignored\n")
	write(t, filepath.Join(root, "core", "binary.ignored"), "junk")
	write(t, filepath.Join(root, "LICENSE"), "MIT scratch licence\n")
	w, err := loadWorkspace(root)
	if err != nil {
		t.Fatal(err)
	}
	proxy := t.TempDir()
	if err := w.buildProxy(proxy, "v0.3.0"); err != nil {
		t.Fatal(err)
	}
	for _, m := range w.modules {
		esc, _ := module.EscapePath(m.path)
		vdir := filepath.Join(proxy, filepath.FromSlash(esc), "@v")
		if got := string(mustRead(t, filepath.Join(vdir, "list"))); got != "v0.3.0\n" {
			t.Errorf("%s list = %q", m.dir, got)
		}
		var info struct{ Version string }
		if err := json.Unmarshal(mustRead(t, filepath.Join(vdir, "v0.3.0.info")), &info); err != nil || info.Version != "v0.3.0" {
			t.Errorf("%s .info: %+v %v", m.dir, info, err)
		}
		if got := mustRead(t, filepath.Join(vdir, "v0.3.0.mod")); string(got) != string(m.data) {
			t.Errorf("%s .mod is not its go.mod", m.dir)
		}
		zf := filepath.Join(vdir, "v0.3.0.zip")
		if _, err := modzip.CheckZip(module.Version{Path: m.path, Version: "v0.3.0"}, zf); err != nil {
			t.Errorf("%s zip: %v", m.dir, err)
		}
		names := zipNames(t, zf)
		prefix := m.path + "@v0.3.0/"
		if !slices.Contains(names, prefix+"go.mod") || !slices.Contains(names, prefix+"LICENSE") {
			t.Errorf("%s zip lacks go.mod or LICENSE: %v", m.dir, names)
		}
		for _, n := range names {
			if strings.HasSuffix(n, ".ignored") {
				t.Errorf("%s zip holds an ignored file: %s", m.dir, n)
			}
		}
		if m.dir == "core" && !slices.Contains(names, prefix+"untracked.go") {
			t.Errorf("core zip lacks the untracked file")
		}
	}

	// The go command downloads from it, checksum database aside.
	core := w.byDir("core")
	cmd := exec.Command("go", "mod", "download", "-json", core.path+"@v0.3.0")
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-modcacherw", "GOPROXY="+fileURL(proxy),
		"GOMODCACHE="+t.TempDir(), "GONOSUMDB="+w.pathPrefix(), "GONOPROXY=", "GOPRIVATE=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go mod download from the file proxy: %v\n%s", err, out)
	}
	var dl struct{ Version, Dir string }
	if err := json.Unmarshal(out, &dl); err != nil || dl.Version != "v0.3.0" {
		t.Fatalf("go mod download: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dl.Dir, "untracked.go")); err != nil {
		t.Errorf("the downloaded module lacks the untracked file: %v", err)
	}
}

func TestPathPrefix(t *testing.T) {
	w, err := loadWorkspace(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	if got := w.pathPrefix(); got != "github.com/authenik8/authenik8-go" {
		t.Errorf("pathPrefix = %q", got)
	}
}

func write(t *testing.T, name, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func zipNames(t *testing.T, name string) []string {
	t.Helper()
	r, err := zip.OpenReader(name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var names []string
	for _, f := range r.File {
		names = append(names, f.Name)
	}
	return names
}
