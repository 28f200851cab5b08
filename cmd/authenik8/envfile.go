package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// This file's readEnvFile is also the ReadEnvFile of generated projects
// (templates/config.go.tmpl takes its source through envReader), so that
// doctor reads a project's .env exactly as the project does.

// readEnvFile reads KEY=VALUE lines. Blank lines and lines starting with #
// are skipped, a leading "export " is allowed, and a value wrapped in single
// or double quotes is taken without them. Values are literal: no escapes,
// no ${VAR} expansion, no comments after a value.
func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20) // room for a JWK set on one line
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if !ok || key == "" || strings.ContainsAny(key, " \t") {
			return nil, fmt.Errorf("%s:%d: not a KEY=VALUE line", path, n)
		}
		if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') && value[len(value)-1] == value[0] {
			value = value[1 : len(value)-1]
		}
		vars[key] = value
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return vars, nil
}
