package e2e

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/authenik8/authenik8-go/core"
)

// TestProtocolErrorTable: the error table of docs/protocol.md §7 is core's,
// row for row — status, code, description and WWW-Authenticate challenge —
// with no row missing on either side. (The test lives here and not in core:
// core's module zip does not carry docs/.)
func TestProtocolErrorTable(t *testing.T) {
	doc, err := os.ReadFile("../../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := protocolErrorRows(t, string(doc))
	want := map[string]*core.Error{}
	for _, e := range core.ErrorTable() {
		want[e.Code] = e
	}
	for code, row := range documented {
		e, ok := want[code]
		switch {
		case !ok:
			t.Errorf("docs/protocol.md lists %s, which core.ErrorTable does not have", code)
		case row != (docRow{e.Status, e.Description, e.Challenge}):
			t.Errorf("docs/protocol.md's row of %s is %+v; core's is %+v", code, row, docRow{e.Status, e.Description, e.Challenge})
		}
	}
	for code := range want {
		if _, ok := documented[code]; !ok {
			t.Errorf("docs/protocol.md's error table lacks %s", code)
		}
	}
}

// TestReadmeErrorTable: the README's error table has a row for every code
// of core's, with its status and challenge (its "when" column is the
// README's own words).
func TestReadmeErrorTable(t *testing.T) {
	doc, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := errorTable(t, "README.md", string(doc), 4)
	want := map[string]*core.Error{}
	for _, e := range core.ErrorTable() {
		want[e.Code] = e
	}
	for code, cells := range rows {
		e, ok := want[code]
		if !ok {
			t.Errorf("README.md lists %s, which core.ErrorTable does not have", code)
			continue
		}
		if got, want := (docRow{cells.status, "", cells.challenge}), (docRow{e.Status, "", e.Challenge}); got != want {
			t.Errorf("README.md's row of %s is %+v; core's is %+v", code, got, want)
		}
	}
	for code := range want {
		if _, ok := rows[code]; !ok {
			t.Errorf("README.md's error table lacks %s", code)
		}
	}
}

// docRow is a row of the documented error table, as compared with core's.
type docRow struct {
	status      int
	description string
	challenge   string // "" where the table says "–"
}

// protocolErrorRows reads the table between <!-- errors:begin --> and
// <!-- errors:end -->: | status | `code` | description | `challenge` or – | when |.
func protocolErrorRows(t *testing.T, doc string) map[string]docRow {
	return errorTable(t, "docs/protocol.md", doc, 5)
}

// errorTable reads the table of name between <!-- errors:begin --> and
// <!-- errors:end -->, rows of n cells: | status | `code` | … | `challenge`
// or – | …, with a description third when n is 5 and the challenge fourth.
func errorTable(t *testing.T, name, doc string, n int) map[string]docRow {
	_, rest, ok1 := strings.Cut(doc, "<!-- errors:begin -->")
	table, _, ok2 := strings.Cut(rest, "<!-- errors:end -->")
	if !ok1 || !ok2 {
		t.Fatalf("%s has no <!-- errors:begin --> … <!-- errors:end --> block", name)
	}
	rows := map[string]docRow{}
	for _, line := range strings.Split(strings.TrimSpace(table), "\n") {
		if strings.HasPrefix(line, "|---") {
			continue // the header's rule
		}
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		if len(cells) != n {
			t.Fatalf("%s: an error-table line without %d cells: %s", name, n, line)
		}
		if cells[0] == "status" {
			continue // the header
		}
		status, err := strconv.Atoi(cells[0])
		if err != nil {
			t.Fatalf("%s: status %q: %v", name, cells[0], err)
		}
		code := strings.Trim(cells[1], "`")
		challenge := strings.Trim(cells[3], "`")
		if challenge == "–" {
			challenge = ""
		}
		if _, dup := rows[code]; dup {
			t.Errorf("%s lists %s twice", name, code)
		}
		description := ""
		if n == 5 {
			description = cells[2]
		}
		rows[code] = docRow{status, description, challenge}
	}
	if len(rows) == 0 {
		t.Fatalf("%s's error table has no rows", name)
	}
	return rows
}
