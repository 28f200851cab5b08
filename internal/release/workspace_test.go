package main

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fixture writes a workspace of small modules: name → go.mod body after
// the module line, and returns it loaded.
func fixture(t *testing.T, mods map[string]string, sums map[string]string) *workspace {
	t.Helper()
	root := t.TempDir()
	var use []string
	for dir, body := range mods {
		write(t, filepath.Join(root, dir, "go.mod"), "module example.com/r/"+dir+"\n\ngo 1.25.0\n"+body)
		use = append(use, "\t./"+dir)
	}
	for dir, sum := range sums {
		write(t, filepath.Join(root, dir, "go.sum"), sum)
	}
	slices.Sort(use)
	write(t, filepath.Join(root, "go.work"), "go 1.25.0\n\nuse (\n"+strings.Join(use, "\n")+"\n)\n")
	w, err := loadWorkspace(root)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestCheckGraph(t *testing.T) {
	good := map[string]string{
		"a":   "",
		"b":   "require example.com/r/a v0.1.0\n\nreplace example.com/r/a => ../a\n",
		"cmd": "require (\n\texample.com/r/a v0.1.0\n\texample.com/r/b v0.1.0\n)\n",
	}
	if p := fixture(t, good, nil).checkGraph(); len(p) != 0 {
		t.Errorf("a sound graph: %q", p)
	}
	for _, c := range []struct {
		name string
		mods map[string]string
		sums map[string]string
		want string
	}{
		{"cycle", map[string]string{
			"a": "require example.com/r/b v0.1.0\n\nreplace example.com/r/b => ../b\n",
			"b": "require example.com/r/a v0.1.0\n\nreplace example.com/r/a => ../a\n",
		}, nil, "cycle between the modules: a -> b -> a"},
		{"zero pseudo-version", map[string]string{
			"a": "",
			"b": "require example.com/r/a v0.0.0-00010101000000-000000000000\n\nreplace example.com/r/a => ../a\n",
		}, nil, "not a release version"},
		{"two versions", map[string]string{
			"a": "",
			"b": "require example.com/r/a v0.1.0\n\nreplace example.com/r/a => ../a\n",
			"c": "require (\n\texample.com/r/a v0.1.0\n\texample.com/r/b v0.1.1\n)\n\nreplace example.com/r/a => ../a\n\nreplace example.com/r/b => ../b\n",
		}, nil, "c requires example.com/r/b v0.1.1"},
		{"replace elsewhere", map[string]string{
			"a": "",
			"b": "require example.com/r/a v0.1.0\n\nreplace example.com/r/a => ../elsewhere\n",
		}, nil, "want => ../a"},
		{"some replaced", map[string]string{
			"a": "",
			"b": "require example.com/r/a v0.1.0\n\nreplace example.com/r/a => ../a\n",
			"c": "require (\n\texample.com/r/a v0.1.0\n\texample.com/r/b v0.1.0\n)\n\nreplace example.com/r/a => ../a\n",
		}, nil, "replaces some siblings but not all"},
		{"sibling checksum", good, map[string]string{
			"cmd": "example.com/r/a v0.1.0 h1:AAAA=\nexample.com/r/a v0.1.0/go.mod h1:BBBB=\n",
		}, "cmd/go.sum records a sibling's checksum"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := fixture(t, c.mods, c.sums).checkGraph()
			if !strings.Contains(strings.Join(p, "\n"), c.want) {
				t.Errorf("problems %q, want one containing %q", p, c.want)
			}
		})
	}
}

func TestDropSiblingSums(t *testing.T) {
	w := fixture(t, map[string]string{"a": ""}, nil)
	sum := "example.com/other v1.0.0 h1:x=\nexample.com/r/a v0.1.0 h1:y=\nexample.com/r/a v0.1.0/go.mod h1:z=\nexample.com/r/ab v1.0.0 h1:w=\n"
	want := "example.com/other v1.0.0 h1:x=\nexample.com/r/ab v1.0.0 h1:w=\n"
	if got := string(w.dropSiblingSums([]byte(sum))); got != want {
		t.Errorf("dropSiblingSums = %q, want %q", got, want)
	}
}

// The rewrite changes the sibling requirement lines and nothing else of
// the real go.mod files.
func TestBumpTouchesOnlySiblingLines(t *testing.T) {
	w, err := loadWorkspace(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	edits, err := w.bump("v1.8.7")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range edits {
		if !strings.HasSuffix(e.file, "go.mod") {
			continue
		}
		n++
		m := w.byDir(strings.TrimSuffix(e.file, "/go.mod"))
		d := lineDiff(m.data, e.data)
		lines := strings.Split(d, "\n")
		if want := 2 * len(w.siblings(m)); len(lines) != want {
			t.Errorf("%s: %d changed lines, want %d:\n%s", e.file, len(lines), want, d)
		}
		for _, l := range lines {
			if !strings.Contains(l, w.pathPrefix()+"/") {
				t.Errorf("%s: a non-sibling line changed: %s", e.file, l)
			}
			if strings.HasPrefix(strings.TrimSpace(l), "+") && !strings.HasSuffix(l, " v1.8.7") && !strings.HasSuffix(l, " v1.8.7 // indirect") {
				t.Errorf("%s: added line %q is not at v1.8.7", e.file, l)
			}
		}
	}
	if n == 0 {
		t.Error("no go.mod edited")
	}
}

func TestBumpConstFindsTheCLIConstant(t *testing.T) {
	w, err := loadWorkspace(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	edits, err := w.bumpConst("v1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	if len(edits) != 1 {
		t.Fatalf("%d edits of %s, want 1: %+v", len(edits), versionConst, edits)
	}
	lit, err := findConst(edits[0].file, edits[0].data)
	if err != nil || lit == nil || lit.Value != `"v1.2.3"` {
		t.Errorf("after the rewrite %s = %v (%v)", versionConst, lit, err)
	}
	orig := mustRead(t, filepath.Join(repoRoot, edits[0].file))
	if d := lineDiff(orig, edits[0].data); strings.Count(d, "\n") != 1 {
		t.Errorf("more than the constant's line changed:\n%s", d)
	}
}

func TestIsReleaseVersion(t *testing.T) {
	for v, want := range map[string]bool{
		"v0.1.0": true, "v1.2.3": true, "v1.0.0-rc.1": true,
		"v0.1": false, "0.1.0": false, "v2.0.0": false, "v1.0.0+build": false,
		"v0.0.0-00010101000000-000000000000": false, "v0.1.1-0.20260101000000-abcdefabcdef": false,
	} {
		if got := isReleaseVersion(v); got != want {
			t.Errorf("isReleaseVersion(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestParseFrameworks(t *testing.T) {
	help := "Usage: authenik8 new <dir> [flags]\n\n  -framework string\n    \tweb framework: gin, echo or fiber (default gin)\n  -module string\n    \tmodule path\n"
	for _, c := range []struct {
		help string
		want []string
	}{
		{help, []string{"gin", "echo", "fiber"}},
		{strings.Replace(help, "echo or fiber", "echo, fiber or nethttp", 1), []string{"gin", "echo", "fiber", "nethttp"}},
		{strings.Replace(help, "gin, echo or fiber", "gin|echo|fiber", 1), []string{"gin", "echo", "fiber"}},
	} {
		got, err := parseFrameworks(c.help)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("parseFrameworks = %q, %v; want %q", got, err, c.want)
		}
	}
	for _, bad := range []string{"no such flag\n", strings.Replace(help, "gin, echo or fiber", "Gin (the default), Echo v4", 1)} {
		if got, err := parseFrameworks(bad); err == nil {
			t.Errorf("parseFrameworks read %q from an unreadable help", got)
		}
	}
}

// The README's consumer block is a whole Go program.
func TestReadmeProgram(t *testing.T) {
	src, err := readmeProgram(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), "main.go", src, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	if f.Name.Name != "main" {
		t.Errorf("package %s, want main", f.Name.Name)
	}
	var imports []string
	for _, i := range f.Imports {
		imports = append(imports, strings.Trim(i.Path.Value, `"`))
	}
	for _, want := range []string{"github.com/authenik8/authenik8-go/adapters/gin", "github.com/authenik8/authenik8-go/redisstore"} {
		if !slices.Contains(imports, want) {
			t.Errorf("the README program does not import %s: %v", want, imports)
		}
	}
}
