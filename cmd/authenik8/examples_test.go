package main

import (
	"bytes"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "TestExamplesAreGenerated: rewrite examples/<framework> with what new writes")

// notInExamples are files new writes that an example leaves out: the
// examples module has its own go.mod, and .env holds secrets.
var notInExamples = []string{"go.mod", "go.sum", ".env"}

// TestExamplesAreGenerated: examples/gin, examples/echo, examples/fiber and
// examples/nethttp are what "authenik8 new --store redis --users postgres"
// writes for the module path github.com/authenik8/authenik8-go/examples/<framework>,
// go.mod, go.sum and .env aside: the templates are the one source of the
// reference server, with every runtime option on (REDIS_URL, DATABASE_URL).
// "go generate" in examples (this test with -update) rewrites them.
func TestExamplesAreGenerated(t *testing.T) {
	root := repoRoot(t)
	for _, fw := range frameworks {
		t.Run(fw.Name, func(t *testing.T) {
			gen := filepath.Join(t.TempDir(), fw.Name)
			if r := cli(t, nil, "new", gen, "--framework", fw.Name, "--store", "redis", "--users", "postgres", "--module", modulePrefix+"/examples/"+fw.Name); r.code != exitOK {
				t.Fatal(r)
			}
			want := readTree(t, gen)
			for _, name := range notInExamples {
				delete(want, name)
			}
			dir := filepath.Join(root, "examples", fw.Name)
			if *update {
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
				for name, b := range want {
					path := filepath.Join(dir, filepath.FromSlash(name))
					if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, b, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				return
			}
			have := readTree(t, dir)
			for _, name := range sortedKeys(want, have) {
				w, inWant := want[name]
				h, inHave := have[name]
				switch {
				case !inHave:
					t.Errorf("examples/%s lacks %s, which authenik8 new writes", fw.Name, name)
				case !inWant:
					t.Errorf("examples/%s/%s is not written by authenik8 new: change the templates instead", fw.Name, name)
				case !bytes.Equal(w, h):
					t.Errorf("examples/%s/%s differs from what authenik8 new writes: %s", fw.Name, name, firstDiff(h, w))
				}
			}
			if t.Failed() {
				t.Log("change cmd/authenik8/templates, then run go generate in examples (go test -run TestExamplesAreGenerated -update here)")
			}
		})
	}
}

// readTree returns the files under dir by slash-separated relative name.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		files[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func sortedKeys(maps ...map[string][]byte) []string {
	var keys []string
	for _, m := range maps {
		for k := range m {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// firstDiff describes the first line where have and want differ.
func firstDiff(have, want []byte) string {
	h, w := strings.Split(string(have), "\n"), strings.Split(string(want), "\n")
	for i := range max(len(h), len(w)) {
		var hl, wl string
		if i < len(h) {
			hl = h[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if hl != wl || i >= len(h) || i >= len(w) {
			return fmt.Sprintf("line %d is\n\t%q\nwant\n\t%q", i+1, hl, wl)
		}
	}
	return "same lines, different bytes"
}
