// Command gotasks runs schedlab's tasks on Go's own M:N scheduler, so that
// goroutines stand beside the mn model under the same harness, CPU sets,
// parameters and metric names (docs/peers.md).
//
//	gotasks TASK --model go|go_locked [--KEY VALUE ...]   one JSON record on stdout
//	gotasks echo-server [--backlog N]                      echo server for build/loadgen
//
// Models:
//
//	go         goroutines; GOMAXPROCS is the number of CPUs the process may
//	           run on (the harness pins it to the cell's `cpus` before exec).
//	go_locked  every goroutine the task creates calls runtime.LockOSThread
//	           first, so each owns an OS thread and every hand-off between
//	           them is a kernel thread switch: Go's own 1:1 baseline, the
//	           comparison golang/go issue 18023 made (2016).
//
// Exit status as build/workload's: 0 ok, 1 failed while running, 2 bad
// input (one line on stderr, no record).
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const recordSchema = 1

// A task reads its parameters and fills the record's metrics.
type task struct {
	params map[string]string // key -> default, as build/workload --list spells it
	run    func(p params, locked bool, m metrics) error
}

var tasks = map[string]task{
	"pingpong": {map[string]string{"iterations": "100000", "warmup": "1000"}, pingpong},
	"spawn":    {map[string]string{"tasks": "10000", "warmup": "0"}, spawn},
	"compute": {map[string]string{"work_units": "12000", "workers": "2", "unit_iters": "100000",
		"warmup": "0"}, compute},
}

// Every task accepts these, as the workload's do; cpus is applied by the
// harness (peer_exec.py pins the process), and checked here against what
// the process actually got.
var common = map[string]string{"cpus": "", "seed": "1"}

type params map[string]string

func (p params) u64(key string) uint64 {
	v, _ := strconv.ParseUint(p[key], 10, 64)
	return v
}

type metrics map[string]any

var start = time.Now()

// elapsed is CLOCK_MONOTONIC-based (time.Since uses the monotonic reading).
func elapsed() int64 { return int64(time.Since(start)) }

func badInput(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "gotasks: "+format+"\n", a...)
	os.Exit(2)
}

func parseArgs(args []string, spec map[string]string) (string, params) {
	model := ""
	p := params{}
	for k, v := range common {
		p[k] = v
	}
	for k, v := range spec {
		p[k] = v
	}
	for i := 0; i < len(args); i++ {
		key := strings.ReplaceAll(strings.TrimPrefix(args[i], "--"), "-", "_")
		if !strings.HasPrefix(args[i], "--") || i+1 >= len(args) {
			badInput("expected --KEY VALUE, got %q", args[i])
		}
		val := args[i+1]
		i++
		if key == "model" {
			model = val
			continue
		}
		if _, ok := p[key]; !ok {
			badInput("unknown parameter --%s", key)
		}
		if key != "cpus" {
			if _, err := strconv.ParseUint(val, 10, 64); err != nil {
				badInput("--%s %q: expected a non-negative integer", key, val)
			}
		}
		p[key] = val
	}
	if model != "go" && model != "go_locked" {
		badInput("--model must be go or go_locked, got %q", model)
	}
	return model, p
}

func usage() map[string]any {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return map[string]any{
		"wall_ns": elapsed(), "user_ns": syscall.TimevalToNsec(ru.Utime),
		"sys_ns": syscall.TimevalToNsec(ru.Stime), "max_rss_bytes": ru.Maxrss * 1024,
		"voluntary_switches": ru.Nvcsw, "involuntary_switches": ru.Nivcsw,
		"minor_faults": ru.Minflt, "major_faults": ru.Majflt,
	}
}

func main() {
	if len(os.Args) < 2 {
		badInput("usage: gotasks TASK --model go|go_locked [--KEY VALUE ...] | gotasks echo-server")
	}
	if os.Args[1] == "version" {
		fmt.Println(runtime.Version())
		return
	}
	if os.Args[1] == "echo-server" {
		os.Exit(echoServer(os.Args[2:]))
	}
	t, ok := tasks[os.Args[1]]
	if !ok {
		badInput("unknown task %q; tasks: pingpong, spawn, compute (echo: echo-server)", os.Args[1])
	}
	model, p := parseArgs(os.Args[2:], t.params)
	m := metrics{"gomaxprocs": runtime.GOMAXPROCS(0), "go_version": runtime.Version()}
	status, reason := "ok", any(nil)
	code := 0
	if err := t.run(p, model == "go_locked", m); err != nil {
		status, reason, code = "failed", err.Error(), 1
	}
	ps := map[string]any{}
	for k, v := range p {
		if n, err := strconv.ParseUint(v, 10, 64); err == nil && k != "cpus" {
			ps[k] = n
		} else {
			ps[k] = v
		}
	}
	rec := map[string]any{"schema": recordSchema, "task": os.Args[1], "model": model,
		"params": ps, "status": status, "reason": reason, "metrics": m, "usage": usage()}
	out, _ := json.Marshal(rec)
	fmt.Println(string(out))
	os.Exit(code)
}
