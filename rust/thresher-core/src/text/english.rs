//! A rule-based English word splitter that follows the tokenization algorithm of spaCy's blank
//! English pipeline (v3), which datatrove ≥ 0.3 uses for its Gopher, FineWeb and C4 filters.
//!
//! The text is cut at whitespace; each chunk is then peeled: special cases (contractions,
//! abbreviations) are looked up, one prefix and one suffix are split off per round, and what is left
//! is kept whole when it looks like a URL, or cut at infixes (hyphens between letters, `.` between a
//! lower- and an upper-case letter, ...). Punctuation marks become tokens of their own, so they count
//! as words downstream, exactly as in datatrove.
//!
//! Every token is a slice of the input, so splitting allocates nothing but the output vector.

use std::collections::HashMap;
use std::sync::OnceLock;

use regex::Regex;

use crate::text::english_specials::{max_special_len, specials};

/// Python's `str.isspace`: Unicode White_Space plus the ASCII information separators 0x1C-0x1F.
#[inline]
pub fn is_py_space(c: char) -> bool {
    if c.is_ascii() {
        matches!(
            c,
            ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r' | '\x1c'..='\x1f'
        )
    } else {
        c.is_whitespace()
    }
}

/// A token: its text and whether it is a run of whitespace (kept for sentence splitting only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token<'a> {
    pub text: &'a str,
    pub is_space: bool,
}

/// Appends the non-whitespace tokens of `text` to `out` (datatrove's `split_into_words`).
pub fn split_words<'a>(text: &'a str, out: &mut Vec<&'a str>) {
    struct Words<'c, 'o, 'a> {
        out: &'o mut Vec<&'a str>,
        cache: &'c mut ChunkCache,
    }
    impl<'a> ChunkSink<'a> for Words<'_, '_, 'a> {
        #[inline]
        fn chunk(&mut self, chunk: &'a str, plain: bool) {
            let out = &mut *self.out;
            self.cache
                .tokenize(chunk, plain, &mut |t: Token<'a>| out.push(t.text));
        }
        #[inline]
        fn space(&mut self, _space: &'a str) {}
    }
    with_chunk_cache(|cache| for_each_chunk(text, &mut Words { out, cache }));
}

/// Calls `emit` for every token, whitespace tokens included, in order.
pub fn for_each_token<'a>(text: &'a str, mut emit: impl FnMut(Token<'a>)) {
    struct Tokens<'c, F> {
        emit: F,
        cache: &'c mut ChunkCache,
    }
    impl<'a, F: FnMut(Token<'a>)> ChunkSink<'a> for Tokens<'_, F> {
        #[inline]
        fn chunk(&mut self, chunk: &'a str, plain: bool) {
            self.cache.tokenize(chunk, plain, &mut self.emit);
        }
        #[inline]
        fn space(&mut self, space: &'a str) {
            (self.emit)(Token {
                text: space,
                is_space: true,
            });
        }
    }
    with_chunk_cache(|cache| {
        for_each_chunk(
            text,
            &mut Tokens {
                emit: &mut emit,
                cache,
            },
        )
    });
}

/// Longest chunk the cache holds, and most pieces of one.
const CACHED_CHUNK_BYTES: usize = 24;
const CACHED_PIECES: usize = 8;
const CACHE_SLOTS: usize = 1 << CACHE_BITS;
const CACHE_BITS: u32 = 12;

#[derive(Clone, Copy)]
struct CachedChunk {
    len: u8,
    pieces: u8,
    key: [u8; CACHED_CHUNK_BYTES],
    /// (start, length) of each piece within the chunk.
    bounds: [(u8, u8); CACHED_PIECES],
}

/// How short chunks with punctuation split ("it.", "(see", "don't,", "U.S.", "“Yes”"): a
/// direct-mapped table, one slot per hash, overwritten on collision. Web text repeats a few
/// thousand such chunks endlessly, and splitting one by the rules costs far more than a lookup.
/// A chunk's tokens depend on the chunk alone, so a hit gives exactly what the rules would.
pub struct ChunkCache {
    slots: Vec<CachedChunk>,
    /// The special-case filter of [`SpecialIndex`] over the plain (letters and digits) special
    /// cases only, for plain chunks: far fewer keys, so far fewer false hits.
    plain: &'static PlainFilter,
}

struct PlainFilter {
    bits: [u64; 1024],
    max_len: usize,
}

fn plain_filter() -> &'static PlainFilter {
    static FILTER: OnceLock<PlainFilter> = OnceLock::new();
    FILTER.get_or_init(|| {
        let mut filter = PlainFilter {
            bits: [0; 1024],
            max_len: 0,
        };
        for key in specials().keys().filter(|k| is_plain_word(k)) {
            let slot = filter_slot(key.as_bytes());
            filter.bits[slot >> 6] |= 1 << (slot & 63);
            filter.max_len = filter.max_len.max(key.len());
        }
        filter
    })
}

impl ChunkCache {
    fn new() -> Self {
        let empty = CachedChunk {
            len: 0,
            pieces: 0,
            key: [0; CACHED_CHUNK_BYTES],
            bounds: [(0, 0); CACHED_PIECES],
        };
        Self {
            slots: vec![empty; CACHE_SLOTS],
            ..Self::disabled()
        }
    }

    /// A cache that caches nothing (used when the thread's cache is already in use).
    fn disabled() -> Self {
        Self {
            slots: Vec::new(),
            plain: plain_filter(),
        }
    }

    /// [`special_pieces`] of a plain chunk.
    #[inline(always)]
    fn plain_special(&self, chunk: &str) -> Option<&'static [u16]> {
        let b = chunk.as_bytes();
        if b.is_empty() || b.len() > self.plain.max_len {
            return None;
        }
        let slot = filter_slot(b);
        if self.plain.bits[slot >> 6] & (1 << (slot & 63)) == 0 {
            return None;
        }
        special_pieces(chunk)
    }

    /// [`tokenize_chunk`], answered from the cache when it can be; `plain` is what the chunk scan
    /// found ([`is_plain_word`]).
    #[inline(always)]
    pub fn tokenize<'a>(&mut self, chunk: &'a str, plain: bool, emit: &mut impl FnMut(Token<'a>)) {
        if plain {
            // Letters and digits: one token unless it is a special case ("cannot", "gonna").
            match self.plain_special(chunk) {
                Some(pieces) => emit_special(chunk, pieces, emit),
                None => emit(word(chunk)),
            }
            return;
        }
        self.tokenize_marked(chunk, emit);
    }

    /// [`Self::tokenize`] of a chunk with a character other than an ASCII letter or digit.
    #[inline(never)]
    fn tokenize_marked<'a>(&mut self, chunk: &'a str, emit: &mut impl FnMut(Token<'a>)) {
        let bytes = chunk.as_bytes();
        if bytes.len() == 1 {
            // One character is one token whatever the rules.
            emit(word(chunk));
            return;
        }
        if let Some((a, b)) = word_and_mark(chunk) {
            emit(word(a));
            emit(word(b));
            return;
        }
        if self.slots.is_empty() || bytes.len() > CACHED_CHUNK_BYTES {
            tokenize_chunk(chunk, emit);
            return;
        }
        let mut key = [0u8; CACHED_CHUNK_BYTES];
        key[..bytes.len()].copy_from_slice(bytes);
        let lane =
            |k: usize| u64::from_le_bytes(key[k * 8..k * 8 + 8].try_into().expect("8 bytes"));
        let hash =
            (lane(0) ^ lane(1).rotate_left(21) ^ lane(2).rotate_left(42) ^ bytes.len() as u64)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let slot = &mut self.slots[(hash >> (64 - CACHE_BITS)) as usize];
        if slot.len as usize == bytes.len() && slot.key == key {
            for &(start, len) in &slot.bounds[..slot.pieces as usize] {
                emit(word(&chunk[start as usize..(start + len) as usize]));
            }
            return;
        }
        let base = chunk.as_ptr() as usize;
        let mut bounds = [(0u8, 0u8); CACHED_PIECES];
        let mut pieces = 0usize;
        tokenize_chunk(chunk, &mut |t: Token<'a>| {
            if pieces < CACHED_PIECES {
                bounds[pieces] = ((t.text.as_ptr() as usize - base) as u8, t.text.len() as u8);
            }
            pieces += 1;
            emit(t);
        });
        if pieces <= CACHED_PIECES {
            *slot = CachedChunk {
                len: bytes.len() as u8,
                pieces: pieces as u8,
                key,
                bounds,
            };
        }
    }
}

/// Runs `f` with this thread's chunk cache (or a disabled one when the cache is already in use).
pub fn with_chunk_cache<R>(f: impl FnOnce(&mut ChunkCache) -> R) -> R {
    thread_local! {
        static CACHE: std::cell::RefCell<Option<ChunkCache>> = const { std::cell::RefCell::new(None) };
    }
    CACHE.with(|cell| match cell.try_borrow_mut() {
        Ok(mut guard) => f(guard.get_or_insert_with(ChunkCache::new)),
        Err(_) => f(&mut ChunkCache::disabled()),
    })
}

/// Receives a text cut at whitespace: the whitespace-free chunks (to be split further by the
/// affix rules) and the whitespace tokens between them, in order.
pub trait ChunkSink<'a> {
    /// `plain`: the chunk is ASCII letters and digits with no letter after a digit (see
    /// [`is_plain_word`]), noted during the scan because most chunks are and need no other look.
    fn chunk(&mut self, chunk: &'a str, plain: bool);
    fn space(&mut self, space: &'a str);
}

/// Cuts `text` at whitespace as the tokenizer does: a single `' '` after a chunk belongs to it,
/// any other whitespace run is a token of its own.
pub fn for_each_chunk<'a>(text: &'a str, sink: &mut impl ChunkSink<'a>) {
    let bytes = text.as_bytes();
    let n = bytes.len();
    // Leading whitespace follows no chunk: all of it is a token.
    let mut i = skip_space(text, 0);
    if i > 0 {
        sink.space(&text[..i]);
    }
    while i < n {
        // `i` starts a chunk.
        let (end, plain) = match ascii_chunk_at(bytes, i) {
            Some(found) => found,
            None => scan_chunk(text, i),
        };
        sink.chunk(&text[i..end], plain);
        if end == n {
            break;
        }
        // The common case: one ' ' and the next chunk.
        if bytes[end] == b' ' && end + 1 < n && byte_space_class(bytes[end + 1]) == Some(false) {
            i = end + 1;
            continue;
        }
        let next = skip_space(text, end);
        let token_start = if bytes[end] == b' ' { end + 1 } else { end };
        if token_start < next {
            sink.space(&text[token_start..next]);
        }
        i = next;
    }
}

/// The first byte at or after `at` that does not start a whitespace character.
fn skip_space(text: &str, mut at: usize) -> usize {
    let bytes = text.as_bytes();
    while at < bytes.len() {
        match byte_space_class(bytes[at]) {
            Some(true) => at += 1,
            Some(false) => break,
            None => {
                let c = text[at..].chars().next().expect("char boundary");
                if !is_py_space(c) {
                    break;
                }
                at += c.len_utf8();
            }
        }
    }
    at
}

/// Bit masks of 16 bytes: ASCII whitespace (as `str.isspace`), ASCII letters and digits, digits,
/// and bytes of non-ASCII characters.
struct ByteMasks {
    space: u32,
    alnum: u32,
    digit: u32,
    high: u32,
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn classify16(block: &[u8; 16]) -> ByteMasks {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is part of the x86_64 baseline; the load reads exactly the 16 bytes of `block`.
    unsafe {
        let v = _mm_loadu_si128(block.as_ptr().cast());
        // `x in [lo, lo + len)` as one signed comparison: shift the range to start at -128.
        let in_range = |x: __m128i, lo: u8, len: u8| {
            let shifted = _mm_add_epi8(x, _mm_set1_epi8(0x80u8.wrapping_sub(lo) as i8));
            _mm_cmplt_epi8(shifted, _mm_set1_epi8((0x80u8.wrapping_add(len)) as i8))
        };
        let space = _mm_or_si128(
            _mm_or_si128(in_range(v, b'\t', 5), in_range(v, 0x1c, 4)),
            _mm_cmpeq_epi8(v, _mm_set1_epi8(b' ' as i8)),
        );
        let digit = in_range(v, b'0', 10);
        let letter = in_range(_mm_or_si128(v, _mm_set1_epi8(0x20)), b'a', 26);
        ByteMasks {
            space: _mm_movemask_epi8(space) as u32,
            alnum: _mm_movemask_epi8(_mm_or_si128(letter, digit)) as u32,
            digit: _mm_movemask_epi8(digit) as u32,
            high: _mm_movemask_epi8(v) as u32,
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn classify16(block: &[u8; 16]) -> ByteMasks {
    let mut m = ByteMasks {
        space: 0,
        alnum: 0,
        digit: 0,
        high: 0,
    };
    for (k, &b) in block.iter().enumerate() {
        let bit = 1u32 << k;
        if byte_space_class(b) == Some(true) {
            m.space |= bit;
        }
        if b.is_ascii_alphanumeric() {
            m.alnum |= bit;
        }
        if b.is_ascii_digit() {
            m.digit |= bit;
        }
        if b >= 0x80 {
            m.high |= bit;
        }
    }
    m
}

/// The chunk starting at `start` when it is ASCII and ends at ASCII whitespace within the next 16
/// bytes (most chunks of English text): its end and whether it is a plain word, from one
/// classification of 16 bytes. `None` for anything else ([`scan_chunk`] decides).
#[inline]
fn ascii_chunk_at(bytes: &[u8], start: usize) -> Option<(usize, bool)> {
    let block: &[u8; 16] = bytes.get(start..start + 16)?.try_into().ok()?;
    let m = classify16(block);
    let stop = m.space | m.high;
    if stop == 0 {
        return None;
    }
    let len = stop.trailing_zeros();
    if m.space & (1 << len) == 0 {
        return None; // a non-ASCII byte comes first: it may be whitespace (U+00A0, U+2003, ...)
    }
    let chunk = (1u32 << len) - 1;
    let digits = m.digit & chunk;
    // Plain: letters and digits only, and no letter after the last digit.
    let plain = m.alnum & chunk == chunk && (digits == 0 || digits >> (len - 1) == 1);
    Some((start + len as usize, plain))
}

/// The end of the whitespace-free chunk starting at `start`, and whether it is a plain word.
#[inline]
fn scan_chunk(text: &str, start: usize) -> (usize, bool) {
    let bytes = text.as_bytes();
    let mut i = start;
    let mut plain = true;
    let mut seen_digit = false;
    let mut letter_after_digit = false;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_alphabetic() {
            letter_after_digit |= seen_digit;
            i += 1;
        } else if b.is_ascii_digit() {
            seen_digit = true;
            letter_after_digit = false;
            i += 1;
        } else {
            match byte_space_class(b) {
                Some(true) => break,
                Some(false) => i += 1,
                None => {
                    let c = text[i..].chars().next().expect("char boundary");
                    if is_py_space(c) {
                        break;
                    }
                    i += c.len_utf8();
                }
            }
            plain = false;
        }
    }
    (i, plain && !letter_after_digit)
}

/// Number of whitespace-separated words (`len(s.split())`) and the length in characters of the
/// longest, in one pass over the bytes.
pub fn count_words_and_longest(s: &str) -> (usize, usize) {
    let bytes = s.as_bytes();
    if bytes.is_ascii() {
        return ascii_words_and_longest(bytes);
    }
    let (mut words, mut longest, mut current) = (0usize, 0usize, 0usize);
    let mut in_word = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let space = match byte_space_class(b) {
            Some(space) => {
                i += 1;
                space
            }
            None => {
                let c = s[i..].chars().next().expect("char boundary");
                i += c.len_utf8();
                if is_py_space(c) {
                    true
                } else {
                    // One character whose remaining bytes were consumed with it.
                    if !in_word {
                        in_word = true;
                        words += 1;
                        current = 0;
                    }
                    current += 1;
                    continue;
                }
            }
        };
        if space {
            if in_word {
                longest = longest.max(current);
                in_word = false;
            }
        } else {
            if !in_word {
                in_word = true;
                words += 1;
                current = 0;
            }
            // Continuation bytes of a character are not characters.
            current += usize::from((b as i8) >= -0x40);
        }
    }
    if in_word {
        longest = longest.max(current);
    }
    (words, longest)
}

/// Number of whitespace-separated words (`len(s.split())`).
pub fn count_words(s: &str) -> usize {
    let bytes = s.as_bytes();
    // A word starts at each non-whitespace byte after whitespace (or at the start): 16 at a time.
    // Whitespace is ASCII or one of the characters whose first byte is C2, E1, E2 or E3; those
    // bytes are looked at one by one (most non-ASCII bytes are letters or curly quotes).
    let mut words = 0;
    let mut after_space = true;
    // Bytes of a whitespace character begun in the previous block.
    let mut carry = 0usize;
    let mut at = 0;
    while at + 16 <= bytes.len() {
        let m = classify16(bytes[at..at + 16].try_into().expect("16 bytes"));
        let mut space = m.space | ((1u32 << carry.min(16)) - 1);
        carry = carry.saturating_sub(16);
        let mut high = m.high & !space;
        while high != 0 {
            let k = high.trailing_zeros() as usize;
            high &= high - 1;
            if !matches!(bytes[at + k], 0xC2 | 0xE1 | 0xE2 | 0xE3) {
                continue;
            }
            let c = s[at + k..].chars().next().expect("char boundary");
            if is_py_space(c) {
                let end = k + c.len_utf8();
                space |= ((1u32 << end.min(16)) - 1) & !((1u32 << k) - 1);
                carry = end.saturating_sub(16);
                high &= !space;
            }
        }
        let word = !space & 0xFFFF;
        let starts = word & !((word << 1) | u32::from(!after_space));
        words += starts.count_ones() as usize;
        after_space = space & 0x8000 != 0;
        at += 16;
    }
    let mut i = at;
    while i < bytes.len() {
        let width = if i < at + carry {
            after_space = true;
            i += 1;
            continue;
        } else {
            match byte_space_class(bytes[i]) {
                Some(space) => {
                    words += usize::from(after_space && !space);
                    after_space = space;
                    1
                }
                None => {
                    let c = s[i..].chars().next().expect("char boundary");
                    let space = is_py_space(c);
                    words += usize::from(after_space && !space);
                    after_space = space;
                    c.len_utf8()
                }
            }
        };
        i += width;
    }
    words
}

/// [`count_words_and_longest`] of ASCII text, 16 bytes at a time: runs of non-whitespace bytes.
fn ascii_words_and_longest(bytes: &[u8]) -> (usize, usize) {
    let (mut words, mut longest, mut run) = (0usize, 0usize, 0usize);
    let mut blocks = bytes.chunks_exact(16);
    for block in &mut blocks {
        let mut word_bytes = !classify16(block.try_into().expect("16 bytes")).space & 0xFFFF;
        let mut at = 0u32;
        while at < 16 {
            // A run of whitespace, then a run of word bytes (possibly continuing the last block's).
            let spaces = word_bytes.trailing_zeros().min(16 - at);
            if spaces > 0 {
                if run > 0 {
                    longest = longest.max(run);
                    run = 0;
                }
                at += spaces;
                word_bytes >>= spaces;
                if at == 16 {
                    break;
                }
            }
            let letters = (!word_bytes).trailing_zeros().min(16 - at);
            if run == 0 {
                words += 1;
            }
            run += letters as usize;
            at += letters;
            word_bytes = word_bytes.checked_shr(letters).unwrap_or(0);
        }
    }
    for &b in blocks.remainder() {
        if byte_space_class(b) == Some(true) {
            if run > 0 {
                longest = longest.max(run);
                run = 0;
            }
        } else {
            if run == 0 {
                words += 1;
            }
            run += 1;
        }
    }
    (words, longest.max(run))
}

/// Whitespace as `str.isspace` sees it, for one byte of UTF-8: `Some(true)`/`Some(false)` for ASCII
/// and for bytes that cannot start a whitespace character, `None` when the character must be decoded.
#[inline]
fn byte_space_class(b: u8) -> Option<bool> {
    match b {
        b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0x1c..=0x1f => Some(true),
        0x00..=0x7f => Some(false),
        // Lead bytes of U+0085/U+00A0 (C2), U+1680 (E1), U+2000..U+205F (E2), U+3000 (E3).
        0xc2 | 0xe1 | 0xe2 | 0xe3 => None,
        _ => Some(false),
    }
}

/// Letters and digits only, and no letter after the last digit (a unit such as "10km" is a suffix).
#[inline]
fn is_plain_word(chunk: &str) -> bool {
    let bytes = chunk.as_bytes();
    let mut last_digit = None;
    for (k, b) in bytes.iter().enumerate() {
        if b.is_ascii_digit() {
            last_digit = Some(k);
        } else if !b.is_ascii_alphabetic() {
            return false;
        }
    }
    match last_digit {
        None => true,
        Some(k) => k + 1 == bytes.len(),
    }
}

/// The two tokens of a chunk that is a plain word with one ASCII mark after or before it
/// ("house," "(see"), when the rules split it just there: neither the chunk nor the word is a
/// special case and the mark is the chunk's only affix. Punctuated words are a sixth of English
/// chunks and mostly of this shape; `None` sends the chunk through the rules.
#[inline]
fn word_and_mark(chunk: &str) -> Option<(&str, &str)> {
    let b = chunk.as_bytes();
    let n = b.len();
    if n < 2 || !b[0].is_ascii() || !b[n - 1].is_ascii() {
        return None;
    }
    let (head, tail) = if b[0].is_ascii_alphanumeric() {
        // "C$" and "US$" are currency prefixes, not a word and a suffix.
        if b[n - 1].is_ascii_alphanumeric() || b[n - 1] == b'$' {
            return None;
        }
        chunk.split_at(n - 1)
    } else {
        chunk.split_at(1)
    };
    let (word_part, mark_first) = if head.len() == 1 && !b[0].is_ascii_alphanumeric() {
        (tail, true)
    } else {
        (head, false)
    };
    if !is_plain_word(word_part)
        || special_pieces(chunk).is_some()
        || special_pieces(word_part).is_some()
    {
        return None;
    }
    let split = if mark_first {
        prefix_len(chunk) == 1
    } else {
        suffix_len(chunk) == 1
    };
    split.then_some((head, tail))
}

fn word(text: &str) -> Token<'_> {
    Token {
        text,
        is_space: false,
    }
}

/// The special-case table with a 2^16-bit filter over (length, first, second and last byte) of its
/// keys: most chunks are not special cases, and the filter answers "no" for them without hashing.
struct SpecialIndex {
    filter: Box<[u64; 1024]>,
    max_len: usize,
    table: &'static HashMap<String, Box<[u16]>, ahash::RandomState>,
}

fn special_index() -> &'static SpecialIndex {
    static INDEX: OnceLock<SpecialIndex> = OnceLock::new();
    INDEX.get_or_init(|| {
        let table = specials();
        let mut filter = Box::new([0u64; 1024]);
        for key in table.keys() {
            let slot = filter_slot(key.as_bytes());
            filter[slot >> 6] |= 1 << (slot & 63);
        }
        SpecialIndex {
            filter,
            max_len: max_special_len(),
            table,
        }
    })
}

#[inline]
fn filter_slot(b: &[u8]) -> usize {
    let first = b[0] as usize;
    let second = b.get(1).copied().unwrap_or(0) as usize;
    let last = b[b.len() - 1] as usize;
    (first.wrapping_mul(31)
        ^ second.wrapping_mul(131)
        ^ last.wrapping_mul(1031)
        ^ b.len().wrapping_mul(8191))
        & 0xFFFF
}

#[inline]
fn special_pieces(s: &str) -> Option<&'static [u16]> {
    let index = special_index();
    if s.is_empty() || s.len() > index.max_len {
        return None;
    }
    let slot = filter_slot(s.as_bytes());
    if index.filter[slot >> 6] & (1 << (slot & 63)) == 0 {
        return None;
    }
    index.table.get(s).map(|p| &p[..])
}

fn emit_special<'a>(s: &'a str, pieces: &[u16], emit: &mut impl FnMut(Token<'a>)) {
    let mut at = 0;
    for &len in pieces {
        let end = at + len as usize;
        emit(word(&s[at..end]));
        at = end;
    }
}

/// Splits one whitespace-free chunk, then merges runs of its tokens that are the affix-rule split
/// of a special case (`'` `'` -> `''`, `d` `.` -> `d.`), as the tokenizer's final special-case pass.
fn tokenize_chunk<'a>(chunk: &'a str, emit: &mut impl FnMut(Token<'a>)) {
    if let Some(pieces) = special_pieces(chunk) {
        emit_special(chunk, pieces, emit);
        return;
    }
    // Plain words (letters and digits only) have no affix or infix: the common case, kept cheap.
    // (A unit after a number, as in "10km", is a suffix: only letters-only chunks or chunks ending in
    // a digit qualify.)
    if is_plain_word(chunk) {
        emit(word(chunk));
        return;
    }
    let mut pieces: SmallVec<&'a str, 16> = SmallVec::new();
    split_chunk(chunk, true, &mut |t: Token<'a>| pieces.push(t.text));
    let pieces = pieces.as_slice();
    if pieces.len() < 2 {
        for p in pieces {
            emit(word(p));
        }
        return;
    }
    let base = chunk.as_ptr() as usize;
    let offset = |p: &str| p.as_ptr() as usize - base;
    let max_len = max_special_len();
    let mut i = 0;
    while i < pieces.len() {
        let start = offset(pieces[i]);
        let mut merged = None;
        let mut j = pieces.len();
        while j > i + 1 {
            let end = offset(pieces[j - 1]) + pieces[j - 1].len();
            if end - start <= max_len {
                let span = &chunk[start..end];
                if let Some(plain) = affix_split_specials().get(span) {
                    let same = plain.len() == j - i
                        && plain
                            .iter()
                            .zip(&pieces[i..j])
                            .all(|(&len, p)| len as usize == p.len());
                    if same {
                        merged = Some((j, span, special_pieces(span).expect("special")));
                        break;
                    }
                }
            }
            j -= 1;
        }
        match merged {
            Some((j, span, special)) => {
                emit_special(span, special, emit);
                i = j;
            }
            None => {
                emit(word(pieces[i]));
                i += 1;
            }
        }
    }
}

/// A vector that keeps its first `N` items on the stack (chunks rarely have more than a few pieces).
struct SmallVec<T: Copy + Default, const N: usize> {
    inline: [T; N],
    len: usize,
    heap: Vec<T>,
}

impl<T: Copy + Default, const N: usize> SmallVec<T, N> {
    fn new() -> Self {
        Self {
            inline: [T::default(); N],
            len: 0,
            heap: Vec::new(),
        }
    }

    #[inline]
    fn push(&mut self, item: T) {
        if self.heap.is_empty() && self.len < N {
            self.inline[self.len] = item;
            self.len += 1;
        } else {
            if self.heap.is_empty() {
                self.heap.extend_from_slice(&self.inline[..self.len]);
            }
            self.heap.push(item);
        }
    }

    #[inline]
    fn as_slice(&self) -> &[T] {
        if self.heap.is_empty() {
            &self.inline[..self.len]
        } else {
            &self.heap
        }
    }
}

type PlainSplits = HashMap<&'static str, Vec<u16>, ahash::RandomState>;

/// Special cases whose affix-rule split (special cases off) has several pieces, with that split.
fn affix_split_specials() -> &'static PlainSplits {
    static TABLE: OnceLock<PlainSplits> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = PlainSplits::with_hasher(ahash::RandomState::with_seeds(5, 6, 7, 8));
        for key in specials().keys() {
            let mut lengths = Vec::new();
            split_chunk(key, false, &mut |t: Token<'_>| {
                lengths.push(t.text.len() as u16)
            });
            if lengths.len() > 1 {
                table.insert(key.as_str(), lengths);
            }
        }
        table
    })
}

/// The affix and infix rules of one chunk (no final merge); `use_specials` stops at special cases.
fn split_chunk<'a>(chunk: &'a str, use_specials: bool, emit: &mut impl FnMut(Token<'a>)) {
    let special_pieces = |s: &str| {
        if use_specials {
            special_pieces(s)
        } else {
            None
        }
    };
    // Peel affixes: one prefix and/or one suffix per round, stopping at a special case.
    let mut start = 0;
    let mut end = chunk.len();
    let mut prefixes: SmallVec<(usize, usize), 8> = SmallVec::new();
    let mut suffixes: SmallVec<(usize, usize), 8> = SmallVec::new();
    let mut last_size = usize::MAX;
    while start < end && end - start != last_size {
        let s = &chunk[start..end];
        if special_pieces(s).is_some() {
            break;
        }
        last_size = s.len();
        let pre = prefix_len(s);
        if pre != 0 {
            let minus_pre = &s[pre..];
            if !minus_pre.is_empty() && special_pieces(minus_pre).is_some() {
                prefixes.push((start, start + pre));
                start += pre;
                break;
            }
        }
        let suf = suffix_len(&s[pre..]);
        if suf != 0 {
            let minus_suf = &s[..s.len() - suf];
            if !minus_suf.is_empty() && special_pieces(minus_suf).is_some() {
                suffixes.push((end - suf, end));
                end -= suf;
                break;
            }
        }
        if pre != 0 && suf != 0 && pre + suf <= s.len() {
            prefixes.push((start, start + pre));
            suffixes.push((end - suf, end));
            start += pre;
            end -= suf;
        } else if pre != 0 {
            prefixes.push((start, start + pre));
            start += pre;
        } else if suf != 0 {
            suffixes.push((end - suf, end));
            end -= suf;
        }
        if start < end && special_pieces(&chunk[start..end]).is_some() {
            break;
        }
    }
    for &(a, b) in prefixes.as_slice() {
        emit(word(&chunk[a..b]));
    }
    if start < end {
        let rest = &chunk[start..end];
        if let Some(pieces) = special_pieces(rest) {
            emit_special(rest, pieces, emit);
        } else if looks_like_url(rest) {
            emit(word(rest));
        } else {
            split_infixes(rest, emit);
        }
    }
    for &(a, b) in suffixes.as_slice().iter().rev() {
        emit(word(&chunk[a..b]));
    }
}

// ---- character classes ------------------------------------------------------------------------

/// Punctuation that is split off the front or the back of a chunk (one character each).
fn is_punct_affix(c: char) -> bool {
    matches!(
        c,
        '…' | ','
            | ':'
            | ';'
            | '!'
            | '?'
            | '¿'
            | '؟'
            | '¡'
            | '('
            | ')'
            | '['
            | ']'
            | '{'
            | '}'
            | '<'
            | '>'
            | '_'
            | '#'
            | '*'
            | '&'
            | '。'
            | '？'
            | '！'
            | '，'
            | '、'
            | '；'
            | '：'
            | '～'
            | '·'
            | '।'
            | '،'
            | '۔'
            | '؛'
            | '٪'
    )
}

fn is_quote(c: char) -> bool {
    matches!(
        c,
        '\'' | '"'
            | '”'
            | '“'
            | '`'
            | '‘'
            | '´'
            | '’'
            | '‚'
            | ','
            | '„'
            | '»'
            | '«'
            | '「'
            | '」'
            | '『'
            | '』'
            | '（'
            | '）'
            | '〔'
            | '〕'
            | '【'
            | '】'
            | '《'
            | '》'
            | '\u{3008}'
            | '\u{3009}'
            | '\u{2329}'
            | '\u{232a}'
            | '⟦'
            | '⟧'
    )
}

fn is_single_currency(c: char) -> bool {
    matches!(c, '$' | '£' | '€' | '¥' | '฿' | '₽' | '﷼' | '₴')
        || ('\u{20a0}'..='\u{20bf}').contains(&c)
}

/// "Other symbol" characters (dingbats, emoji, arrows, box drawing) that are split like punctuation.
fn is_icon(c: char) -> bool {
    let u = c as u32;
    if u < 0xA6 {
        return false;
    }
    matches!(u,
        0xA6 | 0xA9 | 0xAE | 0xB0 | 0x482 | 0x58D | 0x58E | 0x60E | 0x60F | 0x6DE | 0x6E9 | 0x6FD | 0x6FE
        | 0x7F6 | 0x9FA | 0xB70 | 0xBF3..=0xBF8 | 0xBFA | 0xC7F | 0xD4F | 0xD79 | 0xF01..=0xF03 | 0xF13
        | 0xF15..=0xF17 | 0xF1A..=0xF1F | 0xF34 | 0xF36 | 0xF38 | 0xFBE..=0xFC5 | 0xFC7..=0xFCC | 0xFCE
        | 0xFCF | 0xFD5..=0xFD8 | 0x109E | 0x109F | 0x1390..=0x1399 | 0x1940 | 0x19DE..=0x19FF
        | 0x1B61..=0x1B6A | 0x1B74..=0x1B7C | 0x2100 | 0x2101 | 0x2103..=0x2106 | 0x2108 | 0x2109 | 0x2114
        | 0x2116 | 0x2117 | 0x211E..=0x2123 | 0x2125 | 0x2127 | 0x2129 | 0x212E | 0x213A | 0x213B | 0x214A
        | 0x214C | 0x214D | 0x214F | 0x218A | 0x218B | 0x2195..=0x2199 | 0x219C..=0x219F | 0x21A1 | 0x21A2
        | 0x21A4 | 0x21A5 | 0x21A7..=0x21AD | 0x21AF..=0x21CD | 0x21D0 | 0x21D1 | 0x21D3 | 0x21D5..=0x21F3
        | 0x2300..=0x2307 | 0x230C..=0x231F | 0x2322..=0x2328 | 0x232B..=0x237B | 0x237D..=0x239A
        | 0x23B4..=0x23DB | 0x23E2..=0x2426 | 0x2440..=0x244A | 0x249C..=0x24E9 | 0x2500..=0x25B6
        | 0x25B8..=0x25C0 | 0x25C2..=0x25F7 | 0x2600..=0x266E | 0x2670..=0x2767 | 0x2794..=0x27BF
        | 0x2800..=0x28FF | 0x2B00..=0x2B2F | 0x2B45 | 0x2B46 | 0x2B4D..=0x2B73 | 0x2B76..=0x2B95
        | 0x2B98..=0x2BC8 | 0x2BCA..=0x2BFE | 0x2CE5..=0x2CEA | 0x2E80..=0x2E99 | 0x2E9B..=0x2EF3
        | 0x2F00..=0x2FD5 | 0x2FF0..=0x2FFB | 0x3004 | 0x3012 | 0x3013 | 0x3020 | 0x3036 | 0x3037 | 0x303E
        | 0x303F | 0x3190 | 0x3191 | 0x3196..=0x319F | 0x31C0..=0x31E3 | 0x3200..=0x321E | 0x322A..=0x3247
        | 0x3250 | 0x3260..=0x327F | 0x328A..=0x32B0 | 0x32C0..=0x32FE | 0x3300..=0x33FF | 0x4DC0..=0x4DFF
        | 0xA490..=0xA4C6 | 0xA828..=0xA82B | 0xA836 | 0xA837 | 0xA839 | 0xAA77..=0xAA79 | 0xFDFD | 0xFFE4
        | 0xFFE8 | 0xFFED | 0xFFEE | 0xFFFC | 0xFFFD | 0x10137..=0x1013F | 0x10179..=0x10189
        | 0x1018C..=0x1018E | 0x10190..=0x1019B | 0x101A0 | 0x101D0..=0x101FC | 0x10877 | 0x10878 | 0x10AC8
        | 0x1173F | 0x16B3C..=0x16B3F | 0x16B45 | 0x1BC9C | 0x1D000..=0x1D0F5 | 0x1D100..=0x1D126
        | 0x1D129..=0x1D164 | 0x1D16A..=0x1D16C | 0x1D183 | 0x1D184 | 0x1D18C..=0x1D1A9 | 0x1D1AE..=0x1D1E8
        | 0x1D200..=0x1D241 | 0x1D245 | 0x1D300..=0x1D356 | 0x1D800..=0x1D9FF | 0x1DA37..=0x1DA3A
        | 0x1DA6D..=0x1DA74 | 0x1DA76..=0x1DA83 | 0x1DA85 | 0x1DA86 | 0x1ECAC | 0x1F000..=0x1F02B
        | 0x1F030..=0x1F093 | 0x1F0A0..=0x1F0AE | 0x1F0B1..=0x1F0BF | 0x1F0C1..=0x1F0CF | 0x1F0D1..=0x1F0F5
        | 0x1F110..=0x1F16B | 0x1F170..=0x1F1AC | 0x1F1E6..=0x1F202 | 0x1F210..=0x1F23B | 0x1F240..=0x1F248
        | 0x1F250 | 0x1F251 | 0x1F260..=0x1F265 | 0x1F300..=0x1F3FA | 0x1F400..=0x1F6D4 | 0x1F6E0..=0x1F6EC
        | 0x1F6F0..=0x1F6F9 | 0x1F700..=0x1F773 | 0x1F780..=0x1F7D8 | 0x1F800..=0x1F80B | 0x1F810..=0x1F847
        | 0x1F850..=0x1F859 | 0x1F860..=0x1F887 | 0x1F890..=0x1F8AD | 0x1F900..=0x1F90B | 0x1F910..=0x1F93E
        | 0x1F940..=0x1F970 | 0x1F973..=0x1F976 | 0x1F97A | 0x1F97C..=0x1F9A2 | 0x1F9B0..=0x1F9B9
        | 0x1F9C0..=0x1F9C2 | 0x1F9D0..=0x1F9FF | 0x1FA60..=0x1FA6D)
}

/// Letter classes of the affix rules. They follow the tokenizer's own script list rather than Unicode
/// as a whole: Latin, basic Greek, Russian/Ukrainian/Tatar Cyrillic, and whole blocks of Hebrew,
/// Arabic, several Indic scripts, Hangul, kana and Han (marks and digits of those blocks included,
/// and counted as both lower and upper case); other scripts (Armenian, Thai, Georgian, ...) are not
/// letters to these rules.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LetterClass {
    None,
    Lower,
    Upper,
    Uncased,
}

fn letter_class(c: char) -> LetterClass {
    let u = c as u32;
    let by_case = |c: char| {
        if c.is_lowercase() {
            LetterClass::Lower
        } else if c.is_uppercase() {
            LetterClass::Upper
        } else if c.is_alphabetic() {
            LetterClass::Uncased
        } else {
            LetterClass::None
        }
    };
    match u {
        0..=0x7F => by_case(c),
        0xAA | 0xB5 | 0xBA => LetterClass::None,
        0x80..=0x24F | 0x1E00..=0x1EFF => by_case(c),
        0x250..=0x2AF => LetterClass::Lower,
        0x386..=0x3CE => by_case(c),
        0x401
        | 0x404
        | 0x406
        | 0x407
        | 0x410..=0x44F
        | 0x451
        | 0x454
        | 0x456
        | 0x457
        | 0x490
        | 0x491
        | 0x496
        | 0x497
        | 0x4A2
        | 0x4A3
        | 0x4AE
        | 0x4AF
        | 0x4BA
        | 0x4BB
        | 0x4D8
        | 0x4D9
        | 0x4E8
        | 0x4E9 => by_case(c),
        0x591..=0x5F4
        | 0x620..=0x64A
        | 0x66E..=0x6D5
        | 0x6E5..=0x6FF
        | 0x750..=0x77F
        | 0x8A0..=0x8BD
        | 0x900..=0x9FF
        | 0xB80..=0xCFF
        | 0xD80..=0xDFF
        | 0x1100..=0x137F
        | 0x2E80..=0x2FDF
        | 0x2FF0..=0x30FF
        | 0x3130..=0x318F
        | 0x31C0..=0x31EF
        | 0x3200..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xAC00..=0xD7AF
        | 0xF900..=0xFAFF
        | 0xFB1D..=0xFBB1
        | 0xFBD3..=0xFD3D
        | 0xFD50..=0xFDC7
        | 0xFDF0..=0xFDFB
        | 0xFE30..=0xFE4F
        | 0xFE70..=0xFEFC
        | 0x1EE00..=0x1EEBB
        | 0x1F200..=0x1F2FF
        | 0x20000..=0x2FA1F => LetterClass::Uncased,
        _ => LetterClass::None,
    }
}

#[inline]
fn is_alpha(c: char) -> bool {
    letter_class(c) != LetterClass::None
}

#[inline]
fn is_lower(c: char) -> bool {
    matches!(letter_class(c), LetterClass::Lower | LetterClass::Uncased)
}

#[inline]
fn is_upper(c: char) -> bool {
    matches!(letter_class(c), LetterClass::Upper | LetterClass::Uncased)
}

// ---- prefixes, suffixes, infixes --------------------------------------------------------------

fn leading_dots(s: &str) -> usize {
    s.bytes().take_while(|&b| b == b'.').count()
}

/// Length in bytes of the prefix to split off `s` (0 when none).
fn prefix_len(s: &str) -> usize {
    let mut chars = s.chars();
    let Some(c) = chars.next() else { return 0 };
    match c {
        '.' => {
            let dots = leading_dots(s);
            if dots >= 2 {
                dots
            } else {
                0
            }
        }
        '+' => match chars.next() {
            Some(n) if n.is_ascii_digit() => 0,
            _ => 1,
        },
        'U' if s.starts_with("US$") => 3,
        'C' | 'A' if s[1..].starts_with('$') => 2,
        '§' | '%' | '=' | '—' | '–' => c.len_utf8(),
        _ if is_punct_affix(c) || is_quote(c) || is_single_currency(c) || is_icon(c) => {
            c.len_utf8()
        }
        _ => 0,
    }
}

const UNITS: &[&str] = &[
    "km",
    "km²",
    "km³",
    "m",
    "m²",
    "m³",
    "dm",
    "dm²",
    "dm³",
    "cm",
    "cm²",
    "cm³",
    "mm",
    "mm²",
    "mm³",
    "ha",
    "µm",
    "nm",
    "yd",
    "in",
    "ft",
    "kg",
    "g",
    "mg",
    "µg",
    "t",
    "lb",
    "oz",
    "m/s",
    "km/h",
    "kmh",
    "mph",
    "hPa",
    "Pa",
    "mbar",
    "mb",
    "MB",
    "kb",
    "KB",
    "gb",
    "GB",
    "tb",
    "TB",
    "T",
    "G",
    "M",
    "K",
    "%",
    "км",
    "км²",
    "км³",
    "м",
    "м²",
    "м³",
    "дм",
    "дм²",
    "дм³",
    "см",
    "см²",
    "см³",
    "мм",
    "мм²",
    "мм³",
    "нм",
    "кг",
    "г",
    "мг",
    "м/с",
    "км/ч",
    "кПа",
    "Па",
    "мбар",
    "Кб",
    "КБ",
    "кб",
    "Мб",
    "МБ",
    "мб",
    "Гб",
    "ГБ",
    "гб",
    "Тб",
    "ТБ",
    "тбكم",
    "كم²",
    "كم³",
    "م",
    "م²",
    "م³",
    "سم",
    "سم²",
    "سم³",
    "مم",
    "مم²",
    "مم³",
    "كم",
    "غرام",
    "جرام",
    "جم",
    "كغ",
    "ملغ",
    "كوب",
    "اكواب",
];

const MULTI_CURRENCY: &[&str] = &["US$", "C$", "A$"];

/// Can `.` be a suffix after `prev`: digits, lower-case letters, `%²-+`, punctuation and quotes.
fn dot_suffix_after(prev: char) -> bool {
    prev.is_ascii_digit()
        || is_lower(prev)
        || matches!(prev, '%' | '²' | '-' | '+' | '|' | '(' | ')' | '?' | ':')
        || is_punct_affix(prev)
        || is_quote(prev)
}

/// Length in bytes of the suffix to split off `s` (0 when none). Among all suffix patterns the one
/// starting leftmost wins, as with a regex search anchored at the end.
fn suffix_len(s: &str) -> usize {
    let Some(last) = s.chars().next_back() else {
        return 0;
    };
    let n = s.len();
    let mut best = n; // start of the leftmost matching suffix
    let mut consider = |start: usize| {
        if start < best {
            best = start;
        }
    };
    if last == '.' {
        let dots = s.bytes().rev().take_while(|&b| b == b'.').count();
        if dots >= 2 {
            consider(n - dots);
        } else {
            let before = &s[..n - 1];
            let mut back = before.chars().rev();
            let p1 = back.next();
            let p2 = back.next();
            if let Some(p1) = p1 {
                if dot_suffix_after(p1)
                    || (is_upper(p1) && p2.is_some_and(is_upper))
                    || (matches!(p1, 'F' | 'f' | 'C' | 'c' | 'K' | 'k') && p2 == Some('°'))
                {
                    consider(n - 1);
                }
            }
        }
    }
    if is_punct_affix(last) || is_quote(last) || is_icon(last) || matches!(last, '—' | '–') {
        consider(n - last.len_utf8());
    }
    if s.ends_with("……") {
        consider(n - "……".len());
    }
    for clitic in ["'s", "'S", "’s", "’S"] {
        if s.ends_with(clitic) {
            consider(n - clitic.len());
        }
    }
    // Units, currencies and `+` only split after a digit, and contain no ASCII digit themselves, so
    // the only place one can start is right after the last digit.
    if let Some(d) = s.bytes().rposition(|b| b.is_ascii_digit()) {
        let tail = &s[d + 1..];
        if !tail.is_empty()
            && (tail == "+" || UNITS.contains(&tail) || MULTI_CURRENCY.contains(&tail))
        {
            consider(d + 1);
        }
        let mut tail_chars = tail.chars();
        if let (Some(c), None) = (tail_chars.next(), tail_chars.next()) {
            if is_single_currency(c) {
                consider(d + 1);
            }
        }
    }
    n - best
}

const HYPHENS: &[&str] = &["-", "–", "—", "--", "---", "——", "~"];

/// Splits the remainder of a chunk at its infixes and emits the pieces.
fn split_infixes<'a>(s: &'a str, emit: &mut impl FnMut(Token<'a>)) {
    let mut start = 0; // start of the pending piece
    let mut i = 0;
    let mut prev: Option<char> = None;
    while i < s.len() {
        let c = s[i..].chars().next().expect("char boundary");
        if let Some(len) = infix_at(s, i, c, prev) {
            if i != 0 {
                if i != start {
                    emit(word(&s[start..i]));
                }
                emit(word(&s[i..i + len]));
                start = i + len;
            }
            prev = s[..i + len].chars().next_back();
            i += len;
            continue;
        }
        prev = Some(c);
        i += c.len_utf8();
    }
    if start < s.len() {
        emit(word(&s[start..]));
    }
}

/// Length of the infix starting at byte `i` (whose char is `c`, preceded by `prev`), if any.
fn infix_at(s: &str, i: usize, c: char, prev: Option<char>) -> Option<usize> {
    if c.is_ascii_alphanumeric() {
        return None;
    }
    let next_at = |j: usize| s[j..].chars().next();
    if c == '.' {
        let dots = leading_dots(&s[i..]);
        if dots >= 2 {
            return Some(dots);
        }
    }
    if c == '…' || is_icon(c) {
        return Some(c.len_utf8());
    }
    let prev = prev?;
    let after = i + c.len_utf8();
    if prev.is_ascii_digit() && matches!(c, '+' | '-' | '*' | '^') {
        if let Some(n) = next_at(after) {
            if n.is_ascii_digit() || n == '-' {
                return Some(1);
            }
        }
    }
    if c == '.' && (is_lower(prev) || is_quote(prev)) {
        if let Some(n) = next_at(after) {
            if is_upper(n) || is_quote(n) {
                return Some(1);
            }
        }
    }
    if c == ',' && is_alpha(prev) && next_at(after).is_some_and(is_alpha) {
        return Some(1);
    }
    if matches!(c, '-' | '–' | '—' | '~' | ':' | '<' | '>' | '=' | '/')
        && (is_alpha(prev) || prev.is_ascii_digit())
    {
        for h in HYPHENS {
            if s[i..].starts_with(h) && next_at(i + h.len()).is_some_and(is_alpha) {
                return Some(h.len());
            }
        }
        if matches!(c, ':' | '<' | '>' | '=' | '/') && next_at(after).is_some_and(is_alpha) {
            return Some(1);
        }
    }
    None
}

// ---- URLs ---------------------------------------------------------------------------------------

fn url_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        let host_char = r"[A-Za-z0-9\x{a1}-\x{ffff}]";
        let pattern = format!(
            concat!(
                r"^(?:[\w+\-.]{{2,}}://)?",
                r"(?:\S+(?::\S*)?@)?",
                r"(?:(?P<ip>(?:[1-9]\d?|1\d\d|2[01]\d|22[0-3])(?:\.(?:1?\d{{1,2}}|2[0-4]\d|25[0-5])){{2}}",
                r"(?:\.(?:[1-9]\d?|1\d\d|2[0-4]\d|25[0-4])))",
                r"|(?:(?:{h}[A-Za-z0-9\x{{a1}}-\x{{ffff}}_-]{{0,62}})?{h}\.)+",
                r"(?:[\p{{Ll}}\p{{Lo}}\p{{Mn}}\p{{Mc}}]{{2,63}}))",
                r"(?::\d{{2,5}})?(?:[/?#]\S*)?$"
            ),
            h = host_char
        );
        // The bounded repeats over wide Unicode classes make a large automaton; room for its lazy
        // DFA keeps matching off the (far slower) backtracker.
        regex::RegexBuilder::new(&pattern)
            .dfa_size_limit(32 << 20)
            .build()
            .expect("URL pattern compiles")
    })
}

/// Private and loopback IPv4 networks are not taken as URLs.
fn is_private_ip(host: &str) -> bool {
    let octets: Vec<u32> = host.split('.').filter_map(|o| o.parse().ok()).collect();
    match octets.as_slice() {
        [10, ..] | [127, ..] => true,
        [169, 254, ..] | [192, 168, ..] => true,
        [172, b, ..] => (16..=31).contains(b),
        _ => false,
    }
}

/// A necessary condition for [`url_regex`] to match, checked first because the regex is costly
/// and most remainders with a dot ("e.g", "U.S", "3.5") are not URLs: a host name ends in a dot
/// and a top-level domain of at least two lower-case or other letters or marks (any non-ASCII
/// character is let through), and an IPv4 address has three dots.
fn may_be_url(s: &[u8]) -> bool {
    let tld_char = |b: u8| b.is_ascii_lowercase() || b >= 0x80;
    let mut dots = 0;
    for (i, &b) in s.iter().enumerate() {
        if b == b'.' {
            dots += 1;
            if s.len() > i + 2 && tld_char(s[i + 1]) && tld_char(s[i + 2]) {
                return true;
            }
        }
    }
    dots >= 3
}

/// Whether a chunk remainder is kept whole as a URL, an e-mail address or a domain name.
fn looks_like_url(s: &str) -> bool {
    if !may_be_url(s.as_bytes()) {
        return false;
    }
    let re = url_regex();
    // A plain match runs on the lazy DFA; captures (for the IP branch) need the much slower
    // backtracker, and only a URL with a digit can have matched the IP branch.
    if !re.is_match(s) {
        return false;
    }
    if !s.bytes().any(|b| b.is_ascii_digit()) {
        return true;
    }
    match re.captures(s) {
        None => false,
        Some(caps) => match caps.name("ip") {
            Some(ip) if is_private_ip(ip.as_str()) => {
                // The private-IP branch is refused; the host-name branch cannot match digits-only TLDs.
                false
            }
            _ => true,
        },
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// What the chunk scan reports: chunks with their plain flag, and whitespace tokens.
    #[derive(Debug, PartialEq)]
    enum Piece<'a> {
        Chunk(&'a str, bool),
        Space(&'a str),
    }

    struct Collect<'a>(Vec<Piece<'a>>);

    impl<'a> ChunkSink<'a> for Collect<'a> {
        fn chunk(&mut self, chunk: &'a str, plain: bool) {
            self.0.push(Piece::Chunk(chunk, plain));
        }
        fn space(&mut self, space: &'a str) {
            self.0.push(Piece::Space(space));
        }
    }

    /// The chunk scan one character at a time, for reference.
    fn chunks_char_by_char(text: &str) -> Vec<Piece<'_>> {
        let mut out = Vec::new();
        let mut space_start: Option<usize> = None;
        let mut chunk_start: Option<usize> = None;
        let mut prev_was_word = false;
        for (at, c) in text.char_indices().chain([(text.len(), ' ')]) {
            let end = at == text.len();
            if is_py_space(c) || end {
                if let Some(s) = chunk_start.take() {
                    out.push(Piece::Chunk(&text[s..at], is_plain_word(&text[s..at])));
                    prev_was_word = true;
                }
                if end {
                    break;
                }
                if space_start.is_none() {
                    space_start = Some(if prev_was_word && c == ' ' {
                        at + 1
                    } else {
                        at
                    });
                    prev_was_word = false;
                }
            } else if chunk_start.is_none() {
                if let Some(s) = space_start.take() {
                    if s < at {
                        out.push(Piece::Space(&text[s..at]));
                    }
                }
                chunk_start = Some(at);
            }
        }
        if let Some(s) = space_start {
            if s < text.len() {
                out.push(Piece::Space(&text[s..]));
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The 16-byte classification gives the chunks and plain flags of a plain scan.
        #[test]
        fn chunk_scan_equals_the_char_by_char_scan(
            text in r"([a-z]{1,12}|[A-Z0-9]{1,5}|[a-z]{17,30}|[0-9]+[a-z]|[.,;'()\-]|é|\u{a0}|\u{2003}|\u{3000}|\u{85}| |  |\t|\n|\r\n|\x1c|\x0b){0,40}",
        ) {
            let mut collect = Collect(Vec::new());
            for_each_chunk(&text, &mut collect);
            prop_assert_eq!(collect.0, chunks_char_by_char(&text));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// The word-and-mark shortcut splits exactly as the affix rules do.
        #[test]
        fn word_and_mark_equals_the_rules(
            chunk in r#"[.,;:!?'"()\[\]{}<>_#*&%$+=/@\-`~^|]?([a-z]{1,8}|[A-Z][a-z]{0,6}|[A-Z]{1,3}|[0-9]{1,4}|[a-z]+[0-9]+|cannot|dont|im|etc|Mr|St|vs|am|pm|10am|US|C|A)[.,;:!?'"()\[\]{}<>_#*&%$+=/@\-`~^|]?"#,
        ) {
            if let Some((a, b)) = word_and_mark(&chunk) {
                let mut by_rules = Vec::new();
                tokenize_chunk(&chunk, &mut |t: Token<'_>| by_rules.push(t.text));
                prop_assert_eq!(by_rules, vec![a, b]);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// The pre-check never rejects what the URL pattern accepts.
        #[test]
        fn url_precheck_is_a_necessary_condition(
            s in r"(https?://)?([a-zA-Z0-9é-]{1,6}\.){0,3}([a-zA-Z0-9é]{1,4}|[0-9]{1,3})(:[0-9]{2,5})?(/[a-z?#=]{0,5})?",
        ) {
            if url_regex().is_match(&s) {
                prop_assert!(may_be_url(s.as_bytes()), "{}", s);
            }
        }
    }

    #[test]
    fn url_precheck_lets_urls_through() {
        for url in [
            "example.com",
            "www.bbc.co.uk",
            "http://x.org/a?b",
            "8.8.4.4",
            "münchen.de",
            "a@b.io",
        ] {
            assert!(may_be_url(url.as_bytes()) && looks_like_url(url), "{url}");
        }
        for word in ["e.g", "U.S", "3.5", "i.e", "a.m", "No.1"] {
            assert!(!may_be_url(word.as_bytes()), "{word}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// The thread's chunk cache (and the shortcuts before it) give the tokens of the rules,
        /// on first sight and on every later one.
        #[test]
        fn cached_chunks_split_as_the_rules_do(
            chunks in proptest::collection::vec(
                r#"[a-zA-Z0-9.,;:'"()\-$%&/é“”’…]{1,12}"#,
                1..30,
            ),
        ) {
            let text = chunks.join(" ");
            for _ in 0..2 {
                let mut cached = Vec::new();
                split_words(&text, &mut cached);
                let mut by_rules = Vec::new();
                for chunk in &chunks {
                    tokenize_chunk(chunk, &mut |t: Token<'_>| by_rules.push(t.text));
                }
                prop_assert_eq!(&cached, &by_rules, "{:?}", text);
            }
        }
    }

    #[test]
    fn word_and_mark_takes_the_common_shapes() {
        assert_eq!(word_and_mark("house,"), Some(("house", ",")));
        assert_eq!(word_and_mark("(see"), Some(("(", "see")));
        assert_eq!(word_and_mark("year."), Some(("year", ".")));
        // Left to the rules: special cases, currency prefixes, two marks, an upper-case word and a dot.
        for chunk in ["Mr.", "cannot,", "C$", "(see)", "A.", "it's", "10km,"] {
            assert_eq!(word_and_mark(chunk), None, "{chunk}");
        }
    }

    fn words(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        split_words(text, &mut out);
        out
    }

    #[test]
    fn punctuation_is_split_off() {
        assert_eq!(
            words("\"Hello,\" she said."),
            vec!["\"", "Hello", ",", "\"", "she", "said", "."]
        );
        assert_eq!(
            words("a,b 1,000 a, b"),
            vec!["a", ",", "b", "1,000", "a", ",", "b"]
        );
        assert_eq!(
            words("(Mr.) Mr.) :) (: :-)"),
            vec!["(", "Mr.", ")", "Mr.", ")", ":)", "(:", ":-)"]
        );
    }

    #[test]
    fn contractions_and_clitics() {
        assert_eq!(
            words("don't DON'T can't've John's"),
            vec!["do", "n't", "DON'T", "ca", "n't", "'ve", "John", "'s"]
        );
        assert_eq!(words("Wed.,"), vec!["We", "d.", ","]);
        assert_eq!(words("great:)"), vec!["great", ":)"]);
        assert_eq!(
            words("''hi'' «a» ...hi..."),
            vec!["''", "hi", "''", "«", "a", "»", "...", "hi", "..."]
        );
    }

    #[test]
    fn numbers_units_currency() {
        assert_eq!(words("$100 ©2020 ©"), vec!["$", "100", "©", "2020", "©"]);
        assert_eq!(
            words("US$5 C$5 (C$)"),
            vec!["US$", "5", "C$", "5", "(", "C$", ")"]
        );
        assert_eq!(
            words("10km 5g 10% 3K 2in"),
            vec!["10", "km", "5", "g", "10", "%", "3", "K", "2", "in"]
        );
        assert_eq!(
            words("+5 +a 5+ §3 =a ^a *a* #tag @user"),
            vec![
                "+5", "+", "a", "5", "+", "§", "3", "=", "a", "^a", "*", "a", "*", "#", "tag",
                "@user"
            ]
        );
    }

    #[test]
    fn infixes() {
        assert_eq!(
            words("a--b a-b 3-4 a~b"),
            vec!["a", "--", "b", "a", "-", "b", "3", "-", "4", "a", "~", "b"]
        );
        assert_eq!(
            words("Mr. NASA. U.S. A. smith. I."),
            vec!["Mr.", "NASA", ".", "U.S.", "A.", "smith", ".", "I."]
        );
        assert_eq!(
            words("a.b.c x....y  a…b"),
            vec!["a.b.c", "x", "....", "y", "a", "…", "b"]
        );
        assert_eq!(
            words("3/4 a/b a:b"),
            vec!["3/4", "a", "/", "b", "a", ":", "b"]
        );
    }

    #[test]
    fn urls_stay_whole() {
        assert_eq!(
            words("end.The e.g. http://x.com/a?b=1. www.foo.org,"),
            vec![
                "end",
                ".",
                "The",
                "e.g.",
                "http://x.com/a?b=1",
                ".",
                "www.foo.org",
                ","
            ]
        );
        assert_eq!(
            words("hello.world file.txt 1.5"),
            vec!["hello.world", "file.txt", "1.5"]
        );
        assert_eq!(
            words("10.0.0.1 8.8.8.8 user@example.com foo:bar@x.com"),
            vec!["10.0.0.1", "8.8.8.8", "user@example.com", "foo:bar@x.com"]
        );
    }

    #[test]
    fn whitespace_tokens() {
        let mut tokens = Vec::new();
        for_each_token("a  b\nc \n d", |t| tokens.push((t.text, t.is_space)));
        assert_eq!(
            tokens,
            vec![
                ("a", false),
                (" ", true),
                ("b", false),
                ("\n", true),
                ("c", false),
                ("\n ", true),
                ("d", false)
            ]
        );
        assert!(words("").is_empty());
        assert!(words(" \t\n\u{1f} ").is_empty());
    }
}
