//! Whitespace word splitting: the language-agnostic baseline every profile can fall back on.

/// Iterates maximal runs of non-whitespace characters (Unicode whitespace).
pub fn whitespace_words(text: &str) -> impl Iterator<Item = &str> {
    text.split(char::is_whitespace).filter(|w| !w.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_unicode_whitespace() {
        let words: Vec<_> = whitespace_words(" a\tb\u{00a0}c\u{3000}d \n").collect();
        assert_eq!(words, vec!["a", "b", "c", "d"]);
        assert_eq!(whitespace_words("   ").count(), 0);
    }
}
