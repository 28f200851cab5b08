//go:build linux

package core_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/memstore"
)

// TestHashingMemoryBounded: a fresh process that takes 100 concurrent failed
// logins with argon2id at the default memory cost (19 MiB each) and the
// default MaxConcurrentHashes peaks under 400 MB resident; without the bound
// it takes about 2 GB.
func TestHashingMemoryBounded(t *testing.T) {
	if os.Getenv("AUTHENIK8_HASH_BURST") == "1" {
		hashBurst(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHashingMemoryBounded$", "-test.count=1")
	cmd.Env = append(os.Environ(), "AUTHENIK8_HASH_BURST=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the burst process: %v\n%s", err, out)
	}
	peak := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss * 1024 // Linux reports KiB
	if peak > 400<<20 {
		t.Fatalf("100 concurrent logins peaked at %d MB resident; want under 400 MB", peak>>20)
	}
	t.Logf("100 concurrent failed logins, argon2id 19 MiB, MaxConcurrentHashes %d: peak %d MB resident", runtime.GOMAXPROCS(0), peak>>20)
}

func hashBurst(t *testing.T) {
	a := newAuth(t, func(c *core.Config) {
		// The default memory cost (19 MiB per computation) at one pass
		// rather than two: the same memory for half the CPU.
		c.Users = memstore.NewUsers(&core.PasswordHasher{Params: core.PasswordParams{Time: 1, MemoryKiB: core.DefaultPasswordParams.MemoryKiB, Threads: 1}})
		c.MaxHashWait = 10 * time.Minute // every login is checked, however slow the machine
	})
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := a.Login(context.Background(), "burst"+strconv.Itoa(i)+"@example.com", "wrong password", core.Client{IP: "203.0.113.1"})
			if !errors.Is(err, core.ErrInvalidCredentials) {
				t.Errorf("login %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
}
