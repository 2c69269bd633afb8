//! Word splits remembered by document content, so that the steps of one batch split each document
//! once: Gopher repetition, Gopher quality and FineWeb all need the same spaCy-like words, and
//! splitting is the largest single cost of each. The memo lives as long as its owner keeps it (the
//! Python chain keeps one per batch), so its memory is bounded by one batch's words.
//!
//! Keys are the 128-bit XXH3 of the text, its length and the splitter, so a row that an earlier step
//! filtered out, moved or copied is still found, and a document rewritten by a step (C4) is not.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::splitters::WordSplitter;

type Key = (u128, usize, u8);
/// Word boundaries (start, end byte offsets, flattened) by key.
type Shard = HashMap<Key, Arc<[u32]>, ahash::RandomState>;

/// Shards keep rayon's threads from queueing on one lock.
const SHARDS: usize = 16;

#[derive(Default)]
pub struct WordMemo {
    shards: [Mutex<Shard>; SHARDS],
}

impl WordMemo {
    pub fn new() -> Self {
        Self::default()
    }

    fn key(splitter: WordSplitter, text: &str) -> Key {
        (
            xxhash_rust::xxh3::xxh3_128(text.as_bytes()),
            text.len(),
            splitter as u8,
        )
    }

    fn shard(&self, key: &Key) -> std::sync::MutexGuard<'_, Shard> {
        self.shards[(key.0 as usize) % SHARDS]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The remembered word boundaries of `text` under `splitter`: (start, end) byte offsets,
    /// flattened.
    pub fn get(&self, splitter: WordSplitter, text: &str) -> Option<Arc<[u32]>> {
        let key = Self::key(splitter, text);
        self.shard(&key).get(&key).cloned()
    }

    /// Remembers the word boundaries of `text` (flattened (start, end) byte offsets, in order), for
    /// a step that derives a new text's words from an old one's (C4 drops whole lines).
    pub fn insert(&self, splitter: WordSplitter, text: &str, bounds: Arc<[u32]>) {
        if text.len() <= u32::MAX as usize {
            let key = Self::key(splitter, text);
            self.shard(&key).insert(key, bounds);
        }
    }

    /// Fills `out` with the words of `text` under `splitter`, from the memo when an earlier call
    /// split the same text; otherwise splits it and remembers the word boundaries.
    pub fn split<'a>(&self, splitter: WordSplitter, text: &'a str, out: &mut Vec<&'a str>) {
        if text.len() > u32::MAX as usize {
            splitter.split(text, out);
            return;
        }
        if let Some(bounds) = self.get(splitter, text) {
            out.clear();
            out.extend(
                bounds
                    .chunks_exact(2)
                    .map(|b| &text[b[0] as usize..b[1] as usize]),
            );
            return;
        }
        splitter.split(text, out);
        let base = text.as_ptr() as usize;
        let bounds: Arc<[u32]> = out
            .iter()
            .flat_map(|w| {
                let start = (w.as_ptr() as usize - base) as u32;
                [start, start + w.len() as u32]
            })
            .collect();
        self.insert(splitter, text, bounds);
    }

    /// Number of texts remembered.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl WordSplitter {
    /// [`WordSplitter::split`] through `memo` when there is one.
    pub fn split_with<'a>(self, text: &'a str, out: &mut Vec<&'a str>, memo: Option<&WordMemo>) {
        match memo {
            Some(memo) => memo.split(self, text, out),
            None => self.split(text, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_splits_equal_fresh_ones_and_follow_the_content() {
        let memo = WordMemo::new();
        let text = String::from("Don't stop -- it's 3.5km, Mr. Smith!\nNew line.");
        let mut fresh = Vec::new();
        WordSplitter::SpacyEnglish.split(&text, &mut fresh);
        let mut first = Vec::new();
        memo.split(WordSplitter::SpacyEnglish, &text, &mut first);
        assert_eq!(first, fresh);
        assert_eq!(memo.len(), 1);
        // The same content at another address is found; its words are slices of the new copy.
        let copy = text.clone();
        let mut again = vec!["stale"];
        memo.split(WordSplitter::SpacyEnglish, &copy, &mut again);
        assert_eq!(again, fresh);
        assert!(again.iter().all(|w| {
            let p = w.as_ptr() as usize;
            p >= copy.as_ptr() as usize && p < copy.as_ptr() as usize + copy.len()
        }));
        assert_eq!(memo.len(), 1);
        // Another splitter or other content is a new entry.
        let mut ws = Vec::new();
        memo.split(WordSplitter::Whitespace, &text, &mut ws);
        assert_eq!(ws.len(), text.split_whitespace().count());
        memo.split(WordSplitter::SpacyEnglish, "other text", &mut ws);
        assert_eq!(ws, vec!["other", "text"]);
        assert_eq!(memo.len(), 3);
    }
}
