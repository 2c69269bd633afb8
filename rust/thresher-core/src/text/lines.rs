//! Line splitting that treats `\n`, `\r\n` and a lone `\r` as one line end each.

/// Iterates the lines of `text` without their line ends. A trailing line end does not make an
/// extra empty line (as Python's `str.splitlines`).
pub fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        match rest.find(['\n', '\r']) {
            None => {
                let line = rest;
                rest = "";
                Some(line)
            }
            Some(pos) => {
                let line = &rest[..pos];
                let end_len = if rest[pos..].starts_with("\r\n") {
                    2
                } else {
                    1
                };
                rest = &rest[pos + end_len..];
                Some(line)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(text: &str) -> Vec<&str> {
        lines(text).collect()
    }

    #[test]
    fn handles_every_line_end() {
        assert_eq!(collect("a\nb\r\nc\rd"), vec!["a", "b", "c", "d"]);
        assert_eq!(collect("a\n\nb\n"), vec!["a", "", "b"]);
        assert!(collect("").is_empty());
        assert_eq!(collect("\n"), vec![""]);
    }
}
