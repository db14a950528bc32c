package main

// The tasks, written as userspace/tasks/*.c write them, with Go's own
// primitives: an unbuffered channel is the wait/wake, `go` the spawn.

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

func lockIf(locked bool) {
	if locked {
		runtime.LockOSThread()
	}
}

func switches() (voluntary, involuntary int64) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Nvcsw, ru.Nivcsw
}

// pingpong: two goroutines hand a token back and forth over two unbuffered
// channels, the program of golang/go issue 18023. One iteration is a round
// trip, two hand-offs. Under go the receiver usually runs next on the same P
// (runnext), a user-space switch; under go_locked each hand-off wakes the
// other goroutine's own thread through the kernel.
func pingpong(p params, locked bool, m metrics) error {
	n, warm := p.u64("iterations"), p.u64("warmup")
	if n == 0 {
		badInput("--iterations must be >= 1")
	}
	ping, pong := make(chan struct{}), make(chan struct{})
	window := make(chan [3]int64)
	go func() {
		lockIf(locked)
		for range ping {
			pong <- struct{}{}
		}
	}()
	go func() {
		lockIf(locked)
		for i := uint64(0); i < warm; i++ {
			ping <- struct{}{}
			<-pong
		}
		v0, i0 := switches()
		t0 := elapsed()
		for i := uint64(0); i < n; i++ {
			ping <- struct{}{}
			<-pong
		}
		t1 := elapsed()
		v1, i1 := switches()
		close(ping)
		window <- [3]int64{t1 - t0, v1 - v0, i1 - i0}
	}()
	w := <-window
	m["iterations"] = n
	m["handoffs"] = 2 * n
	m["window_ns"] = w[0]
	m["handoff_ns"] = float64(w[0]) / float64(2*n)
	m["round_trip_ns"] = float64(w[0]) / float64(n)
	m["window_voluntary_switches"] = w[1]
	m["window_involuntary_switches"] = w[2]
	return nil
}

// kernelMem: KernelStack + Slab + PageTables from /proc/meminfo, in bytes
// (system-wide, as spawn.c reads them).
func kernelMem() (stack, slab, tables int64, err error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(fields[1], 10, 64)
		switch fields[0] {
		case "KernelStack:":
			stack = kb * 1024
		case "Slab:":
			slab = kb * 1024
		case "PageTables:":
			tables = kb * 1024
		}
	}
	return stack, slab, tables, sc.Err()
}

func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(b))
	if len(fields) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(fields[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// spawn: create `tasks` goroutines that park on one channel, measure memory
// with every one parked, then wake and join them all (spawn.c's method: RSS
// of the process and the kernel's KernelStack + Slab + PageTables, before
// and after). go_locked parks each on its own OS thread.
func spawn(p params, locked bool, m metrics) error {
	n := p.u64("tasks")
	if n == 0 {
		badInput("--tasks must be >= 1")
	}
	if locked {
		debug.SetMaxThreads(int(n) + 1000) // Go stops at 10,000 threads by default
	}
	for i := uint64(0); i < p.u64("warmup"); i++ {
		done := make(chan struct{})
		go func() { lockIf(locked); close(done) }()
		<-done
	}
	var parked, joined sync.WaitGroup
	parked.Add(int(n))
	joined.Add(int(n))
	gate := make(chan struct{})
	var stack0 runtime.MemStats
	runtime.ReadMemStats(&stack0)
	ks0, sl0, pt0, err := kernelMem()
	if err != nil {
		return fmt.Errorf("read /proc/meminfo: %v", err)
	}
	rss0 := rssBytes()
	t0 := elapsed()
	for i := uint64(0); i < n; i++ {
		go func() {
			lockIf(locked)
			parked.Done()
			<-gate
			joined.Done()
		}()
	}
	tSpawned := elapsed()
	parked.Wait()
	tParked := elapsed()
	rss1 := rssBytes()
	ks1, sl1, pt1, err := kernelMem()
	if err != nil {
		return fmt.Errorf("read /proc/meminfo: %v", err)
	}
	var stack1 runtime.MemStats
	runtime.ReadMemStats(&stack1)
	close(gate)
	joined.Wait()
	tJoined := elapsed()
	r := float64(n)
	m["tasks"] = n
	m["create_ns"] = float64(tParked-t0) / r
	m["spawn_call_ns"] = float64(tSpawned-t0) / r
	m["wake_join_ns"] = float64(tJoined-tParked) / r
	m["user_bytes_per_task"] = float64(rss1-rss0) / r
	m["kernel_bytes_per_task"] = float64((ks1-ks0)+(sl1-sl0)+(pt1-pt0)) / r
	m["kernel_stack_bytes_per_task"] = float64(ks1-ks0) / r
	m["slab_bytes_per_task"] = float64(sl1-sl0) / r
	m["page_table_bytes_per_task"] = float64(pt1-pt0) / r
	m["rss_parked_bytes"] = rss1
	m["go_stack_bytes_per_task"] = float64(int64(stack1.StackInuse)-int64(stack0.StackInuse)) / r
	return nil
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// computeUnit is compute.c's unit: a serial multiply/xor-shift chain, so
// the checksum equals the workload's for the same seed and parameters.
func computeUnit(seed, index, iters uint64) uint64 {
	x := splitmix64(seed ^ splitmix64(index))
	for j := uint64(0); j < iters; j++ {
		x = x*6364136223846793005 + 1442695040888963407
		x ^= x >> 29
	}
	return x
}

const checksumMask = 1<<53 - 1

// compute: `workers` goroutines share `work_units` units of CPU work and
// start together; throughput over the window from the gate to the last one
// done. GOMAXPROCS (the CPUs the process may run on) bounds the parallelism.
func compute(p params, locked bool, m metrics) error {
	units, nw, iters, seed := p.u64("work_units"), p.u64("workers"), p.u64("unit_iters"),
		p.u64("seed")
	if nw == 0 || nw > units {
		badInput("--workers must be between 1 and work_units (%d)", units)
	}
	warm := uint64(0)
	for i := uint64(0); i < p.u64("warmup"); i++ {
		warm += computeUnit(seed, units+i, iters)
	}
	sums := make([]uint64, nw)
	var ready, done sync.WaitGroup
	ready.Add(int(nw))
	done.Add(int(nw))
	gate := make(chan struct{})
	for w := uint64(0); w < nw; w++ {
		first, last := units*w/nw, units*(w+1)/nw
		go func(w, first, last uint64) {
			lockIf(locked)
			ready.Done()
			<-gate
			var s uint64
			for i := first; i < last; i++ {
				s += computeUnit(seed, i, iters)
			}
			sums[w] = s
			done.Done()
		}(w, first, last)
	}
	ready.Wait()
	t0 := elapsed()
	close(gate)
	done.Wait()
	window := elapsed() - t0
	var sum uint64
	for _, s := range sums {
		sum += s
	}
	m["work_units"] = units
	m["workers"] = nw
	m["window_ns"] = window
	m["units_per_s"] = float64(units) * 1e9 / float64(window)
	m["checksum"] = sum & checksumMask
	m["warmup_units"] = p.u64("warmup")
	m["cpus_allowed"] = runtime.NumCPU()
	_ = warm
	return nil
}
