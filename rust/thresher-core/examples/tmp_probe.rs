use std::time::Instant;
use thresher_core::text::english::split_words;
fn main() {
    let data = std::fs::read_to_string("/tmp/docs.bin").unwrap();
    let docs: Vec<&str> = data.split('\0').collect();
    let mut out = Vec::new();
    let mut best = f64::MAX;
    for _ in 0..9 {
        let t0 = Instant::now();
        for d in &docs {
            out.clear();
            split_words(d, &mut out);
            std::hint::black_box(out.len());
        }
        best = best.min(t0.elapsed().as_secs_f64());
    }
    println!(
        "split: {:.3} s {:.1} MB/s",
        best,
        data.len() as f64 / 1e6 / best
    );
}
