package e2e

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestThreatModelNamesRealTests: every row of THREAT_MODEL.md names at least
// one test, and every name resolves, by go/parser, to a real test: TestX and
// FuzzX to a top-level function of a _test.go file with the signature the
// go command runs; storetest.X and adaptertest.X to a subtest of the suite —
// an entry of its subtest tables ({"X", testFn}) or a t.Run("X", …) — or to
// an exported entry point RunX(t, …) that some test calls.
func TestThreatModelNamesRealTests(t *testing.T) {
	doc, err := os.ReadFile("../../THREAT_MODEL.md")
	if err != nil {
		t.Fatal(err)
	}
	idx := indexTests(t, "../..")
	ref := regexp.MustCompile("`((?:storetest|adaptertest)\\.[A-Za-z0-9]+|(?:Test|Fuzz)[A-Za-z0-9_]+)`")
	rows := 0
	for _, line := range strings.Split(string(doc), "\n") {
		if !strings.HasPrefix(line, "| **") {
			continue
		}
		rows++
		names := ref.FindAllStringSubmatch(line, -1)
		if len(names) == 0 {
			t.Errorf("a threat names no test: %.80s…", line)
		}
		for _, m := range names {
			if !idx.resolves(m[1]) {
				t.Errorf("THREAT_MODEL.md names %s: no such test (%s)", m[1], idx.hint(m[1]))
			}
		}
	}
	if rows < 10 {
		t.Fatalf("THREAT_MODEL.md has %d threat rows", rows)
	}
}

// TestThreatModelIndex: the index finds what it must and nothing else.
func TestThreatModelIndex(t *testing.T) {
	idx := indexTests(t, "../..")
	for _, name := range []string{
		"TestThreatModelNamesRealTests", // a test function
		"FuzzVerify",                    // a fuzz function (core)
		"storetest.LogoutRevokesAtOnce", // a subtest table entry
		"storetest.ConcurrentRefreshOneWinner",
		"storetest.RegisterAndAuthenticate", // a t.Run subtest
		"adaptertest.BadInputCatalog",
	} {
		if !idx.resolves(name) {
			t.Errorf("%s does not resolve", name)
		}
	}
	for _, name := range []string{
		"TestNoSuchTest",
		"testRegister",              // a helper, not a test
		"adaptertest.Harness",       // a type of the suite
		"storetest.testLogout",      // a subtest's function, not its name
		"storetest.NewAuth",         // an exported helper, no entry point
		"adaptertest.Authorization", // [2]string{"Authorization", v}: no table entry
		"adaptertest.Register2",     // a prefix of nothing
		"TestMain",                  // func TestMain(m *testing.M) is no test
	} {
		if idx.resolves(name) {
			t.Errorf("%s resolves", name)
		}
	}
}

// testIndex is what the repository's Go files define as tests.
type testIndex struct {
	funcs  map[string]bool            // TestX, FuzzX
	suites map[string]map[string]bool // storetest → subtest and entry point names
}

func (idx testIndex) resolves(name string) bool {
	if suite, sub, ok := strings.Cut(name, "."); ok {
		return idx.suites[suite][sub]
	}
	return idx.funcs[name]
}

func (idx testIndex) hint(name string) string {
	if suite, _, ok := strings.Cut(name, "."); ok {
		return "not a subtest or entry point of conformance/" + suite
	}
	return "not a top-level test function of a _test.go file"
}

var suiteNames = []string{"storetest", "adaptertest"}

// indexTests parses every Go file under root.
func indexTests(t *testing.T, root string) testIndex {
	t.Helper()
	idx := testIndex{funcs: map[string]bool{}, suites: map[string]map[string]bool{}}
	entryPoints := map[string]map[string]bool{}  // suite → exported RunX(t *testing.T, …)
	called := map[string]bool{}                  // "storetest.RunX" called from a test file
	subtestFuncs := map[string]map[string]bool{} // suite → its funcs taking a *testing.T first
	type entry struct{ name, fn string }
	tables := map[string][]entry{} // suite → {"Name", fn} literals
	for _, s := range suiteNames {
		idx.suites[s], entryPoints[s], subtestFuncs[s] = map[string]bool{}, map[string]bool{}, map[string]bool{}
	}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (n == "testdata" || strings.HasPrefix(n, ".") || strings.HasPrefix(n, "_")) {
				return filepath.SkipDir // the go command ignores these
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		suite := ""
		for _, s := range suiteNames {
			if filepath.Base(filepath.Dir(path)) == s && strings.Contains(filepath.ToSlash(path), "conformance/"+s+"/") {
				suite = s
			}
		}
		isTest := strings.HasSuffix(path, "_test.go")
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv != nil {
				continue
			}
			name := fn.Name.Name
			switch {
			case isTest && strings.HasPrefix(name, "Test") && onlyParam(fn, "T"),
				isTest && strings.HasPrefix(name, "Fuzz") && onlyParam(fn, "F"):
				idx.funcs[name] = true
			case suite != "" && !isTest && firstParam(fn, "T"):
				subtestFuncs[suite][name] = true
				if strings.HasPrefix(name, "Run") {
					entryPoints[suite][name] = true
				}
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CompositeLit: // a subtest table entry: {"Name", testFn}
				if suite != "" && !isTest && len(n.Elts) == 2 {
					name, ok1 := stringLit(n.Elts[0])
					fn, ok2 := n.Elts[1].(*ast.Ident)
					if ok1 && ok2 {
						tables[suite] = append(tables[suite], entry{name, fn.Name})
					}
				}
			case *ast.CallExpr:
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				if suite != "" && !isTest && sel.Sel.Name == "Run" && len(n.Args) == 2 { // t.Run("Name", func…)
					_, isFunc := n.Args[1].(*ast.FuncLit)
					if name, ok := stringLit(n.Args[0]); ok && isFunc {
						idx.suites[suite][name] = true
					}
				}
				if x, ok := sel.X.(*ast.Ident); ok && isTest {
					called[x.Name+"."+sel.Sel.Name] = true
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for suite, entries := range tables {
		for _, e := range entries {
			if subtestFuncs[suite][e.fn] { // not {"Authorization", v}
				idx.suites[suite][e.name] = true
			}
		}
	}
	for suite, names := range entryPoints {
		for name := range names {
			if called[suite+"."+name] {
				idx.suites[suite][name] = true
			}
		}
	}
	if len(idx.funcs) < 100 || len(idx.suites["storetest"]) < 10 || len(idx.suites["adaptertest"]) < 10 {
		t.Fatalf("the index found only %d test functions, %d storetest and %d adaptertest subtests: is root %s the repository?", len(idx.funcs), len(idx.suites["storetest"]), len(idx.suites["adaptertest"]), root)
	}
	return idx
}

// onlyParam reports whether fn takes exactly one parameter, *testing.<typ>.
func onlyParam(fn *ast.FuncDecl, typ string) bool {
	return fn.Type.Params.NumFields() == 1 && firstParam(fn, typ) && fn.Type.Results.NumFields() == 0
}

// firstParam reports whether fn's first parameter is *testing.<typ>.
func firstParam(fn *ast.FuncDecl, typ string) bool {
	if fn.Type.Params.NumFields() == 0 {
		return false
	}
	star, ok := fn.Type.Params.List[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	sel, ok := star.X.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	pkg, ok := sel.X.(*ast.Ident)
	return ok && pkg.Name == "testing" && sel.Sel.Name == typ
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}
