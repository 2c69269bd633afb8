//! A read-only view of a text column in any of Arrow's three string layouts.

use arrow_array::{Array, Int64Array, LargeStringArray, StringArray, StringViewArray};
use arrow_schema::DataType;

use crate::error::{CoreError, Result};

/// Borrowed view of a string column; reading a value never copies the text.
#[derive(Clone, Copy)]
pub enum TextColumn<'a> {
    Utf8(&'a StringArray),
    LargeUtf8(&'a LargeStringArray),
    Utf8View(&'a StringViewArray),
}

impl<'a> TextColumn<'a> {
    pub fn try_new(array: &'a dyn Array) -> Result<Self> {
        let any = array.as_any();
        match array.data_type() {
            DataType::Utf8 => Ok(Self::Utf8(any.downcast_ref().expect("utf8 array"))),
            DataType::LargeUtf8 => Ok(Self::LargeUtf8(
                any.downcast_ref().expect("large_utf8 array"),
            )),
            DataType::Utf8View => Ok(Self::Utf8View(any.downcast_ref().expect("utf8_view array"))),
            other => Err(CoreError::NotAStringColumn(other.to_string())),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Self::Utf8(a) => a.len(),
            Self::LargeUtf8(a) => a.len(),
            Self::Utf8View(a) => a.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The text of row `i`, or `None` when the row is null.
    pub fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            Self::Utf8(a) => a.is_valid(i).then(|| a.value(i)),
            Self::LargeUtf8(a) => a.is_valid(i).then(|| a.value(i)),
            Self::Utf8View(a) => a.is_valid(i).then(|| a.value(i)),
        }
    }

    /// Total bytes of text in the column (nulls count as zero).
    pub fn total_bytes(&self) -> usize {
        (0..self.len())
            .map(|i| self.get(i).map_or(0, str::len))
            .sum()
    }

    /// UTF-8 byte length of every row (null where the row is null), for any of the three layouts.
    pub fn byte_lengths(&self) -> Int64Array {
        (0..self.len())
            .map(|i| self.get(i).map(|t| t.len() as i64))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_lengths_for_every_layout() {
        let plain = StringArray::from(vec![Some("é"), None, Some("")]);
        let view = StringViewArray::from(vec![Some("é"), None, Some("")]);
        for column in [
            TextColumn::try_new(&plain).unwrap(),
            TextColumn::try_new(&view).unwrap(),
        ] {
            let lengths = column.byte_lengths();
            assert_eq!(lengths.value(0), 2);
            assert!(lengths.is_null(1));
            assert_eq!(lengths.value(2), 0);
            assert_eq!(column.total_bytes(), 2);
        }
    }
}
