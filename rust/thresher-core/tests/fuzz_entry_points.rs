//! The short fuzz pass run by `cargo test`: proptest feeds generated batches to every entry point listed
//! in `thresher_core::fuzzing::ENTRY_POINTS`, in every Arrow layout. More cases: `PROPTEST_CASES=100000`.

use proptest::collection::vec;
use proptest::prelude::*;
use thresher_core::fuzzing::check_all;

/// Text that tends to break scanners: line ends of every kind, Unicode whitespace, combining marks,
/// zero-width and bidi controls, astral characters, NUL.
fn awkward_text() -> impl Strategy<Value = Vec<u8>> {
    let pieces = prop::sample::select(vec![
        "\n",
        "\r",
        "\r\n",
        "\n\r",
        " ",
        "\t",
        "\u{a0}",
        "\u{2028}",
        "\u{3000}",
        "\u{200b}",
        "\u{feff}",
        "\u{301}",
        "\u{202e}",
        "\u{1F600}",
        "\u{10FFFF}",
        "\0",
        "a",
        "Z",
        "9",
        ".",
        "-",
        "é",
        "ß",
        "日本",
        "ﷺ",
        "İ",
        "\u{fffd}",
    ]);
    vec(pieces, 0..64).prop_map(|p| p.concat().into_bytes())
}

fn document() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        1 => Just(None),
        3 => any::<String>().prop_map(|s| Some(s.into_bytes())),
        3 => awkward_text().prop_map(Some),
        2 => vec(any::<u8>(), 0..256).prop_map(Some),
        1 => (awkward_text(), 1usize..2000).prop_map(|(t, n)| Some(t.repeat(n.min(64)))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn entry_points_never_panic_and_keep_one_row_per_document(docs in vec(document(), 0..40)) {
        let borrowed: Vec<Option<&[u8]>> = docs.iter().map(|d| d.as_deref()).collect();
        prop_assert_eq!(check_all(&borrowed), Ok(()));
    }
}
