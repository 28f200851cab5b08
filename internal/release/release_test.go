package main

import (
	"bytes"
	"crypto/sha256"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The repository this module lives in.
const repoRoot = "../.."

// scratchRepo copies the checkout's working tree (what a commit would hold)
// into a new git repository with one commit, and returns its root.
func scratchRepo(t *testing.T) string {
	t.Helper()
	src, err := loadWorkspace(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	files, err := src.gitFiles()
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(src.root, filepath.FromSlash(f)))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Join(dst, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, kv := range [][2]string{
		{"GIT_AUTHOR_NAME", "release test"}, {"GIT_AUTHOR_EMAIL", "release@example.com"},
		{"GIT_COMMITTER_NAME", "release test"}, {"GIT_COMMITTER_EMAIL", "release@example.com"},
		{"GIT_CONFIG_GLOBAL", os.DevNull}, {"GIT_CONFIG_NOSYSTEM", "1"},
	} {
		t.Setenv(kv[0], kv[1])
	}
	gitIn(t, dst, "init", "-q")
	gitIn(t, dst, "add", "-A")
	gitIn(t, dst, "commit", "-q", "-m", "scratch copy")
	return dst
}

func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// snapshot hashes every file under root, .git included.
func snapshot(t *testing.T, root string) map[string][32]byte {
	t.Helper()
	h := map[string][32]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		h[p] = sha256.Sum256(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestDryRunChangesNothing(t *testing.T) {
	root := scratchRepo(t)
	before := snapshot(t, root)
	w, err := loadWorkspace(root)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := w.version()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := w.release(releaseOptions{version: "v0.2.0", test: "touch ran", log: &out}); err != nil {
		t.Fatalf("dry run: %v\n%s", err, out.String())
	}
	after := snapshot(t, root)
	if len(after) != len(before) {
		t.Errorf("the dry run added or removed files: %d before, %d after", len(before), len(after))
	}
	for p, sum := range before {
		if after[p] != sum {
			t.Errorf("the dry run changed %s", p)
		}
	}
	if tags := gitIn(t, root, "tag", "--list"); tags != "" {
		t.Errorf("the dry run created tags: %s", tags)
	}

	// The plan names every sibling requirement, the constant and every tag.
	plan := out.String()
	for _, m := range w.modules {
		if !strings.Contains(plan, tag(m, "v0.2.0")) {
			t.Errorf("the plan does not tag %s:\n%s", m.dir, plan)
		}
		for _, r := range w.siblings(m) {
			want := m.dir + "/go.mod: require " + r.Mod.Path + " " + cur + " -> v0.2.0"
			if !strings.Contains(plan, want) {
				t.Errorf("the plan lacks %q:\n%s", want, plan)
			}
		}
	}
	if !strings.Contains(plan, `const authenik8Version = "`+cur+`" -> "v0.2.0"`) {
		t.Errorf("the plan does not set the CLI's version constant:\n%s", plan)
	}
}

func TestApplyInScratchClone(t *testing.T) {
	if testing.Short() {
		t.Skip("tidies every module of a scratch copy: -short skips it")
	}
	root := scratchRepo(t)
	marker := filepath.Join(t.TempDir(), "tests-ran")
	// Without a CHANGELOG entry for the version, the release refuses.
	w0, err := loadWorkspace(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := w0.release(releaseOptions{version: "v0.2.0", apply: true, log: io.Discard}); err == nil || !strings.Contains(err.Error(), "CHANGELOG.md") {
		t.Fatalf("release without a CHANGELOG entry: %v, want a refusal", err)
	}
	if status := gitIn(t, root, "status", "--porcelain"); status != "" {
		t.Fatalf("the refused release changed the tree:\n%s", status)
	}
	write(t, filepath.Join(root, "CHANGELOG.md"), "# Changelog\n\n## [0.2.0] - 2026-12-01\n\n### Added\n\n- Things.\n")
	gitIn(t, root, "commit", "-q", "-am", "CHANGELOG for 0.2.0")
	w, err := loadWorkspace(root)
	if err != nil {
		t.Fatal(err)
	}
	head := strings.TrimSpace(gitIn(t, root, "rev-parse", "HEAD"))
	var out bytes.Buffer
	if err := w.release(releaseOptions{version: "v0.2.0", apply: true, test: "touch " + marker, log: &out}); err != nil {
		t.Fatalf("release: %v\n%s", err, out.String())
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the test command did not run: %v", err)
	}

	w2, err := loadWorkspace(root)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := w2.version(); err != nil || v != "v0.2.0" {
		t.Errorf("after the release the modules require each other at %q (%v), want v0.2.0", v, err)
	}
	if edits, err := w2.bumpConst("v0.2.0"); err != nil || len(edits) != 0 {
		t.Errorf("the CLI's version constant was not set to v0.2.0: %v %v", edits, err)
	}
	for _, m := range w2.modules {
		if bytes.Contains(mustRead(t, filepath.Join(root, m.dir, "go.sum")), []byte(w2.pathPrefix()+"/")) {
			t.Errorf("%s/go.sum records a sibling's checksum", m.dir)
		}
	}
	if status := gitIn(t, root, "status", "--porcelain"); status != "" {
		t.Errorf("the release left the tree dirty:\n%s", status)
	}
	if parent := strings.TrimSpace(gitIn(t, root, "rev-parse", "HEAD^")); parent != head {
		t.Errorf("HEAD^ = %s, want the release commit on top of %s", parent, head)
	}
	if msg := gitIn(t, root, "log", "-1", "--format=%s"); !strings.Contains(msg, "v0.2.0") {
		t.Errorf("release commit message %q", msg)
	}
	tags := strings.Fields(gitIn(t, root, "tag", "--points-at", "HEAD"))
	if len(tags) != len(w2.modules) {
		t.Errorf("HEAD has %d tags, want one per module (%d): %v", len(tags), len(w2.modules), tags)
	}
	for _, m := range w2.modules {
		want := m.dir + "/v0.2.0"
		if !strings.Contains(" "+strings.Join(tags, " ")+" ", " "+want+" ") {
			t.Errorf("no tag %s on HEAD: %v", want, tags)
		}
	}

	// Again: the tags exist now, and the release refuses without changing
	// anything.
	before := snapshot(t, root)
	out.Reset()
	if err := w2.release(releaseOptions{version: "v0.2.0", apply: true, log: &out}); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Errorf("a second release of v0.2.0: %v, want a refusal for existing tags", err)
	}
	for p, sum := range snapshot(t, root) {
		if before[p] != sum {
			t.Errorf("the refused release changed %s", p)
		}
	}
}

func TestApplyRefusesADirtyTree(t *testing.T) {
	root := scratchRepo(t)
	if err := os.WriteFile(filepath.Join(root, "core", "scratch.go"), []byte("package core\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := loadWorkspace(root)
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, root)
	var out bytes.Buffer
	err = w.release(releaseOptions{version: "v0.2.0", apply: true, log: &out})
	if err == nil || !strings.Contains(err.Error(), "uncommitted changes") {
		t.Fatalf("release on a dirty tree: %v, want a refusal", err)
	}
	for p, sum := range snapshot(t, root) {
		if before[p] != sum {
			t.Errorf("the refused release changed %s", p)
		}
	}
}

func TestReleaseRefusesBadVersions(t *testing.T) {
	w, err := loadWorkspace(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"0.2.0", "v0.2", "v2.0.0", "v0.2.0+meta", "v0.0.0-20260101000000-abcdefabcdef", "v0.0.0"} {
		var out bytes.Buffer
		err := w.release(releaseOptions{version: v, log: &out})
		if err == nil {
			t.Errorf("release %q: no error", v)
		}
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := readOptional(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// make test-gowork-off runs the CLI's tests on the file proxy without
// writing the CLI's go.sum, even when a test starts a go command in the
// module's directory (go/build does, for one).
func TestGoworkOffLeavesGoSumAlone(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the CLI's tests: -short skips it")
	}
	root := scratchRepo(t)
	write(t, filepath.Join(root, "cmd", "authenik8", "nested_test.go"), `package main

import (
	"os/exec"
	"testing"
)

func TestNestedGoCommand(t *testing.T) {
	if out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput(); err != nil {
		t.Logf("go list: %v\n%s", err, out) // may fail; it must not write go.sum
	}
}
`)
	gitIn(t, root, "add", "-A")
	gitIn(t, root, "commit", "-q", "-m", "nested go command")
	w, err := loadWorkspace(root)
	if err != nil {
		t.Fatal(err)
	}
	cli := w.byDir("cmd/authenik8")
	var out bytes.Buffer
	if err := w.goworkOff([]string{"test", "-count=1", "-run", "TestNestedGoCommand", "."}, []*gomod{cli}, "", &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if status := gitIn(t, root, "status", "--porcelain"); status != "" {
		t.Errorf("gowork-off changed the checkout:\n%s", status)
	}
}

// gowork-off holds the stranger's module cache lock for the CLI's run only:
// the next module's tests (the release tool's own) take it too, and would
// wait forever on their parent.
func TestGoworkOffReleasesTheLock(t *testing.T) {
	w, err := loadWorkspace(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	modcache := t.TempDir()
	probe := &lockProbe{t: t, modcache: modcache, at: "internal/release"}
	only := []*gomod{w.byDir("cmd/authenik8"), w.byDir("internal/release")}
	if err := w.goworkOff([]string{"list", "-m"}, only, modcache, probe); err != nil {
		t.Fatal(err)
	}
	if !probe.checked {
		t.Fatal("the probe never ran")
	}
}

// lockProbe tries the lock when the log announces the module at.
type lockProbe struct {
	t        *testing.T
	modcache string
	at       string
	checked  bool
}

func (p *lockProbe) Write(b []byte) (int, error) {
	if bytes.HasPrefix(b, []byte("== GOWORK=off")) && bytes.HasSuffix(bytes.TrimSpace(b), []byte(" "+p.at)) {
		p.checked = true
		unlock, err := lockDir(p.modcache, 0)
		if err != nil {
			p.t.Errorf("the lock is still held when %s starts: %v", p.at, err)
		} else {
			unlock()
		}
	}
	return len(b), nil
}
