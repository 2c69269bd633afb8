//! Text primitives shared by all signals: line and word splitting.

pub mod english;
pub mod english_specials;
pub mod lines;
pub mod splitters;
pub mod word_memo;
pub mod words;
