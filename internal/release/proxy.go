package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/zip"
)

// buildProxy writes into dir a file-system module proxy (GOPROXY=file://dir)
// that serves every workspace module at version v, made from the working
// tree: module zips by golang.org/x/mod/zip, each module's go.mod as its
// .mod file, and .info and list files. A zip holds what a commit of the
// working tree would hold (git's tracked and untracked files, not ignored
// ones), as the go command's zip of a tag would.
func (w *workspace) buildProxy(dir, v string) error {
	files, err := w.gitFiles()
	if err != nil && !errors.Is(err, errNoGit) {
		return err
	}
	info, err := json.Marshal(struct {
		Version string
		Time    time.Time
	}{v, w.commitTime()})
	if err != nil {
		return err
	}
	for _, m := range w.modules {
		esc, err := module.EscapePath(m.path)
		if err != nil {
			return err
		}
		vdir := filepath.Join(dir, filepath.FromSlash(esc), "@v")
		if err := os.MkdirAll(vdir, 0o755); err != nil {
			return err
		}
		ev, err := module.EscapeVersion(v)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(vdir, "list"), []byte(v+"\n"), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(vdir, ev+".info"), info, 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(vdir, ev+".mod"), m.data, 0o644); err != nil {
			return err
		}
		if err := w.writeZip(filepath.Join(vdir, ev+".zip"), m, v, files); err != nil {
			return fmt.Errorf("zip of %s: %w", m.dir, err)
		}
	}
	return nil
}

func (w *workspace) writeZip(name string, m *gomod, v string, files []string) (err error) {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	mv := module.Version{Path: m.path, Version: v}
	moddir := filepath.Join(w.root, filepath.FromSlash(m.dir))
	if files == nil {
		return zip.CreateFromDir(f, mv, moddir)
	}
	var zf []zip.File
	haveLicense := false
	for _, p := range files {
		rel, ok := strings.CutPrefix(p, m.dir+"/")
		if !ok {
			continue
		}
		full := filepath.Join(moddir, filepath.FromSlash(rel))
		fi, err := os.Lstat(full)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted in the working tree, not yet in git
		}
		if err != nil {
			return err
		}
		zf = append(zf, diskFile{rel, full, fi})
		haveLicense = haveLicense || rel == "LICENSE"
	}
	// The go command adds the repository's LICENSE to the zip of a module
	// in a subdirectory that has none of its own.
	if !haveLicense {
		full := filepath.Join(w.root, "LICENSE")
		if fi, err := os.Lstat(full); err == nil {
			zf = append(zf, diskFile{"LICENSE", full, fi})
		}
	}
	return zip.Create(f, mv, zf) // leaves out nested modules itself
}

type diskFile struct {
	rel, full string
	info      fs.FileInfo
}

func (f diskFile) Path() string                 { return f.rel }
func (f diskFile) Lstat() (fs.FileInfo, error)  { return f.info, nil }
func (f diskFile) Open() (io.ReadCloser, error) { return os.Open(f.full) }

var errNoGit = errors.New("not a git checkout")

// gitFiles lists the files a commit of the working tree would hold,
// slash-separated and relative to the root.
func (w *workspace) gitFiles() ([]string, error) {
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = w.root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if strings.Contains(stderr.String(), "not a git repository") {
			return nil, errNoGit
		}
		if errors.Is(err, exec.ErrNotFound) {
			return nil, errNoGit
		}
		return nil, fmt.Errorf("git ls-files: %v: %s", err, stderr.Bytes())
	}
	var files []string
	for p := range strings.SplitSeq(string(out), "\x00") {
		if p != "" {
			files = append(files, p)
		}
	}
	return files, nil
}

// commitTime is the time of HEAD, so that a proxy built twice from one
// commit is the same; now without git.
func (w *workspace) commitTime() time.Time {
	cmd := exec.Command("git", "log", "-1", "--format=%cI")
	cmd.Dir = w.root
	if out, err := cmd.Output(); err == nil {
		if t, err := time.Parse(time.RFC3339, strings.TrimSpace(string(out))); err == nil {
			return t.UTC()
		}
	}
	return time.Now().UTC().Truncate(time.Second)
}
