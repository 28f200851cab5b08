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

// docRow is a row of the documented error table, as compared with core's.
type docRow struct {
	status      int
	description string
	challenge   string // "" where the table says "–"
}

// protocolErrorRows reads the table between <!-- errors:begin --> and
// <!-- errors:end -->: | status | `code` | description | `challenge` or – | when |.
func protocolErrorRows(t *testing.T, doc string) map[string]docRow {
	_, rest, ok1 := strings.Cut(doc, "<!-- errors:begin -->")
	table, _, ok2 := strings.Cut(rest, "<!-- errors:end -->")
	if !ok1 || !ok2 {
		t.Fatal("docs/protocol.md has no <!-- errors:begin --> … <!-- errors:end --> block")
	}
	rows := map[string]docRow{}
	for _, line := range strings.Split(strings.TrimSpace(table), "\n") {
		if strings.HasPrefix(line, "|---") {
			continue // the header's rule
		}
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		if len(cells) != 5 {
			t.Fatalf("docs/protocol.md: an error-table line without five cells: %s", line)
		}
		if cells[0] == "status" {
			continue // the header
		}
		status, err := strconv.Atoi(cells[0])
		if err != nil {
			t.Fatalf("docs/protocol.md: status %q: %v", cells[0], err)
		}
		code := strings.Trim(cells[1], "`")
		challenge := strings.Trim(cells[3], "`")
		if challenge == "–" {
			challenge = ""
		}
		if _, dup := rows[code]; dup {
			t.Errorf("docs/protocol.md lists %s twice", code)
		}
		rows[code] = docRow{status, cells[2], challenge}
	}
	if len(rows) == 0 {
		t.Fatal("docs/protocol.md's error table has no rows")
	}
	return rows
}
