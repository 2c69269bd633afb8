//! Signals: named per-document measurements computed over a whole text column.
//!
//! Each family lives in its own module and returns a [`SignalBatch`], whose column names are
//! the public signal names documented in `docs/signals.md`.

pub mod c4;
pub mod chain;
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

/// The Arrow type of a signal column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignalKind {
    Count,
    Fraction,
}

/// One document's value of a signal.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SignalValue {
    Count(u64),
    Fraction(f64),
}

impl SignalValue {
    /// The value as a threshold rule compares it.
    #[inline]
    pub fn as_f64(self) -> f64 {
        match self {
            Self::Count(v) => v as f64,
            Self::Fraction(v) => v,
        }
    }
}

/// A family's per-document measurement: its signals by index, named and typed by the constants,
/// so that column building and threshold rules need no per-family code.
pub trait SignalRow {
    /// Public signal names (`docs/signals.md`), in column order.
    const NAMES: &'static [&'static str];
    const KINDS: &'static [SignalKind];

    fn value(&self, signal: usize) -> SignalValue;

    /// Index of the signal called `name`.
    fn index_of(name: &str) -> Option<usize> {
        Self::NAMES.iter().position(|n| *n == name)
    }

    /// The signal columns of `rows` (`None`: a null row).
    fn batch<'r, I>(rows: I) -> SignalBatch
    where
        Self: 'r,
        I: Iterator<Item = Option<&'r Self>> + Clone,
    {
        let mut batch = SignalBatch::default();
        for (i, (&name, &kind)) in Self::NAMES.iter().zip(Self::KINDS).enumerate() {
            let values = rows.clone().map(|row| row.map(|m| m.value(i)));
            match kind {
                SignalKind::Count => batch.push_u64(
                    name,
                    values
                        .map(|v| {
                            v.map(|v| match v {
                                SignalValue::Count(c) => c,
                                SignalValue::Fraction(f) => f as u64,
                            })
                        })
                        .collect(),
                ),
                SignalKind::Fraction => {
                    batch.push_f64(name, values.map(|v| v.map(SignalValue::as_f64)).collect())
                }
            }
        }
        batch
    }
}
#[cfg(test)]
mod heuristic_tests;
