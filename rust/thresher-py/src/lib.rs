//! `thresher._core`: the pyo3 layer. It only converts Arrow arrays across the C data interface,
//! releases the GIL around core calls, and turns errors and panics into Python exceptions.

mod convert;
mod decont;
mod dedup;
mod fasttext;
mod heuristics;
mod script;
mod signals;
mod util;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    convert::register(m)?;
    fasttext::register(m)?;
    decont::register(m)?;
    signals::register(m)?;
    dedup::register(m)?;
    script::register(m)?;
    heuristics::register(m)?;
    util::register(m)?;
    Ok(())
}
