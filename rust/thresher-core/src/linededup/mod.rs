//! Corpus-level line deduplication: hash normalised lines per document (map), and rewrite
//! documents without the lines the corpus-wide counts marked as too frequent (apply).
//!
//! A line is normalised before hashing much as CCNet does for its paragraph dedup: lowercase,
//! punctuation and symbols removed, whitespace runs made one space, ends trimmed, and optionally
//! every digit made `0` (`digits_to_zero`, CCNet's choice: it merges "© 2019" and "© 2020" but also
//! "The answer is 63." and "The answer is 72."). Lines that normalise to nothing (blank lines, rules
//! of dashes) are never counted and never removed.

use arrow_array::{LargeStringArray, UInt64Array};
use xxhash_rust::xxh3::xxh3_64;

use crate::column::TextColumn;
use crate::parallel::map_rows;

/// Writes the normalised form of `line` into `out` (cleared first).
pub fn normalize_line(line: &str, out: &mut String, digits_to_zero: bool) {
    out.clear();
    let mut pending_space = false;
    for c in line.chars() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
        } else if c.is_alphanumeric() {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            if digits_to_zero && c.is_numeric() {
                out.push('0');
            } else if c.is_ascii() {
                out.push(c.to_ascii_lowercase());
            } else {
                out.extend(c.to_lowercase());
            }
        }
    }
}

/// Hash of a normalised line, or `None` when it normalises to nothing.
pub fn line_hash(line: &str, scratch: &mut String, digits_to_zero: bool) -> Option<u64> {
    normalize_line(line, scratch, digits_to_zero);
    (!scratch.is_empty()).then(|| xxh3_64(scratch.as_bytes()))
}

/// Iterates `(line, line_with_its_end)` over `text`; `\n`, `\r\n` and a lone `\r` end a line.
pub fn lines_with_ends(text: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (content, full) = match rest.find(['\n', '\r']) {
            None => (rest.len(), rest.len()),
            Some(pos) => {
                let end = if rest[pos..].starts_with("\r\n") {
                    2
                } else {
                    1
                };
                (pos, pos + end)
            }
        };
        let out = (&rest[..content], &rest[..full]);
        rest = &rest[full..];
        Some(out)
    })
}

/// The distinct normalised-line hashes of one document, sorted.
pub fn document_line_hashes(text: &str, digits_to_zero: bool) -> Vec<u64> {
    let mut scratch = String::new();
    let mut hashes: Vec<u64> = lines_with_ends(text)
        .filter_map(|(line, _)| line_hash(line, &mut scratch, digits_to_zero))
        .collect();
    hashes.sort_unstable();
    hashes.dedup();
    hashes
}

/// Every document's distinct line hashes, concatenated (a line counts once per document).
pub fn column_line_hashes(column: TextColumn<'_>, digits_to_zero: bool) -> UInt64Array {
    let per_doc = map_rows(column, |text| {
        text.map(|t| document_line_hashes(t, digits_to_zero))
            .unwrap_or_default()
    });
    let total = per_doc.iter().map(Vec::len).sum();
    let mut flat = Vec::with_capacity(total);
    for hashes in per_doc {
        flat.extend(hashes);
    }
    UInt64Array::from(flat)
}

/// One document after removing its frequent lines.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Rewritten {
    pub text: String,
    pub lines: u32,
    pub removed_lines: u32,
    pub removed_bytes: u64,
    pub remaining_chars: u64,
    /// `(hash, line)` for removed lines whose hash is in the caller's `wanted` list.
    pub samples: Vec<(u64, String)>,
}

/// Removes the lines whose hash is in `remove` (sorted); keeps every other line with its line end.
pub fn remove_lines(text: &str, remove: &[u64], wanted: &[u64], digits_to_zero: bool) -> Rewritten {
    let mut out = Rewritten {
        text: String::with_capacity(text.len()),
        ..Rewritten::default()
    };
    let mut scratch = String::new();
    for (line, full) in lines_with_ends(text) {
        out.lines += 1;
        let hash = line_hash(line, &mut scratch, digits_to_zero);
        match hash {
            Some(h) if remove.binary_search(&h).is_ok() => {
                out.removed_lines += 1;
                out.removed_bytes += full.len() as u64;
                if wanted.binary_search(&h).is_ok() && !out.samples.iter().any(|(s, _)| *s == h) {
                    out.samples.push((h, line.trim().to_string()));
                }
            }
            _ => out.text.push_str(full),
        }
    }
    out.remaining_chars = out.text.chars().count() as u64;
    out
}

/// The result of [`remove_lines_column`]: new texts and per-document counts, nulls kept.
pub struct ColumnRewrite {
    pub text: LargeStringArray,
    pub lines: Vec<Option<u32>>,
    pub removed_lines: Vec<Option<u32>>,
    pub removed_bytes: Vec<Option<u64>>,
    pub remaining_chars: Vec<Option<u64>>,
    /// First sample line found in this batch for each wanted hash.
    pub samples: Vec<(u64, String)>,
}

/// Applies [`remove_lines`] to every row in parallel. `remove` and `wanted` must be sorted.
pub fn remove_lines_column(
    column: TextColumn<'_>,
    remove: &[u64],
    wanted: &[u64],
    digits_to_zero: bool,
) -> ColumnRewrite {
    let rows = map_rows(column, |text| {
        text.map(|t| remove_lines(t, remove, wanted, digits_to_zero))
    });
    let mut samples: Vec<(u64, String)> = Vec::new();
    for row in rows.iter().flatten() {
        for (h, line) in &row.samples {
            if !samples.iter().any(|(s, _)| s == h) {
                samples.push((*h, line.clone()));
            }
        }
    }
    ColumnRewrite {
        text: rows
            .iter()
            .map(|r| r.as_ref().map(|r| r.text.as_str()))
            .collect(),
        lines: rows.iter().map(|r| r.as_ref().map(|r| r.lines)).collect(),
        removed_lines: rows
            .iter()
            .map(|r| r.as_ref().map(|r| r.removed_lines))
            .collect(),
        removed_bytes: rows
            .iter()
            .map(|r| r.as_ref().map(|r| r.removed_bytes))
            .collect(),
        remaining_chars: rows
            .iter()
            .map(|r| r.as_ref().map(|r| r.remaining_chars))
            .collect(),
        samples,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, StringArray};
    use proptest::prelude::*;

    fn norm(line: &str, digits_to_zero: bool) -> String {
        let mut out = String::new();
        normalize_line(line, &mut out, digits_to_zero);
        out
    }

    #[test]
    fn normalises_by_hand() {
        assert_eq!(
            norm("  Copyright © 2019 ACME, Inc.  ", true),
            "copyright 0000 acme inc"
        );
        assert_eq!(
            norm("  Copyright © 2019 ACME, Inc.  ", false),
            "copyright 2019 acme inc"
        );
        assert_eq!(
            norm("Home | About us | Contact", false),
            "home about us contact"
        );
        assert_eq!(norm("----", true), "");
        assert_eq!(norm("ÜBER   uns", false), "über uns");
        let mut s = String::new();
        let h = |line: &str, s: &mut String, z| line_hash(line, s, z);
        assert_eq!(
            h("© 2020 ACME inc", &mut s, true),
            h("© 2021 acme, INC.", &mut s, true)
        );
        assert_ne!(
            h("© 2020 ACME inc", &mut s, false),
            h("© 2021 acme, INC.", &mut s, false)
        );
        assert_eq!(h("  --- ", &mut s, false), None);
    }

    #[test]
    fn splits_lines_keeping_their_ends() {
        let got: Vec<_> = lines_with_ends("a\nb\r\nc\rd").collect();
        assert_eq!(
            got,
            vec![("a", "a\n"), ("b", "b\r\n"), ("c", "c\r"), ("d", "d")]
        );
        assert_eq!(lines_with_ends("").count(), 0);
    }

    #[test]
    fn removes_listed_lines_only() {
        let mut s = String::new();
        let menu = line_hash("Home", &mut s, false).unwrap();
        let cookie = line_hash("We use cookies.", &mut s, false).unwrap();
        let mut remove = vec![menu, cookie];
        remove.sort_unstable();
        let text = "HOME\nThe real article text.\n\nWe use cookies!\r\nEnd";
        let out = remove_lines(text, &remove, &[cookie], false);
        assert_eq!(out.text, "The real article text.\n\nEnd");
        assert_eq!((out.lines, out.removed_lines), (5, 2));
        assert_eq!(
            out.removed_bytes,
            ("HOME\n".len() + "We use cookies!\r\n".len()) as u64
        );
        assert_eq!(out.remaining_chars, out.text.chars().count() as u64);
        assert_eq!(out.samples, vec![(cookie, "We use cookies!".to_string())]);
    }

    #[test]
    fn hashes_count_once_per_document() {
        let column = StringArray::from(vec![Some("a\nb\na\n"), None, Some("b")]);
        let hashes = column_line_hashes(TextColumn::try_new(&column).unwrap(), false);
        assert_eq!(hashes.len(), 3);
    }

    #[test]
    fn column_rewrite_keeps_nulls() {
        let column = StringArray::from(vec![Some("x\ny"), None]);
        let mut s = String::new();
        let remove = vec![line_hash("x", &mut s, false).unwrap()];
        let out = remove_lines_column(TextColumn::try_new(&column).unwrap(), &remove, &[], false);
        assert_eq!(out.text.value(0), "y");
        assert!(out.text.is_null(1));
        assert_eq!(out.removed_lines, vec![Some(1), None]);
    }

    proptest! {
        #[test]
        fn removing_nothing_is_identity(text in "\\PC{0,200}") {
            let out = remove_lines(&text, &[], &[], true);
            prop_assert_eq!(out.text, text.clone());
            prop_assert_eq!(out.removed_lines, 0);
            let _ = document_line_hashes(&text, true);
        }

        #[test]
        fn removing_everything_leaves_only_blank_lines(text in "[a-c \\n\\r.]{0,80}") {
            let all = document_line_hashes(&text, false);
            let out = remove_lines(&text, &all, &[], false);
            prop_assert!(out.text.chars().all(|c| matches!(c, ' ' | '\n' | '\r' | '.')));
        }
    }
}
