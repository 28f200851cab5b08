package e2e

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestThreatModelNamesRealTests: every row of THREAT_MODEL.md names at least
// one test, and every test it names exists — a Go test or fuzz function, or a
// subtest of the storetest and adaptertest suites.
func TestThreatModelNamesRealTests(t *testing.T) {
	doc, err := os.ReadFile("../../THREAT_MODEL.md")
	if err != nil {
		t.Fatal(err)
	}
	var sources strings.Builder
	suites := map[string]string{}
	filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		sources.Write(b)
		for _, suite := range []string{"storetest", "adaptertest"} {
			if strings.Contains(filepath.ToSlash(path), "conformance/"+suite+"/") {
				suites[suite] += string(b)
			}
		}
		return nil
	})
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
			name := m[1]
			if suite, sub, ok := strings.Cut(name, "."); ok {
				if !strings.Contains(suites[suite], `{"`+sub+`",`) && !strings.Contains(suites[suite], `t.Run("`+sub+`"`) && !strings.Contains(suites[suite], "func "+sub+"(") {
					t.Errorf("THREAT_MODEL.md names %s: no such subtest in conformance/%s", name, suite)
				}
			} else if !strings.Contains(sources.String(), "func "+name+"(") {
				t.Errorf("THREAT_MODEL.md names %s: no such test function", name)
			}
		}
	}
	if rows < 10 {
		t.Fatalf("THREAT_MODEL.md has %d threat rows", rows)
	}
}
