//! The special cases of the English rule-based tokenizer: strings that are kept whole or split at
//! fixed points instead of going through the affix rules (contractions, abbreviations, times,
//! emoticons). Each entry's pieces concatenate back to the entry, so a token is always a slice of
//! the input text.

use std::collections::HashMap;
use std::sync::OnceLock;

/// Suffix sets of the pronoun-like words that take clitics ("he'll", "they've", ...).
/// Pieces of a clitic chain are separated by `|`.
const D_LL: &[&str] = &["'d", "'d|'ve", "'ll", "'ll|'ve"];

/// (word, extra clitics besides 'd/'d've/'ll/'ll've, apostrophe-less forms that are not made because
/// they are ordinary words).
const CLITIC_WORDS: &[(&str, &[&str], &[&str])] = &[
    ("i", &["'m", "'m|a", "'ve"], &["ill"]),
    ("you", &["'re", "'ve"], &[]),
    ("he", &["'s"], &["hell"]),
    ("she", &["'s"], &["shed", "shell"]),
    ("it", &["'s"], &["its"]),
    ("we", &["'re", "'ve"], &["well", "were"]),
    ("they", &["'re", "'ve"], &[]),
    ("that", &["'s"], &[]),
    ("this", &["'s"], &[]),
    ("these", &["'re", "'ve"], &[]),
    ("those", &["'re", "'ve"], &[]),
    ("there", &["'re", "'s", "'ve"], &[]),
    ("what", &["'re", "'s", "'ve"], &[]),
    ("when", &["'re", "'s", "'ve"], &[]),
    ("where", &["'re", "'s", "'ve"], &[]),
    ("who", &["'re", "'s", "'ve"], &["whore"]),
    ("why", &["'re", "'s", "'ve"], &[]),
    ("how", &["'re", "'s", "'ve", "'d|'y"], &[]),
];

/// Negated auxiliaries: (stem before "n't", whether a "'ve" may follow).
const NEGATIONS: &[(&str, bool)] = &[
    ("ai", false),
    ("are", false),
    ("ca", true),
    ("could", true),
    ("dare", false),
    ("did", true),
    ("does", true),
    ("do", true),
    ("had", true),
    ("has", false),
    ("have", false),
    ("is", false),
    ("may", true),
    ("might", true),
    ("must", true),
    ("need", true),
    ("ought", true),
    ("sha", true),
    ("should", true),
    ("was", false),
    ("were", false),
    ("wo", true),
    ("would", true),
];

/// Fixed splits written with `|` between pieces (lower case; title case is added).
const FIXED_SPLITS: &[&str] = &[
    "could|'ve",
    "might|'ve",
    "must|'ve",
    "should|'ve",
    "would|'ve",
    "not|'ve",
    "let|'s",
    "c'm|on",
    "can|not",
    "gon|na",
    "got|ta",
    "°|c|.",
    "°|f|.",
    "°|k|.",
    "°|C|.",
    "°|F|.",
    "°|K|.",
];

/// Apostrophe-less forms of fixed splits (`couldve`, `yall`), which the tables above do not derive.
const FIXED_SPLITS_NO_APOSTROPHE: &[&str] = &[
    "could|ve",
    "might|ve",
    "must|ve",
    "should|ve",
    "would|ve",
    "not|ve",
];

/// Kept whole: abbreviations with periods, single letters with a period, and other fixed tokens.
const WHOLE: &[&str] = &[
    "'",
    "''",
    "'Cause",
    "'Cos",
    "'Coz",
    "'Cuz",
    "'S",
    "'bout",
    "'cause",
    "'cos",
    "'coz",
    "'cuz",
    "'d",
    "'em",
    "'ll",
    "'nuff",
    "'re",
    "'s",
    "Adm.",
    "Ak.",
    "Ala.",
    "Apr.",
    "Ariz.",
    "Ark.",
    "Aug.",
    "Bros.",
    "C++",
    "Calif.",
    "Co.",
    "Colo.",
    "Conn.",
    "Corp.",
    "D.C.",
    "Dec.",
    "Del.",
    "Doin",
    "Doin'",
    "Dr.",
    "E.G.",
    "E.g.",
    "Feb.",
    "Fla.",
    "Ga.",
    "Gen.",
    "Goin",
    "Goin'",
    "Gov.",
    "Havin",
    "Havin'",
    "I.E.",
    "I.e.",
    "Ia.",
    "Id.",
    "Ill.",
    "Inc.",
    "Ind.",
    "Jan.",
    "Jr.",
    "Jul.",
    "Jun.",
    "Kan.",
    "Kans.",
    "Ky.",
    "La.",
    "Lovin",
    "Lovin'",
    "Ltd.",
    "Ma'am",
    "Mar.",
    "Mass.",
    "Md.",
    "Messrs.",
    "Mich.",
    "Minn.",
    "Miss.",
    "Mo.",
    "Mont.",
    "Mr.",
    "Mrs.",
    "Ms.",
    "Mt.",
    "N.C.",
    "N.D.",
    "N.H.",
    "N.J.",
    "N.M.",
    "N.Y.",
    "Neb.",
    "Nebr.",
    "Nev.",
    "Nothin",
    "Nothin'",
    "Nov.",
    "Nuthin",
    "Nuthin'",
    "O'clock",
    "Oct.",
    "Okla.",
    "Ol",
    "Ol'",
    "Ore.",
    "Pa.",
    "Ph.D.",
    "Prof.",
    "Rep.",
    "Rev.",
    "S.C.",
    "Sen.",
    "Sep.",
    "Sept.",
    "Somethin",
    "Somethin'",
    "St.",
    "Tenn.",
    "Va.",
    "Wash.",
    "Wis.",
    "a.m.",
    "and/or",
    "co.",
    "doin",
    "doin'",
    "e.g.",
    "em",
    "goin",
    "goin'",
    "havin",
    "havin'",
    "i.e.",
    "ll",
    "lovin",
    "lovin'",
    "ma'am",
    "nothin",
    "nothin'",
    "nuff",
    "nuthin",
    "nuthin'",
    "o'clock",
    "ol",
    "ol'",
    "p.m.",
    "somethin",
    "somethin'",
    "v.s.",
    "vs.",
    "w/o",
    "ä.",
    "ö.",
    "ü.",
    "\u{a0}",
    "—",
    // emoticons and kaomoji
    "(*_*)",
    "(-8",
    "(-:",
    "(-;",
    "(-_-)",
    "(._.)",
    "(:",
    "(;",
    "(=",
    "(>_<)",
    "(^_^)",
    "(o:",
    "(¬_¬)",
    "(ಠ_ಠ)",
    "(╯°□°）╯︵┻━┻",
    ")-:",
    "):",
    "-_-",
    "-__-",
    "._.",
    "0.0",
    "0.o",
    "0_0",
    "0_o",
    "8)",
    "8-)",
    "8-D",
    "8D",
    ":'(",
    ":')",
    ":'-(",
    ":'-)",
    ":(",
    ":((",
    ":(((",
    ":()",
    ":)",
    ":))",
    ":)))",
    ":*",
    ":-(",
    ":-((",
    ":-(((",
    ":-)",
    ":-))",
    ":-)))",
    ":-*",
    ":-/",
    ":-0",
    ":-3",
    ":->",
    ":-D",
    ":-O",
    ":-P",
    ":-X",
    ":-]",
    ":-o",
    ":-p",
    ":-x",
    ":-|",
    ":-}",
    ":/",
    ":0",
    ":1",
    ":3",
    ":>",
    ":D",
    ":O",
    ":P",
    ":X",
    ":]",
    ":o",
    ":o)",
    ":p",
    ":x",
    ":|",
    ":}",
    ";)",
    ";-)",
    ";-D",
    ";D",
    ";_;",
    "<.<",
    "</3",
    "<3",
    "<33",
    "<333",
    "<space>",
    "=(",
    "=)",
    "=/",
    "=3",
    "=D",
    "=[",
    "=]",
    "=|",
    ">.<",
    ">.>",
    ">:(",
    ">:o",
    "><(((*>",
    "@_@",
    "O.O",
    "O.o",
    "O_O",
    "O_o",
    "V.V",
    "V_V",
    "XD",
    "XDD",
    "[-:",
    "[:",
    "[=",
    "\\\")",
    "]=",
    "^_^",
    "^__^",
    "^___^",
    "o.0",
    "o.O",
    "o.o",
    "o_0",
    "o_O",
    "o_o",
    "v.v",
    "v_v",
    "xD",
    "xDD",
    "¯\\(ツ)/¯",
    "ಠ_ಠ",
    "ಠ︵ಠ",
];

/// A special case: piece lengths in bytes (the pieces tile the key).
pub type Pieces = Box<[u16]>;

fn title_case(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

struct Builder {
    table: HashMap<String, Pieces, ahash::RandomState>,
}

impl Builder {
    /// Adds `pieces` (as written), its title-case form, and the curly-apostrophe forms of both.
    fn add_cased(&mut self, pieces: &[&str]) {
        let lower: Vec<String> = pieces.iter().map(|p| p.to_string()).collect();
        let mut title = lower.clone();
        if let Some(first) = title.first_mut() {
            *first = title_case(first);
        }
        for variant in [lower, title] {
            self.add_with_apostrophes(&variant);
        }
    }

    fn add_with_apostrophes(&mut self, pieces: &[String]) {
        self.insert(pieces);
        if pieces.iter().any(|p| p.contains('\'')) {
            let curly: Vec<String> = pieces.iter().map(|p| p.replace('\'', "’")).collect();
            self.insert(&curly);
        }
    }

    fn insert(&mut self, pieces: &[String]) {
        let key: String = pieces.concat();
        let lengths: Pieces = pieces.iter().map(|p| p.len() as u16).collect();
        self.table.insert(key, lengths);
    }
}

fn build() -> HashMap<String, Pieces, ahash::RandomState> {
    let mut b = Builder {
        table: HashMap::with_hasher(ahash::RandomState::with_seeds(1, 2, 3, 4)),
    };
    for hour in 1..=12 {
        let h = hour.to_string();
        for suffix in ["am", "pm", "a.m.", "p.m."] {
            b.insert(&[h.clone(), suffix.to_string()]);
        }
    }
    for (word, extra, not_without_apostrophe) in CLITIC_WORDS {
        for clitic in D_LL.iter().chain(extra.iter()) {
            let mut pieces: Vec<&str> = vec![word];
            pieces.extend(clitic.split('|'));
            b.add_cased(&pieces);
            let bare: Vec<String> = pieces.iter().map(|p| p.replace('\'', "")).collect();
            let joined = bare.concat();
            if !not_without_apostrophe.contains(&joined.as_str()) && *clitic != "'d|'y" {
                let bare_refs: Vec<&str> = bare.iter().map(String::as_str).collect();
                b.add_cased(&bare_refs);
            }
        }
    }
    for (stem, with_have) in NEGATIONS {
        b.add_cased(&[stem, "n't"]);
        b.add_cased(&[stem, "nt"]);
        if *with_have {
            b.add_cased(&[stem, "n't", "'ve"]);
            b.add_cased(&[stem, "nt", "ve"]);
        }
    }
    for spec in FIXED_SPLITS.iter().chain(FIXED_SPLITS_NO_APOSTROPHE) {
        let pieces: Vec<&str> = spec.split('|').collect();
        if pieces[0] == "°" {
            b.insert(&pieces.iter().map(|p| p.to_string()).collect::<Vec<_>>());
        } else {
            b.add_cased(&pieces);
        }
    }
    for word in WHOLE {
        b.add_with_apostrophes(&[word.to_string()]);
    }
    // Lower case only.
    b.add_with_apostrophes(&["y'".to_string(), "all".to_string()]);
    b.insert(&["y".to_string(), "all".to_string()]);
    for letter in 'a'..='z' {
        b.insert(&[format!("{letter}.")]);
    }
    b.table
}

/// The special-case table, built once.
pub fn specials() -> &'static HashMap<String, Pieces, ahash::RandomState> {
    static TABLE: OnceLock<HashMap<String, Pieces, ahash::RandomState>> = OnceLock::new();
    TABLE.get_or_init(build)
}

/// Longest key in bytes: longer strings need no lookup.
pub fn max_special_len() -> usize {
    static MAX: OnceLock<usize> = OnceLock::new();
    *MAX.get_or_init(|| specials().keys().map(String::len).max().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(key: &str) -> Option<Vec<&str>> {
        let lengths = specials().get(key)?;
        let mut out = Vec::new();
        let mut at = 0;
        for &len in lengths.iter() {
            out.push(&key[at..at + len as usize]);
            at += len as usize;
        }
        Some(out)
    }

    #[test]
    fn contractions_and_variants() {
        assert_eq!(pieces("don't").unwrap(), vec!["do", "n't"]);
        assert_eq!(pieces("Don’t").unwrap(), vec!["Do", "n’t"]);
        assert_eq!(pieces("dont").unwrap(), vec!["do", "nt"]);
        assert_eq!(pieces("can't've").unwrap(), vec!["ca", "n't", "'ve"]);
        assert_eq!(pieces("I'm").unwrap(), vec!["I", "'m"]);
        assert_eq!(pieces("i'ma").unwrap(), vec!["i", "'m", "a"]);
        assert_eq!(pieces("hellve").unwrap(), vec!["he", "ll", "ve"]);
        assert_eq!(pieces("10p.m.").unwrap(), vec!["10", "p.m."]);
        assert_eq!(pieces("y'all").unwrap(), vec!["y'", "all"]);
        assert_eq!(pieces("°C.").unwrap(), vec!["°", "C", "."]);
        assert_eq!(pieces("Mr.").unwrap(), vec!["Mr."]);
        for ordinary in [
            "hell", "shed", "its", "were", "well", "ill", "DON'T", "lets",
        ] {
            assert!(pieces(ordinary).is_none(), "{ordinary}");
        }
    }
}
