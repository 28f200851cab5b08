package main

import (
	"context"
	"log"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"

	"github.com/redis/rueidis"
)

// profile runs measure, a wrk load of a server this process serves, while
// recording a CPU profile to cpu.pprof, and prints per request what the
// server (this process) and Redis spent on it: CPU, allocations, system
// calls, Redis commands and the socket reads they arrived in.
func profile(name string, plain rueidis.Client, measure func() (load, error)) error {
	f, err := os.Create("cpu.pprof")
	if err != nil {
		return err
	}
	defer f.Close()
	before := sample(plain)
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	l, err := measure()
	pprof.StopCPUProfile()
	after := sample(plain)
	if err != nil {
		return err
	}
	n := float64(l.Requests)
	per := func(k string) float64 { return (after[k] - before[k]) / n }
	log.Printf("%s: %.0f req/s; per request: %.1f allocations, %.0f bytes, %.1f µs of CPU in this process (the server) "+
		"with %.2f read and %.2f write system calls, %.1f µs in Redis, "+
		"%.2f Redis commands in %.2f socket reads (%.1f commands a read); profile in cpu.pprof (go tool pprof -top cpu.pprof)",
		name, l.RPS, per("mallocs"), per("bytes"), per("cpu")*1e6, per("syscr"), per("syscw"), per("redis_cpu")*1e6,
		per("redis_commands"), per("redis_reads"), per("redis_commands")/max(per("redis_reads"), 1e-9))
	return nil
}

// sample returns what the process and Redis have spent so far: the
// process's allocations, CPU seconds and read and write system calls
// (/proc/self/io), and Redis' CPU seconds, commands and socket reads.
func sample(plain rueidis.Client) map[string]float64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	u := map[string]float64{
		"mallocs": float64(m.Mallocs), "bytes": float64(m.TotalAlloc),
		"cpu": float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9,
	}
	if io, err := os.ReadFile("/proc/self/io"); err == nil {
		kv := fields(string(io), ":")
		u["syscr"], u["syscw"] = kv["syscr"], kv["syscw"]
	}
	if info, err := plain.Do(context.Background(), plain.B().Info().Build()).ToString(); err == nil {
		kv := fields(info, ":")
		u["redis_cpu"] = kv["used_cpu_sys"] + kv["used_cpu_user"]
		u["redis_commands"], u["redis_reads"] = kv["total_commands_processed"], kv["total_reads_processed"]
	}
	return u
}

// fields reads the numeric "key<sep>value" lines of text.
func fields(text, sep string) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), sep); ok {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				out[k] = f
			}
		}
	}
	return out
}
