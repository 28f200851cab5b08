package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/conformance/smtptest"
)

// TestReadmeAccountsWalkthrough runs the account walk-through of README.md
// (the shell blocks between its accounts-walkthrough markers) against each
// example, started as the README says — SMTP_URL naming a real SMTP server
// (aiosmtpd) and the seeded admin of its command line — and checks that
// every command prints what the README says. A line RESET_TOKEN=… or
// VERIFY_TOKEN=… ("the token of the link in the mail to <address>") becomes
// a command that reads that token from the mail the server sent.
func TestReadmeAccountsWalkthrough(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the walk-through needs %s", tool)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	env, steps := accountsWalkthrough(t, string(readme))
	for _, fw := range frameworks {
		t.Run(fw, func(t *testing.T) {
			mail := smtptest.Start(t) // its own inbox: the addresses repeat
			tokens := tokenServer(t, mail)
			s := start(t, fw, append(env, "SMTP_URL="+mail.URL(), "APP_URL="+appURL)...)
			var script strings.Builder
			script.WriteString("set -u\n")
			for _, st := range steps {
				cmd := st.cmd
				switch {
				case strings.HasPrefix(cmd, "BASE="):
					cmd = "BASE=" + s.URL
				case st.mailTo != "":
					cmd = fmt.Sprintf("%s=$(curl -s --max-time 20 '%s/token?to=%s&path=%s')", st.variable, tokens, st.mailTo, st.path)
				}
				fmt.Fprintf(&script, "%s\nprintf '\\n@@@\\n'\n", cmd)
			}
			out, err := exec.Command("bash", "-c", script.String()).CombinedOutput()
			if err != nil {
				t.Fatalf("walk-through: %v\n%s", err, out)
			}
			chunks := strings.Split(string(out), "\n@@@\n")
			for i, st := range steps {
				got := strings.TrimSpace(chunks[i])
				if !st.want.MatchString(got) {
					t.Errorf("step %q\nprinted: %s\nREADME:  %s", st.cmd, got, st.printed)
				}
			}
			// The walk-through's mails went to its own addresses: one reset
			// link to grace, none to the unknown address.
			if n := len(mail.To(t, "nobody@example.com")); n != 0 {
				t.Errorf("%d mails to nobody@example.com", n)
			}
		})
	}
}

// accountStep is a step of the account walk-through.
type accountStep struct {
	step
	// A token line: the variable, the address the mail went to and the
	// path of its link.
	variable, mailTo, path string
}

var tokenLine = regexp.MustCompile(`^(RESET_TOKEN|VERIFY_TOKEN)=… +# the token of the link in the mail to (\S+): \$APP_URL(/[a-z-]+)\?token=…$`)

// accountsWalkthrough reads the environment of the server from the README's
// command line before the walk-through, and the commands inside the shell
// blocks between the markers with the "# →" line after each.
func accountsWalkthrough(t *testing.T, readme string) (env []string, steps []accountStep) {
	before, rest, ok := strings.Cut(readme, "<!-- accounts-walkthrough:begin -->")
	block, _, ok2 := strings.Cut(rest, "<!-- accounts-walkthrough:end -->")
	if !ok || !ok2 {
		t.Fatal("README.md has no accounts walk-through block")
	}
	for _, name := range []string{"SEED_ADMIN_EMAIL", "SEED_ADMIN_PASSWORD"} {
		m := regexp.MustCompile(name+`=('[^']*'|\S+)`).FindAllStringSubmatch(before, -1)
		if len(m) == 0 {
			t.Fatalf("README.md does not say the walk-through's %s", name)
		}
		env = append(env, name+"="+strings.Trim(m[len(m)-1][1], "'"))
	}
	inFence := false
	for _, line := range strings.Split(block, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "```"):
			inFence = !inFence
		case !inFence, line == "":
		case strings.HasPrefix(line, "# →"):
			printed := strings.TrimSpace(strings.TrimPrefix(line, "# →"))
			last := &steps[len(steps)-1]
			last.printed = printed
			parts := strings.Split(printed, "…")
			for i := range parts {
				parts[i] = regexp.QuoteMeta(parts[i])
			}
			last.want = regexp.MustCompile("^" + strings.Join(parts, "[^\"]+") + "$")
		case strings.HasPrefix(line, "#"):
		default:
			st := accountStep{step: step{cmd: line, want: regexp.MustCompile("^$")}}
			if m := tokenLine.FindStringSubmatch(line); m != nil {
				st.variable, st.mailTo, st.path = m[1], m[2], m[3]
			} else if strings.Contains(line, "…") {
				t.Fatalf("README.md: a walk-through line with … that is no token line: %s", line)
			}
			steps = append(steps, st)
		}
	}
	tokensRead := 0
	for _, st := range steps {
		if st.variable != "" {
			tokensRead++
		}
	}
	if len(steps) < 20 || tokensRead != 2 {
		t.Fatalf("the accounts walk-through has %d commands, %d of them token lines", len(steps), tokensRead)
	}
	return env, steps
}

// tokenServer answers GET /token?to=<address>&path=<link path> with the
// token of the last mail to the address whose link has the path, waiting
// for it.
func tokenServer(t *testing.T, mail *smtptest.Server) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		to, prefix := r.URL.Query().Get("to"), appURL+r.URL.Query().Get("path")
		for deadline := time.Now().Add(mailWait); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			msgs := mail.To(t, to)
			for i := len(msgs) - 1; i >= 0; i-- {
				if tok := msgs[i].Token(prefix); tok != "" {
					fmt.Fprint(w, tok)
					return
				}
			}
		}
		http.Error(w, "no such mail", http.StatusNotFound)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String()
}
