//! The thread-safe types used from several threads at once; the others are `Send` only.

use std::sync::Arc;

use aphelion::*;

mod common;

fn assert_send_sync<T: Send + Sync>() {}
fn assert_send<T: Send>() {}

#[test]
fn send_and_sync_where_the_header_says() {
    assert_send_sync::<Device>();
    assert_send_sync::<Tracker>();
    assert_send_sync::<Stream>();
    assert_send_sync::<Event>();
    assert_send_sync::<Tensor>();
    assert_send_sync::<TraceSink>();
    assert_send_sync::<SafetensorsFile>();
    assert_send_sync::<Tokenizer>();
    assert_send_sync::<DeviceBuffer>();
    assert_send_sync::<Error>();
    // one thread at a time: movable, not shareable (compile_fail doc-tests check !Sync)
    assert_send::<Executor>();
    assert_send::<Graph>();
    assert_send::<ModelConfig>();
    assert_send::<DeviceConfig>();
    assert_send::<Pipeline>();
    assert_send::<BuildContext>();
}

#[test]
fn shared_handles_across_threads() {
    let cpu = Device::cpu().unwrap();
    let tracker = Tracker::new(8 * 1000).unwrap();
    let x = Tensor::from_slice(&cpu, &[1, 16], &(0..16).map(|i| i as f32 - 8.0).collect::<Vec<_>>()).unwrap();
    let graph_json = Graph::load(common::repo_root().join("bench/ffi/small.json")).unwrap().to_json(false).unwrap();
    std::thread::scope(|s| {
        for t in 0..8 {
            let (cpu, tracker, x, graph_json) = (&cpu, &tracker, &x, &graph_json);
            s.spawn(move || {
                // a tracker charged concurrently never passes its limit
                for _ in 0..1000 {
                    if tracker.allocate(1).is_ok() {
                        tracker.deallocate(1).unwrap();
                    }
                }
                tracker.allocate(1000).unwrap();
                // one executor per thread over a shared input tensor and device
                let g = Graph::from_json(graph_json).unwrap();
                let mut ex = Executor::new(&g, cpu, Some(&ExecutorOptions { cpu_threads: 1, ..Default::default() })).unwrap();
                for _ in 0..50 {
                    ex.set_input("x", x).unwrap();
                    ex.run().unwrap();
                    let y = ex.output("y").unwrap();
                    let s = y.as_slice::<f32>().unwrap();
                    assert_eq!(s[15], 7.0);
                    assert_eq!(s[0], 0.0);
                }
                // shared reads of one slice from every thread
                assert_eq!(x.as_slice::<f32>().unwrap()[t], t as f32 - 8.0);
                // each thread reads its own error message, never another thread's
                for i in 0..200 {
                    let name = format!("missing-{t}-{i}");
                    let e = g.find_node(&name).unwrap_err();
                    assert_eq!(e.message(), format!("not found: no node named '{name}'"));
                }
            });
        }
    });
    assert_eq!(tracker.allocated_bytes(), 8000);
    assert_eq!(tracker.allocate(1).unwrap_err().kind(), ErrorKind::OutOfMemory);
}

#[test]
fn tensors_and_executors_move_between_threads() {
    let cpu = Device::cpu().unwrap();
    let g = Graph::load(common::repo_root().join("bench/ffi/small.json")).unwrap();
    let mut ex = Executor::new(&g, &cpu, None).unwrap();
    let x = Arc::new(Tensor::from_slice(&cpu, &[1, 16], &[1.0f32; 16]).unwrap());
    let x2 = x.clone();
    let (ex, _) = std::thread::spawn(move || {
        ex.set_input("x", &x2).unwrap();
        ex.run().unwrap();
        (ex, ())
    })
    .join()
    .unwrap();
    assert_eq!(ex.output("y").unwrap().to_vec::<f32>().unwrap(), vec![1.0; 16]);
    // a slice borrowed on one thread blocks writes through another handle on another thread
    let mut view = x.reshape(&[16]).unwrap();
    let s = x.as_slice::<f32>().unwrap();
    let err = std::thread::spawn(move || view.as_mut_slice::<f32>().map(|_| ()).unwrap_err()).join().unwrap();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    drop(s);
}
