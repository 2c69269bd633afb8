//! Turning binary columns into text without losing rows: invalid UTF-8 becomes a null plus a flag,
//! so the caller can quarantine the row with a reason instead of failing the batch.

use arrow_array::{
    Array, BinaryArray, BinaryViewArray, BooleanArray, LargeBinaryArray, LargeStringArray,
};
use arrow_schema::DataType;
use rayon::prelude::*;

use crate::error::{CoreError, Result};

/// Decodes a binary column. Returns the text (null where the input was null or invalid) and a
/// mask that is true exactly where the bytes were not valid UTF-8.
pub fn decode_binary<'a>(array: &'a dyn Array) -> Result<(LargeStringArray, BooleanArray)> {
    let any = array.as_any();
    let get: Box<dyn Fn(usize) -> Option<&'a [u8]> + Sync + 'a> = match array.data_type() {
        DataType::Binary => {
            let a: &BinaryArray = any.downcast_ref().expect("binary array");
            Box::new(move |i| a.is_valid(i).then(|| a.value(i)))
        }
        DataType::LargeBinary => {
            let a: &LargeBinaryArray = any.downcast_ref().expect("large_binary array");
            Box::new(move |i| a.is_valid(i).then(|| a.value(i)))
        }
        DataType::BinaryView => {
            let a: &BinaryViewArray = any.downcast_ref().expect("binary_view array");
            Box::new(move |i| a.is_valid(i).then(|| a.value(i)))
        }
        other => return Err(CoreError::NotABinaryColumn(other.to_string())),
    };
    let decoded: Vec<(Option<&str>, bool)> = (0..array.len())
        .into_par_iter()
        .with_min_len(256)
        .map(|i| match get(i) {
            None => (None, false),
            Some(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => (Some(text), false),
                Err(_) => (None, true),
            },
        })
        .collect();
    let text: LargeStringArray = decoded.iter().map(|(t, _)| *t).collect();
    let invalid: BooleanArray = decoded.iter().map(|(_, bad)| Some(*bad)).collect();
    Ok((text, invalid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_bytes_become_flagged_nulls() {
        let input = BinaryArray::from(vec![Some(b"ok".as_ref()), Some(&[0xff, 0xfe][..]), None]);
        let (text, invalid) = decode_binary(&input).unwrap();
        assert_eq!(text.value(0), "ok");
        assert!(text.is_null(1) && invalid.value(1));
        assert!(text.is_null(2) && !invalid.value(2));
    }

    #[test]
    fn rejects_non_binary_input() {
        let input = arrow_array::Int32Array::from(vec![1]);
        assert!(matches!(
            decode_binary(&input),
            Err(CoreError::NotABinaryColumn(_))
        ));
    }
}
