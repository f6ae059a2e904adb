// Command aphelion-bench-ffi is the Go row of bench/ffi (bench/ffi/go.sh runs it): the cost of
// a call into libaphelion through the Go binding, for the workloads of bench/ffi/c_baseline.c:
//
//	trivial: Tracker.AllocatedBytes, a getter that does no work (one cgo call plus the
//	         handle's read lock);
//	run:     Executor.SetInput("x", x) + Executor.Run on bench/ffi/small.json (x -> relu -> y),
//	         f32 [1, 16], on the CPU.
//
// It prints one JSON line {"language": "go", "trivial_ns": ..., "run_ns": ...}, medians of 7.
package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"time"

	aphelion "libaphelion/aphelion"
)

func median(v []float64) float64 {
	sort.Float64s(v)
	return v[len(v)/2]
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "aphelion-bench-ffi:", err)
	os.Exit(1)
}

func main() {
	path := "bench/ffi/small.json"
	if len(os.Args) > 1 {
		path = os.Args[1]
	}
	tracker, err := aphelion.NewTracker(0)
	if err != nil {
		fail(err)
	}
	defer tracker.Close()
	graph, err := aphelion.LoadGraph(path)
	if err != nil {
		fail(err)
	}
	defer graph.Close()
	cpu, err := aphelion.CPU()
	if err != nil {
		fail(err)
	}
	defer cpu.Close()
	ex, err := aphelion.NewExecutor(graph, cpu, nil)
	if err != nil {
		fail(err)
	}
	defer ex.Close()
	x, err := aphelion.NewTensor(cpu, aphelion.DTypeF32, 1, 16)
	if err != nil {
		fail(err)
	}
	defer x.Close()
	ctx := context.Background()

	const reps, n, m = 7, 2000000, 20000
	trivial, run := make([]float64, reps), make([]float64, reps)
	var sink uint64
	for r := 0; r < reps; r++ {
		t0 := time.Now()
		for i := 0; i < n; i++ {
			sink += tracker.AllocatedBytes()
		}
		trivial[r] = float64(time.Since(t0).Nanoseconds()) / n
		t0 = time.Now()
		for i := 0; i < m; i++ {
			if err := ex.SetInput("x", x); err != nil {
				fail(err)
			}
			if err := ex.Run(ctx); err != nil {
				fail(err)
			}
		}
		run[r] = float64(time.Since(t0).Nanoseconds()) / m
	}
	if sink != 0 {
		fail(fmt.Errorf("the tracker counted %d bytes", sink))
	}
	fmt.Printf("{\"language\": \"go\", \"trivial_ns\": %.2f, \"run_ns\": %.1f}\n", median(trivial), median(run))
}
