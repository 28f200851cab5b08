package redistest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Cluster is a throwaway Redis Cluster on loopback.
type Cluster struct {
	Nodes []*Server
}

// StartCluster starts a dedicated cluster for t (stopped at cleanup):
// masters primaries with replicas replicas each. Use it for tests that kill
// nodes; SharedCluster serves the rest.
func StartCluster(t testing.TB, masters, replicas int, args ...string) *Cluster {
	t.Helper()
	c, err := startCluster(masters, replicas, args...)
	if err != nil {
		unavailable(t, "%v", err)
	}
	t.Cleanup(func() {
		for _, n := range c.Nodes {
			n.Kill()
			os.RemoveAll(n.Dir)
		}
	})
	return c
}

// Addrs lists every node's address.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr
	}
	return out
}

// URL lists every node in one redis:// URL: redis://a?addr=b&addr=c.
func (c *Cluster) URL() string {
	addrs := c.Addrs()
	u := "redis://" + addrs[0]
	for i, a := range addrs[1:] {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		u += sep + "addr=" + a
	}
	return u
}

// Masters returns the nodes that are primaries now.
func (c *Cluster) Masters() []*Server {
	var out []*Server
	for _, n := range c.Nodes {
		if role, err := Command(n.Addr, "ROLE"); err == nil && role == "master" {
			out = append(out, n)
		}
	}
	return out
}

// WaitHealthy waits until every live node reports cluster_state:ok.
func (c *Cluster) WaitHealthy(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ok := true
		for _, n := range c.Nodes {
			if n.cmd == nil {
				continue
			}
			info, err := clusterInfo(n.Addr)
			if err != nil || !strings.Contains(info, "cluster_state:ok") {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster not healthy after %v", timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func startCluster(masters, replicas int, args ...string) (*Cluster, error) {
	if masters < 3 {
		return nil, errors.New("a Redis Cluster needs at least 3 masters")
	}
	if _, err := exec.LookPath("redis-cli"); err != nil {
		return nil, errors.New("redis-cli not found in PATH")
	}
	c := &Cluster{}
	fail := func(err error) (*Cluster, error) {
		for _, n := range c.Nodes {
			n.Kill()
			os.RemoveAll(n.Dir)
		}
		return nil, err
	}
	nodeArgs := append([]string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
		"--cluster-node-timeout", "1000"}, args...)
	for range masters * (1 + replicas) {
		s, err := start(nodeArgs)
		if err != nil {
			return fail(err)
		}
		c.Nodes = append(c.Nodes, s)
	}
	create := append([]string{"--cluster", "create"}, c.Addrs()...)
	create = append(create, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	if out, err := exec.Command("redis-cli", create...).CombinedOutput(); err != nil {
		return fail(fmt.Errorf("redis-cli --cluster create: %v\n%s", err, out))
	}
	if err := c.WaitHealthy(20 * time.Second); err != nil {
		return fail(err)
	}
	if replicas > 0 {
		if err := c.waitReplicas(20 * time.Second); err != nil {
			return fail(err)
		}
	}
	return c, nil
}

// WaitReplicated waits until every replica has caught up with its master's
// replication offset as it was when called: every write acknowledged before
// the call is then on a replica.
func (c *Cluster) WaitReplicated(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, m := range c.Masters() {
		info, err := Command(m.Addr, "INFO", "replication")
		if err != nil {
			return err
		}
		target := field(info, "master_repl_offset")
		for {
			info, err = Command(m.Addr, "INFO", "replication")
			if err != nil {
				return err
			}
			if replicasAt(info) >= target {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("replicas of %s not at offset %d after %v", m.Addr, target, timeout)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// field reads an integer "name:value" line of an INFO reply.
func field(info, name string) int64 {
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return -1
}

// replicasAt returns the lowest offset among a master's replicas (slaveN:
// lines), or -1 without replicas.
func replicasAt(info string) int64 {
	low := int64(-1)
	for _, line := range strings.Split(info, "\r\n") {
		if !strings.HasPrefix(line, "slave") || !strings.Contains(line, "offset=") {
			continue
		}
		_, rest, _ := strings.Cut(line, "offset=")
		v, _, _ := strings.Cut(rest, ",")
		n, _ := strconv.ParseInt(v, 10, 64)
		if low < 0 || n < low {
			low = n
		}
	}
	return low
}

func (c *Cluster) waitReplicas(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, n := range c.Nodes {
		for {
			role, _ := Command(n.Addr, "ROLE")
			if role == "master" {
				break
			}
			info, _ := Command(n.Addr, "INFO", "replication")
			if strings.Contains(info, "master_link_status:up") {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("replica %s not in sync after %v", n.Addr, timeout)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

func clusterInfo(addr string) (string, error) { return Command(addr, "CLUSTER", "INFO") }
