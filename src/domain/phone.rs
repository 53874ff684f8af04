//! Phone numbers as people type them and PBXes send them, normalized to E.164.
//!
//! Our own code rather than the `phonenumber` crate: that crate's metadata mis-reads Russian
//! numbers (`+7 812 …` St Petersburg lands in Kazakhstan or fails), and the CIS plans need
//! rules libphonenumber does not apply to dirty input: the Russian trunk prefix `8` (also used
//! for `8-800` toll-free), Belarus's `8 0XX`, the `810` international prefix, `+7 6XX/7XX`
//! being Kazakhstan. Pure: text in, number out.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The country whose national conventions apply to a number written without `+`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Country {
    #[default]
    Ru,
    By,
    Kz,
    Ua,
    /// Any other country, by its calling code; national numbers are assumed to use the trunk
    /// prefix `0` (most of Europe).
    Other(u16),
}

impl Country {
    /// Parse `RU`, `BY`, `KZ`, `UA` (any case) or a calling code (`49`, `+49`).
    pub fn parse(text: &str) -> Option<Country> {
        let t = text.trim();
        match t.to_ascii_uppercase().as_str() {
            "RU" => return Some(Country::Ru),
            "BY" => return Some(Country::By),
            "KZ" => return Some(Country::Kz),
            "UA" => return Some(Country::Ua),
            _ => {}
        }
        let digits = t.strip_prefix('+').unwrap_or(t);
        if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let code: u16 = digits.parse().ok()?;
        // Pad so the length rule sees a whole number: "4" alone is no code, "49" is.
        if calling_code_len(&format!("{digits}000000")) != digits.len() {
            return None;
        }
        Some(match code {
            7 => Country::Ru,
            375 => Country::By,
            380 => Country::Ua,
            _ => Country::Other(code),
        })
    }
}

/// A normalized number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneNumber {
    /// `+` and digits, e.g. `+79161234567`.
    pub e164: String,
    /// ISO country of the number where the plan tells it (`RU`, `KZ`, `BY`, `UA`), else `None`.
    pub country: Option<&'static str>,
    /// An extension that followed the number (`доб. 123`, `ext 5`, `#12`), digits only.
    pub extension: Option<String>,
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.e164)
    }
}

/// Why text is not a phone number one can look up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("the caller's number is hidden")]
    Anonymous,
    #[error("\"{0}\" has no digits")]
    NoDigits(String),
    #[error("{0} is too short for a phone number (an internal extension?)")]
    TooShort(String),
    #[error("{0} is too long for a phone number")]
    TooLong(String),
    #[error("{0} is not a valid number in the {1} plan")]
    BadPlan(String, &'static str),
}

/// What PBXes and CRMs write instead of a hidden number.
const ANONYMOUS: &[&str] = &[
    "<unknown>",
    "unknown",
    "anonymous",
    "restricted",
    "private",
    "unavailable",
    "withheld",
    "<anonymous>",
    "o",
    "p",
    "скрыт",
    "неизвестен",
    "аноним",
];

/// Normalize `text` to E.164, reading numbers without `+` by `default`'s conventions.
pub fn normalize(text: &str, default: Country) -> Result<PhoneNumber, PhoneError> {
    let trimmed = text.trim();
    let lower = trimmed.to_lowercase();
    if lower.is_empty() || ANONYMOUS.contains(&lower.as_str()) {
        return Err(PhoneError::Anonymous);
    }
    let (main, extension) = split_extension(trimmed);
    let plus = main.trim_start().starts_with('+');
    let digits: String = main.chars().filter(|c| c.is_ascii_digit()).collect();
    if digits.is_empty() {
        return Err(PhoneError::NoDigits(trimmed.to_string()));
    }
    let e164_digits = if plus {
        digits
    } else if let Some(rest) = digits.strip_prefix("00") {
        rest.to_string()
    } else if let Some(rest) = digits.strip_prefix("810").filter(|r| r.len() >= 10 && digits.len() > 11) {
        // 810 is the international prefix from Russia, Kazakhstan and Belarus: 810 49 30 …
        rest.to_string()
    } else {
        national(&digits, default)?
    };
    let (country, cc_len) = check_international(&e164_digits)?;
    debug_assert!(cc_len <= e164_digits.len());
    Ok(PhoneNumber {
        e164: format!("+{e164_digits}"),
        country,
        extension,
    })
}

/// Normalize, or `None` when the text is hidden, internal or junk — for indexes and lookups,
/// which must never match on `<unknown>`.
pub fn lookup_key(text: &str, default: Country) -> Option<String> {
    normalize(text, default).ok().map(|n| n.e164)
}

/// Split off an extension: `доб.`, `доп.`, `ext`, `x`, `#`, `,` or `;` (dial pauses) and what follows.
fn split_extension(text: &str) -> (&str, Option<String>) {
    let lower = text.to_lowercase();
    let markers = ["доб", "доп", "вн", "ext", "x", "#", ",", ";", "w"];
    let mut cut: Option<usize> = None;
    for m in markers {
        if let Some(i) = lower.find(m) {
            // Only after some digits: a leading marker is junk, not an extension.
            if lower[..i].chars().any(|c| c.is_ascii_digit()) {
                cut = Some(cut.map_or(i, |c| c.min(i)));
            }
        }
    }
    let Some(i) = cut else { return (text, None) };
    // `lower` and `text` can differ in byte length only for exotic case mappings; then keep all.
    if lower.len() != text.len() || !text.is_char_boundary(i) {
        return (text, None);
    }
    let ext: String = text[i..].chars().filter(|c| c.is_ascii_digit()).collect();
    (&text[..i], (!ext.is_empty()).then_some(ext))
}

/// A number written without an international prefix, in `country`'s conventions; returns the
/// digits after `+`.
fn national(digits: &str, country: Country) -> Result<String, PhoneError> {
    let n = digits.len();
    // 8 0XX XXX-XX-XX is Belarus whatever the default: no Russian or Kazakh number starts +7 0.
    if n == 11 && digits.starts_with("80") {
        return Ok(format!("375{}", &digits[2..]));
    }
    match country {
        Country::Ru | Country::Kz => match n {
            10 => Ok(format!("7{digits}")),
            11 if digits.starts_with('8') || digits.starts_with('7') => Ok(format!("7{}", &digits[1..])),
            _ => international_or_short(digits),
        },
        Country::By => match n {
            9 => Ok(format!("375{digits}")),
            12 if digits.starts_with("375") => Ok(digits.to_string()),
            // A Russian number dialled from Belarus: 8 10 7 …
            _ => international_or_short(digits),
        },
        Country::Ua => match n {
            10 if digits.starts_with('0') => Ok(format!("380{}", &digits[1..])),
            9 => Ok(format!("380{digits}")),
            12 if digits.starts_with("380") => Ok(digits.to_string()),
            _ => international_or_short(digits),
        },
        Country::Other(code) => {
            let cc = code.to_string();
            if digits.starts_with(&cc) && n > cc.len() + 6 {
                Ok(digits.to_string())
            } else if let Some(rest) = digits.strip_prefix('0') {
                Ok(format!("{cc}{rest}"))
            } else {
                Ok(format!("{cc}{digits}"))
            }
        }
    }
}

/// A national-looking number of an unexpected length: full international digits without `+`
/// (as many PBXes send them), or too short to be a number at all.
fn international_or_short(digits: &str) -> Result<String, PhoneError> {
    if digits.len() < 8 {
        Err(PhoneError::TooShort(digits.to_string()))
    } else {
        Ok(digits.to_string())
    }
}

/// Check digits after `+` against E.164 and the plans we know; returns the ISO country and
/// the calling code's length.
fn check_international(d: &str) -> Result<(Option<&'static str>, usize), PhoneError> {
    let shown = format!("+{d}");
    if d.len() < 8 {
        return Err(PhoneError::TooShort(shown));
    }
    if d.len() > 15 {
        return Err(PhoneError::TooLong(shown));
    }
    let cc_len = calling_code_len(d);
    let national = &d[cc_len..];
    let country = match &d[..cc_len] {
        "7" => {
            if national.len() != 10 {
                return Err(PhoneError::BadPlan(shown, "Russian/Kazakh"));
            }
            match national.as_bytes()[0] {
                // +7 6XX and +7 7XX are Kazakhstan's (Kcell, Beeline KZ, Altel, fixed lines).
                b'6' | b'7' => Some("KZ"),
                b'3' | b'4' | b'8' | b'9' => Some("RU"),
                _ => return Err(PhoneError::BadPlan(shown, "Russian/Kazakh")),
            }
        }
        "375" => {
            if national.len() != 9 {
                return Err(PhoneError::BadPlan(shown, "Belarusian"));
            }
            Some("BY")
        }
        "380" => {
            if national.len() != 9 {
                return Err(PhoneError::BadPlan(shown, "Ukrainian"));
            }
            Some("UA")
        }
        _ => None,
    };
    if national.len() < 4 {
        return Err(PhoneError::TooShort(shown));
    }
    Ok((country, cc_len))
}

/// The length of the calling code that starts `d` (ITU-T E.164 assignment: zones 1 and 7 are
/// one digit, a fixed set of two-digit codes, everything else three digits).
fn calling_code_len(d: &str) -> usize {
    const TWO: &[&str] = &[
        "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47", "48", "49", "51", "52", "53", "54",
        "55", "56", "57", "58", "60", "61", "62", "63", "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
    ];
    if d.starts_with('1') || d.starts_with('7') {
        1
    } else if d.len() >= 2 && TWO.contains(&&d[..2]) {
        2
    } else {
        3.min(d.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ru(text: &str) -> String {
        normalize(text, Country::Ru).unwrap_or_else(|e| panic!("{text}: {e}")).e164
    }

    #[test]
    fn russian_numbers_in_every_spelling() {
        for text in [
            "8 (916) 123-45-67",
            "+7 916 1234567",
            "79161234567",
            "89161234567",
            "9161234567",
            "+7(916)123-45-67",
            "8-916-123-45-67",
            "  тел.: 8 916 123 45 67 ",
            "810 7 916 123 45 67",
            "007 916 123 45 67",
        ] {
            assert_eq!(ru(text), "+79161234567", "{text}");
        }
        // St Petersburg: the case the phonenumber crate gets wrong.
        let spb = normalize("+7 812 123-45-67", Country::Ru).unwrap();
        assert_eq!((spb.e164.as_str(), spb.country), ("+78121234567", Some("RU")));
        assert_eq!(ru("8-800-555-35-35"), "+78005553535");
        assert_eq!(normalize("8-800-555-35-35", Country::Ru).unwrap().country, Some("RU"));
    }

    #[test]
    fn cis_neighbours() {
        let by = normalize("80291234567", Country::Ru).unwrap();
        assert_eq!((by.e164.as_str(), by.country), ("+375291234567", Some("BY")));
        assert_eq!(ru("+375 29 123-45-67"), "+375291234567");
        assert_eq!(normalize("8 029 123-45-67", Country::By).unwrap().e164, "+375291234567");
        assert_eq!(normalize("29 123 45 67", Country::By).unwrap().e164, "+375291234567");
        let kz = normalize("+7 701 123 4567", Country::Ru).unwrap();
        assert_eq!((kz.e164.as_str(), kz.country), ("+77011234567", Some("KZ")));
        assert_eq!(normalize("8 701 123 45 67", Country::Kz).unwrap().country, Some("KZ"));
        let ua = normalize("067 123 45 67", Country::Ua).unwrap();
        assert_eq!((ua.e164.as_str(), ua.country), ("+380671234567", Some("UA")));
        assert_eq!(ru("+380 67 123 45 67"), "+380671234567");
        let de = normalize("030 1234567", Country::Other(49)).unwrap();
        assert_eq!((de.e164.as_str(), de.country), ("+49301234567", None));
        assert_eq!(ru("+49 30 1234567"), "+49301234567");
        assert_eq!(ru("+1 (212) 555-0100"), "+12125550100");
    }

    #[test]
    fn extensions_and_junk_are_stripped() {
        let n = normalize("+7 (495) 123-45-67 доб. 123", Country::Ru).unwrap();
        assert_eq!((n.e164.as_str(), n.extension.as_deref()), ("+74951234567", Some("123")));
        for (text, ext) in [
            ("8 495 123 45 67 ext 5", "5"),
            ("84951234567#12", "12"),
            ("8(495)1234567,,44", "44"),
            ("+74951234567 x 9", "9"),
            ("8 495 123-45-67 (вн. 201)", "201"),
        ] {
            let n = normalize(text, Country::Ru).unwrap();
            assert_eq!((n.e164.as_str(), n.extension.as_deref()), ("+74951234567", Some(ext)), "{text}");
        }
        assert_eq!(ru("tel:+7-495-123-45-67"), "+74951234567");
    }

    #[test]
    fn hidden_internal_and_junk_are_errors() {
        for text in ["<unknown>", "Anonymous", "", "  ", "restricted", "<Unknown>"] {
            assert_eq!(normalize(text, Country::Ru), Err(PhoneError::Anonymous), "{text:?}");
        }
        assert!(matches!(normalize("101", Country::Ru), Err(PhoneError::TooShort(_))));
        assert!(matches!(normalize("abc", Country::Ru), Err(PhoneError::NoDigits(_))));
        assert!(matches!(normalize("+7 916 123 45", Country::Ru), Err(PhoneError::BadPlan(..))));
        assert!(matches!(normalize("+7 016 123 45 67", Country::Ru), Err(PhoneError::BadPlan(..))));
        assert!(matches!(normalize("+1234567890123456", Country::Ru), Err(PhoneError::TooLong(_))));
        assert_eq!(lookup_key("<unknown>", Country::Ru), None);
    }

    #[test]
    fn countries_parse_by_name_and_code() {
        assert_eq!(Country::parse("ru"), Some(Country::Ru));
        assert_eq!(Country::parse("KZ"), Some(Country::Kz));
        assert_eq!(Country::parse("+375"), Some(Country::By));
        assert_eq!(Country::parse("49"), Some(Country::Other(49)));
        assert_eq!(Country::parse("4"), None, "4 is not a calling code by itself");
        assert_eq!(Country::parse("Russia"), None);
    }

    /// Cross-check: a number written in any of the national and international spellings people
    /// use normalizes to the same E.164, and normalizing E.164 is the identity.
    fn spellings(national10: &str) -> Vec<String> {
        let (a, b, c, d) = (&national10[..3], &national10[3..6], &national10[6..8], &national10[8..]);
        vec![
            format!("+7{national10}"),
            format!("8 ({a}) {b}-{c}-{d}"),
            format!("+7 {a} {b}{c}{d}"),
            format!("7{national10}"),
            format!("8{national10}"),
            national10.to_string(),
            format!("8-{a}-{b}-{c}-{d}"),
            format!("+7 ({a}) {b} {c} {d} доб. 1"),
        ]
    }

    proptest! {
        #[test]
        fn every_spelling_of_a_russian_number_agrees(first in 3u8..10, rest in "[0-9]{9}") {
            prop_assume!(first != 5);
            let national10 = format!("{first}{rest}");
            let expected = format!("+7{national10}");
            for text in spellings(&national10) {
                let n = normalize(&text, Country::Ru).unwrap();
                prop_assert_eq!(&n.e164, &expected, "{}", text);
                prop_assert_eq!(normalize(&n.e164, Country::By).unwrap().e164, expected.clone());
            }
        }

        #[test]
        fn arbitrary_text_never_panics_and_results_are_e164(text in "\\PC{0,40}") {
            if let Ok(n) = normalize(&text, Country::Ru) {
                prop_assert!(n.e164.starts_with('+'));
                prop_assert!(n.e164[1..].bytes().all(|b| b.is_ascii_digit()));
                prop_assert!((9..=16).contains(&n.e164.len()));
                prop_assert_eq!(normalize(&n.e164, Country::Ua).unwrap().e164, n.e164.clone());
            }
        }
    }
}
