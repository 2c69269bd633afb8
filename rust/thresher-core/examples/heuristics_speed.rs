//! One-core speed of each heuristic kernel and of the English word splitter, on a file of
//! documents separated by NUL bytes (no Python involved):
//!
//!     cargo run --release -p thresher-core --example heuristics_speed -- docs.bin [repeats] [kernels]
//!
//! `kernels` is a comma-separated subset of split_words, gopher_repetition, gopher_quality,
//! c4_quality and fineweb_quality (default: all).
//!
//! `python benchmarks/heuristics.py --dump-corpus docs.bin` writes such a file from the benchmark corpus.

use std::time::Instant;

use thresher_core::signals::c4::{self, C4Config};
use thresher_core::signals::fineweb::{self, FinewebConfig};
use thresher_core::signals::gopher_quality::{self, GopherQualityConfig};
use thresher_core::signals::gopher_repetition::{self, GopherRepetitionConfig};
use thresher_core::signals::heuristic_text::Profile;
use thresher_core::text::splitters::WordSplitter;

fn median_seconds(repeats: usize, mut run: impl FnMut() -> usize) -> (f64, usize) {
    let mut times = Vec::with_capacity(repeats);
    let mut check = 0;
    for _ in 0..repeats {
        let t0 = Instant::now();
        check = std::hint::black_box(run());
        times.push(t0.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], check)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: heuristics_speed DOCS.bin [REPEATS]");
    let repeats: usize = args.next().map_or(5, |r| r.parse().expect("repeats"));
    let only: Option<String> = args.next();
    let data = std::fs::read_to_string(&path).expect("readable UTF-8 file");
    let docs: Vec<&str> = data.split('\0').collect();
    let mb = data.len() as f64 / 1e6;
    println!("{} documents, {mb:.1} MB", docs.len());

    let splitter = WordSplitter::SpacyEnglish;
    let profile = Profile::Datatrove;
    let repetition = GopherRepetitionConfig { profile, splitter };
    let quality = GopherQualityConfig::new(
        profile,
        splitter,
        ["the", "be", "to", "of", "and", "that", "have", "with"].map(String::from),
    );
    // FineWeb's chain runs C4 without the terminal punctuation rule.
    let c4 = C4Config {
        filter_no_terminal_punct: false,
        ..C4Config::for_profile(profile)
    };
    let fw = FinewebConfig {
        profile,
        splitter,
        short_line_length: 30,
    };

    let wanted = |name: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|x| x == name))
    };
    let report = |name: &str, (secs, check): (f64, usize)| {
        println!(
            "{name:<20} {:8.1} MB/s  {:8.0} docs/s  ({check})",
            mb / secs,
            docs.len() as f64 / secs
        );
    };
    let mut words = Vec::new();
    if wanted("split_words") {
        report(
            "split_words",
            median_seconds(repeats, || {
                docs.iter()
                    .map(|d| {
                        splitter.split(d, &mut words);
                        words.len()
                    })
                    .sum()
            }),
        );
    }
    if wanted("gopher_repetition") {
        report(
            "gopher_repetition",
            median_seconds(repeats, || {
                docs.iter()
                    .map(|d| gopher_repetition::measure_text(d, &repetition).chars as usize)
                    .sum()
            }),
        );
    }
    if wanted("gopher_quality") {
        report(
            "gopher_quality",
            median_seconds(repeats, || {
                docs.iter()
                    .map(|d| gopher_quality::measure_text(d, &quality).word_count as usize)
                    .sum()
            }),
        );
    }
    if wanted("c4_quality") {
        report(
            "c4_quality",
            median_seconds(repeats, || {
                docs.iter()
                    .map(|d| c4::measure_text(d, &c4).lines_kept as usize)
                    .sum()
            }),
        );
    }
    if wanted("fineweb_quality") {
        report(
            "fineweb_quality",
            median_seconds(repeats, || {
                docs.iter()
                    .map(|d| fineweb::measure_text(d, &fw).non_empty_lines as usize)
                    .sum()
            }),
        );
    }
}
