//! Undoing the Russian keyboard layout.
//!
//! A keyboard-wedge scanner sends key positions, not characters. On a till whose active
//! layout is ЙЦУКЕН the positions of `G+mgsHw` come out as `П+ьпыРц`; digits and a few
//! symbols are the same in both layouts, so EAN codes survive and marking codes do not.
//! Mapping every character back to the QWERTY key that produces it recovers the code.
//!
//! The table is the standard Russian (ЙЦУКЕН) PC layout against US QWERTY, key by key,
//! unshifted and shifted.

/// (character the Russian layout types, character the same key types in US QWERTY).
const RU_TO_US: &[(char, char)] = &[
    // Top letter row: Q W E R T Y U I O P [ ]
    ('й', 'q'),
    ('ц', 'w'),
    ('у', 'e'),
    ('к', 'r'),
    ('е', 't'),
    ('н', 'y'),
    ('г', 'u'),
    ('ш', 'i'),
    ('щ', 'o'),
    ('з', 'p'),
    ('х', '['),
    ('ъ', ']'),
    // Home row: A S D F G H J K L ; '
    ('ф', 'a'),
    ('ы', 's'),
    ('в', 'd'),
    ('а', 'f'),
    ('п', 'g'),
    ('р', 'h'),
    ('о', 'j'),
    ('л', 'k'),
    ('д', 'l'),
    ('ж', ';'),
    ('э', '\''),
    // Bottom row: Z X C V B N M , . /
    ('я', 'z'),
    ('ч', 'x'),
    ('с', 'c'),
    ('м', 'v'),
    ('и', 'b'),
    ('т', 'n'),
    ('ь', 'm'),
    ('б', ','),
    ('ю', '.'),
    ('.', '/'),
    ('ё', '`'),
    // Shifted letters.
    ('Й', 'Q'),
    ('Ц', 'W'),
    ('У', 'E'),
    ('К', 'R'),
    ('Е', 'T'),
    ('Н', 'Y'),
    ('Г', 'U'),
    ('Ш', 'I'),
    ('Щ', 'O'),
    ('З', 'P'),
    ('Х', '{'),
    ('Ъ', '}'),
    ('Ф', 'A'),
    ('Ы', 'S'),
    ('В', 'D'),
    ('А', 'F'),
    ('П', 'G'),
    ('Р', 'H'),
    ('О', 'J'),
    ('Л', 'K'),
    ('Д', 'L'),
    ('Ж', ':'),
    ('Э', '"'),
    ('Я', 'Z'),
    ('Ч', 'X'),
    ('С', 'C'),
    ('М', 'V'),
    ('И', 'B'),
    ('Т', 'N'),
    ('Ь', 'M'),
    ('Б', '<'),
    ('Ю', '>'),
    (',', '?'),
    ('Ё', '~'),
    // Shifted digits that differ: Shift+2 3 4 6 7 and Shift+\.
    ('"', '@'),
    ('№', '#'),
    (';', '$'),
    (':', '^'),
    ('?', '&'),
    ('/', '|'),
];

/// Does the text carry characters only the Russian layout types (so mapping it back could
/// change it)?
pub fn looks_russian(text: &str) -> bool {
    text.chars().any(|c| matches!(c, 'а'..='я' | 'А'..='Я' | 'ё' | 'Ё' | '№'))
}

/// Map text typed through the Russian layout back to the QWERTY characters of the same keys.
/// Characters that are the same in both layouts (digits, `!`, `%`, `*`, `(`, `)`, `-`, `_`,
/// `=`, `+`, `\`, space, control characters) pass unchanged.
pub fn to_qwerty(text: &str) -> String {
    text.chars()
        .map(|c| RU_TO_US.iter().find(|(ru, _)| *ru == c).map_or(c, |(_, us)| *us))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_issue_example() {
        assert_eq!(to_qwerty("П+ьпыРц"), "G+mgsHw");
        assert!(looks_russian("П+ьпыРц"));
        assert!(!looks_russian("4601234567893"));
    }

    #[test]
    fn every_key_maps_to_a_distinct_qwerty_character() {
        let mut seen: Vec<char> = RU_TO_US.iter().map(|(_, us)| *us).collect();
        seen.sort();
        let len = seen.len();
        seen.dedup();
        assert_eq!(seen.len(), len);
        let mut from: Vec<char> = RU_TO_US.iter().map(|(ru, _)| *ru).collect();
        from.sort();
        from.dedup();
        assert_eq!(from.len(), len);
    }

    /// The Russian layout applied to text, built from the same table inverted, for the
    /// round-trip property below.
    fn to_russian(text: &str) -> String {
        text.chars()
            .map(|c| RU_TO_US.iter().find(|(_, us)| *us == c).map_or(c, |(ru, _)| *ru))
            .collect()
    }

    proptest! {
        #[test]
        fn typing_through_the_russian_layout_and_back_is_identity(text in "[ -~]{0,60}") {
            prop_assert_eq!(to_qwerty(&to_russian(&text)), text);
        }
    }
}
