//! Decontamination: word n-gram indexes of evaluation sets and lookups over whole text columns.
//!
//! `normalize` turns text into hashed words, `ngrams` rolls them into n-gram hashes, and `index`
//! stores the n-grams of every evaluation item in a memory-mapped file that all workers share.

pub mod index;
pub mod ngrams;
pub mod normalize;

pub use index::{build_index, BuildSummary, DocMatch, MatchRule, NgramIndex};
