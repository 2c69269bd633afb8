//! Signals: named per-document measurements computed over a whole text column.
//!
//! Each family lives in its own module and returns a [`SignalBatch`], whose column names are
//! the public signal names documented in `docs/signals.md`.

pub mod c4;
pub mod char_classes;
pub mod fineweb;
pub mod gopher_quality;
pub mod gopher_repetition;
pub mod heuristic_text;
pub mod refinedweb;
pub mod script;
pub mod text_length;

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, UInt64Array};

/// Named signal columns, in a fixed order, all of the batch's length.
#[derive(Default)]
pub struct SignalBatch {
    pub columns: Vec<(&'static str, ArrayRef)>,
}

impl SignalBatch {
    pub fn push_u64(&mut self, name: &'static str, values: Vec<Option<u64>>) {
        self.columns
            .push((name, Arc::new(UInt64Array::from(values))));
    }

    pub fn push_f64(&mut self, name: &'static str, values: Vec<Option<f64>>) {
        self.columns
            .push((name, Arc::new(Float64Array::from(values))));
    }

    pub fn get(&self, name: &str) -> Option<&ArrayRef> {
        self.columns
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, a)| a)
    }
}
#[cfg(test)]
mod heuristic_tests;
