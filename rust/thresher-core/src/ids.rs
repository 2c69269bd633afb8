//! Stable document ids for inputs that have none: `<prefix>/<row number>`.

use arrow_array::StringArray;

/// Ids `prefix/start`, `prefix/start+1`, ... zero-padded to 10 digits so they sort like row order.
pub fn sequential_ids(prefix: &str, start: u64, count: usize) -> StringArray {
    (0..count as u64)
        .map(|offset| Some(format!("{prefix}/{:010}", start + offset)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;

    #[test]
    fn ids_are_padded_and_sequential() {
        let ids = sequential_ids("shard-0", 9, 2);
        assert_eq!(ids.len(), 2);
        assert_eq!(ids.value(0), "shard-0/0000000009");
        assert_eq!(ids.value(1), "shard-0/0000000010");
    }
}
