//! The Rust row of bench/ffi (run by bench/ffi/rust.sh): the same two workloads as
//! bench/ffi/c_baseline.c, medians of 7 repetitions, one JSON line.
use std::hint::black_box;
use std::time::Instant;

use aphelion::{DType, Device, Executor, Graph, Tensor, Tracker};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() -> aphelion::Result<()> {
    let path = std::env::args().nth(1).unwrap_or_else(|| "bench/ffi/small.json".into());
    let tracker = Tracker::new(0)?;
    let graph = Graph::load(&path)?;
    let cpu = Device::cpu()?;
    let mut ex = Executor::new(&graph, &cpu, None)?;
    let x = Tensor::empty(&cpu, DType::F32, &[1, 16])?;
    let (mut trivial, mut run) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        let n = 10_000_000u32;
        let t0 = Instant::now();
        let mut sink = 0u64;
        for _ in 0..n {
            sink = sink.wrapping_add(black_box(&tracker).allocated_bytes());
        }
        black_box(sink);
        trivial.push(t0.elapsed().as_nanos() as f64 / n as f64);
        let m = 20_000u32;
        let t0 = Instant::now();
        for _ in 0..m {
            ex.set_input("x", &x)?;
            ex.run()?;
        }
        run.push(t0.elapsed().as_nanos() as f64 / m as f64);
    }
    println!("{{\"language\": \"rust\", \"trivial_ns\": {:.2}, \"run_ns\": {:.1}}}", median(trivial), median(run));
    Ok(())
}
