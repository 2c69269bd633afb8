//! One-core speed of each heuristic kernel and of the English word splitter, on a file of
//! documents separated by NUL bytes (no Python involved):
//!
//!     cargo run --release -p thresher-core --example heuristics_speed -- docs.bin [repeats] [kernels]
//!
//! `kernels` is a comma-separated subset of split_words, gopher_repetition, gopher_quality,
//! c4_quality, fineweb_quality and chain (FineWeb's four steps run as one `HeuristicChain` with
//! their default rules; default: all).
//!
//! `python benchmarks/heuristics.py --dump-corpus docs.bin` writes such a file from the benchmark corpus.

use std::time::Instant;

use arrow_array::StringArray;
use thresher_core::signals::c4::{self, C4Config};
use thresher_core::signals::chain::{ChainKind, ChainStep, HeuristicChain, KeepWhen, Rule};
use thresher_core::signals::fineweb::{self, FinewebConfig};
use thresher_core::signals::gopher_quality::{self, GopherQualityConfig};
use thresher_core::signals::gopher_repetition::{self, GopherRepetitionConfig};
use thresher_core::signals::heuristic_text::Profile;
use thresher_core::signals::SignalRow;
use thresher_core::text::splitters::WordSplitter;
use thresher_core::TextColumn;

/// Rules of a step from (signal, comparison, threshold): the step's published defaults.
fn rules<R: SignalRow>(list: &[(&str, &str, f64)]) -> Vec<Rule> {
    list.iter()
        .map(|&(signal, op, threshold)| Rule {
            signal: R::index_of(signal).expect("signal name"),
            keep_when: KeepWhen::parse(op).expect("comparison"),
            threshold,
            zero_passes: false,
        })
        .collect()
}

/// (median seconds, fastest seconds, the run's check value).
fn median_seconds(repeats: usize, mut run: impl FnMut() -> usize) -> (f64, f64, usize) {
    let mut times = Vec::with_capacity(repeats);
    let mut check = 0;
    for _ in 0..repeats {
        let t0 = Instant::now();
        check = std::hint::black_box(run());
        times.push(t0.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[0], check)
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
    // The fastest pass says most about the code on a shared machine (others only add time).
    let report = |name: &str, (secs, best, check): (f64, f64, usize)| {
        println!(
            "{name:<20} {:8.1} MB/s  {:8.0} docs/s  (median; fastest {:.1} MB/s; check {check})",
            mb / secs,
            docs.len() as f64 / secs,
            mb / best,
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
    if wanted("chain") {
        use thresher_core::signals::{c4::C4Result, fineweb::Fineweb};
        use thresher_core::signals::{
            gopher_quality::GopherQuality, gopher_repetition::GopherRepetition,
        };
        let mut repetition_rules = vec![
            ("chars", ">=", 1.0),
            ("dup_para_frac", "<=", 0.3),
            ("dup_para_char_frac", "<=", 0.2),
            ("dup_line_frac", "<=", 0.3),
            ("dup_line_char_frac", "<=", 0.2),
            ("top_2_gram_frac", "<=", 0.2),
            ("top_3_gram_frac", "<=", 0.18),
            ("top_4_gram_frac", "<=", 0.16),
        ];
        let dup_names = [
            "dup_5_gram_frac",
            "dup_6_gram_frac",
            "dup_7_gram_frac",
            "dup_8_gram_frac",
            "dup_9_gram_frac",
            "dup_10_gram_frac",
        ];
        for (k, name) in dup_names.iter().enumerate() {
            repetition_rules.push((name, "<=", 0.15 - 0.01 * k as f64));
        }
        let chain = HeuristicChain::new(vec![
            ChainStep::new(
                ChainKind::GopherRepetition(GopherRepetitionConfig { profile, splitter }),
                rules::<GopherRepetition>(&repetition_rules),
            )
            .unwrap(),
            ChainStep::new(
                ChainKind::GopherQuality(Box::new(GopherQualityConfig::new(
                    profile,
                    splitter,
                    ["the", "be", "to", "of", "and", "that", "have", "with"].map(String::from),
                ))),
                rules::<GopherQuality>(&[
                    ("word_count", ">=", 50.0),
                    ("word_count", "<=", 100_000.0),
                    ("avg_word_length", ">=", 3.0),
                    ("avg_word_length", "<=", 10.0),
                    ("hash_ratio", "<=", 0.1),
                    ("ellipsis_ratio", "<=", 0.1),
                    ("bullet_lines_ratio", "<=", 0.9),
                    ("ellipsis_lines_ratio", "<=", 0.3),
                    ("alpha_words_ratio", ">=", 0.8),
                    ("stop_words", ">=", 2.0),
                ]),
            )
            .unwrap(),
            ChainStep::new(
                ChainKind::C4(C4Config {
                    filter_no_terminal_punct: false,
                    ..C4Config::for_profile(profile)
                }),
                rules::<C4Result>(&[
                    ("lorem_ipsum", "<=", 0.0),
                    ("curly_bracket", "<=", 0.0),
                    ("sentences", ">=", 5.0),
                ]),
            )
            .unwrap(),
            ChainStep::new(
                ChainKind::Fineweb(FinewebConfig {
                    profile,
                    splitter,
                    short_line_length: 30,
                }),
                rules::<Fineweb>(&[
                    ("non_empty_lines", ">=", 1.0),
                    ("line_punct_ratio", ">=", 0.12),
                    ("short_line_ratio", "<=", 0.67),
                    ("char_dup_ratio", "<=", 0.01),
                    ("list_ratio", "<=", 0.3),
                ]),
            )
            .unwrap(),
        ]);
        let column = StringArray::from(docs.clone());
        report(
            "chain",
            median_seconds(repeats, || {
                let out = chain.run(TextColumn::try_new(&column).unwrap());
                out.dropped.iter().filter(|d| d.is_none()).count()
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
