//! Batch-level parallelism: documents are independent, so rows are split over rayon's pool.

use rayon::prelude::*;

use crate::column::TextColumn;

/// Rows per rayon task: large enough to amortise scheduling, small enough to balance long documents.
const ROWS_PER_TASK: usize = 64;

/// Applies `f` to every row of `column` in parallel, keeping row order.
pub fn map_rows<T, F>(column: TextColumn<'_>, f: F) -> Vec<T>
where
    T: Send,
    F: Fn(Option<&str>) -> T + Sync + Send,
{
    (0..column.len())
        .into_par_iter()
        .with_min_len(ROWS_PER_TASK)
        .map(|i| f(column.get(i)))
        .collect()
}

/// [`map_rows`] with per-thread state made by `init` (reusable buffers), passed to every call.
pub fn map_rows_with<'c, T, S, I, F>(column: TextColumn<'c>, init: I, f: F) -> Vec<T>
where
    T: Send,
    I: Fn() -> S + Sync + Send,
    F: Fn(&mut S, Option<&'c str>) -> T + Sync + Send,
{
    map_rows_with_tasks(column, ROWS_PER_TASK, init, f)
}

/// [`map_rows_with`] with at least `rows_per_task` rows per rayon task: fewer for costly rows,
/// whose sizes vary enough that large tasks leave threads idle at the end of a batch.
pub fn map_rows_with_tasks<'c, T, S, I, F>(
    column: TextColumn<'c>,
    rows_per_task: usize,
    init: I,
    f: F,
) -> Vec<T>
where
    T: Send,
    I: Fn() -> S + Sync + Send,
    F: Fn(&mut S, Option<&'c str>) -> T + Sync + Send,
{
    (0..column.len())
        .into_par_iter()
        .with_min_len(rows_per_task.max(1))
        .map_init(init, |state, i| f(state, column.get(i)))
        .collect()
}
