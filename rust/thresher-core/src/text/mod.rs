//! Text primitives shared by all signals: line and word splitting.

pub mod lines;
pub mod words;
