//! The long fuzz run: generated documents through every entry point in `fuzzing::ENTRY_POINTS`, in
//! every Arrow layout, counting inputs, panics and broken invariants.
//!
//!     cargo run --release -p thresher-core --example fuzz_text -- --inputs 10000000 [--seed 1] [--all-layouts]
//!
//! Each batch goes through one Arrow layout, in rotation (`--all-layouts`: every layout, several times slower).
//! A panicking batch is written to `fuzz-failures/` (one file per document, raw bytes) and the run
//! exits non-zero. `python benchmarks/fuzz.py` drives this and prints the figures.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use thresher_core::fuzzing::{check_layouts, ENTRY_POINTS};

/// splitmix64: small, fast, seedable; no dependency needed for a generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const PIECES: &[&str] = &[
    "\n",
    "\r",
    "\r\n",
    "\n\r",
    " ",
    "  ",
    "\t",
    "\u{a0}",
    "\u{2028}",
    "\u{2029}",
    "\u{3000}",
    "\u{200b}",
    "\u{feff}",
    "\u{301}",
    "\u{202e}",
    "\u{1F600}",
    "\u{1F468}\u{200d}\u{1F469}",
    "\u{10FFFF}",
    "\0",
    "a",
    "Z",
    "9",
    ".",
    "...",
    "-",
    "é",
    "ß",
    "İ",
    "日本語",
    "ﷺ",
    "\u{fffd}",
    "http://x.y/z",
    "lorem",
    "ipsum",
    "#",
    "|",
    "{",
    "}",
    "<p>",
    "&amp;",
    "\u{0}\u{1}\u{7f}",
    "ǅ",
    "ﬃ",
];

const BASE: &str = "The quick brown fox jumps over the lazy dog.\nLe cœur a ses raisons.\r\n\
                    Съешь же ещё этих мягких французских булок.\r日本語のテキストです。\n\n";

fn document(rng: &mut Rng) -> Option<Vec<u8>> {
    match rng.below(12) {
        0 => None,
        1 | 2 => Some((0..rng.below(512)).map(|_| rng.next() as u8).collect()),
        3 | 4 => {
            let mut s = String::new();
            for _ in 0..rng.below(256) {
                if let Some(c) = char::from_u32(rng.below(0x11_0000) as u32) {
                    s.push(c);
                }
            }
            Some(s.into_bytes())
        }
        5..=8 => Some(
            (0..rng.below(128))
                .map(|_| PIECES[rng.below(PIECES.len())])
                .collect::<String>()
                .into_bytes(),
        ),
        9 | 10 => {
            // a real-looking text, mutated at byte level (may break UTF-8)
            let mut bytes = BASE.as_bytes().to_vec();
            for _ in 0..rng.below(8) {
                let at = rng.below(bytes.len());
                match rng.below(3) {
                    0 => bytes[at] = rng.next() as u8,
                    1 => {
                        bytes.remove(at);
                    }
                    _ => bytes.insert(at, rng.next() as u8),
                }
            }
            Some(bytes)
        }
        _ => {
            if rng.below(50) == 0 {
                let piece = PIECES[rng.below(PIECES.len())];
                Some(piece.repeat(1 + rng.below(20_000)).into_bytes()) // long runs of one piece
            } else {
                Some(Vec::new())
            }
        }
    }
}

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.replace('_', "").parse().expect("a number"))
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let inputs = arg(&args, "--inputs", 1_000_000);
    let seed = arg(&args, "--seed", 1);
    let all_layouts = args.iter().any(|a| a == "--all-layouts");
    let mut rng = Rng(seed);
    std::panic::set_hook(Box::new(|_| {})); // reported below, with the input saved
    let started = Instant::now();
    let (mut done, mut batches, mut bytes, mut panics, mut broken) = (0u64, 0u64, 0u64, 0u64, 0u64);
    while done < inputs {
        let size = (1 + rng.below(64)).min((inputs - done) as usize);
        let docs: Vec<Option<Vec<u8>>> = (0..size).map(|_| document(&mut rng)).collect();
        let borrowed: Vec<Option<&[u8]>> = docs.iter().map(|d| d.as_deref()).collect();
        bytes += borrowed
            .iter()
            .map(|d| d.map_or(0, <[u8]>::len) as u64)
            .sum::<u64>();
        let layout = if all_layouts {
            None
        } else {
            Some(batches as usize)
        };
        match catch_unwind(AssertUnwindSafe(|| check_layouts(&borrowed, layout))) {
            Ok(Ok(())) => {}
            Ok(Err(message)) => {
                broken += 1;
                eprintln!("broken invariant in batch {batches}: {message}");
                save(seed, batches, &borrowed);
            }
            Err(_) => {
                panics += 1;
                eprintln!("panic in batch {batches}");
                save(seed, batches, &borrowed);
            }
        }
        done += size as u64;
        batches += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{{\"inputs\": {done}, \"batches\": {batches}, \"bytes\": {bytes}, \"entry_points\": {}, \
         \"seconds\": {seconds:.3}, \"inputs_per_s\": {:.0}, \"panics\": {panics}, \"broken_invariants\": {broken}, \
         \"seed\": {seed}}}",
        ENTRY_POINTS.len(),
        done as f64 / seconds
    );
    if panics + broken > 0 {
        std::process::exit(1);
    }
}

fn save(seed: u64, batch: u64, docs: &[Option<&[u8]>]) {
    let dir = std::path::Path::new("fuzz-failures").join(format!("seed{seed}-batch{batch}"));
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    for (i, doc) in docs.iter().enumerate() {
        let name = if doc.is_some() {
            format!("{i:03}.bin")
        } else {
            format!("{i:03}.null")
        };
        let _ = std::fs::write(dir.join(name), doc.unwrap_or_default());
    }
}
