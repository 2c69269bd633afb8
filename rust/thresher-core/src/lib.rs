//! Thresher's core: per-byte work over whole Arrow string columns.
//!
//! This crate knows nothing of Python. Every entry point takes an Arrow array (or plain
//! Rust values), works over the whole batch in parallel with rayon, and returns Arrow
//! arrays, so the bindings only convert.

pub mod column;
pub mod decont;
pub mod dedup;
pub mod error;
pub mod fasttext;
pub mod fuzzing;
pub mod ids;
pub mod linededup;
pub mod parallel;
pub mod signals;
pub mod text;
pub mod utf8;

pub use column::TextColumn;
pub use error::{CoreError, Result};
pub use signals::SignalBatch;
