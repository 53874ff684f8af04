//! What a scanned text is: a GTIN (EAN-13, EAN-8, UPC-A, GTIN-14) with a verified check
//! digit, or some other code the catalog may know by its exact text.
//!
//! Every GTIN is reduced to one canonical 14-digit key, so a UPC-A scan `036000291452` finds
//! an item whose barcode the CRM sent as EAN-13 `0036000291452`.

use std::fmt;

/// Longest text accepted as one scan. GS1 DataMatrix marking codes are about 150 characters;
/// anything far longer is a scanner or cable fault, not a code.
pub const MAX_CODE_LEN: usize = 512;

/// ASCII group separator: how scanners transmit GS1's FNC1 inside a code.
pub const GS: char = '\u{1d}';

/// A scanned code after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    /// A GTIN of any length with a correct check digit.
    Gtin(Gtin),
    /// Any other printable text (internal codes, Code 128 labels); looked up verbatim.
    Other(String),
}

impl Code {
    /// The key under which the catalog indexes this code.
    pub fn catalog_key(&self) -> String {
        match self {
            Code::Gtin(gtin) => gtin.key(),
            Code::Other(text) => text.clone(),
        }
    }
}

/// A Global Trade Item Number, stored as the 14 digits of GTIN-14 (left-padded with zeros).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Gtin {
    digits: [u8; 14],
}

impl Gtin {
    /// Parse 8, 12, 13 or 14 ASCII digits and verify the GS1 check digit.
    pub fn parse(text: &str) -> Result<Gtin, BarcodeError> {
        let symbology = gtin_symbology(text.len()).ok_or_else(|| BarcodeError::Length { len: text.chars().count() })?;
        let mut digits = [0u8; 14];
        let offset = 14 - text.len();
        for (i, b) in text.bytes().enumerate() {
            if !b.is_ascii_digit() {
                return Err(BarcodeError::NotDigits { symbology });
            }
            digits[offset + i] = b - b'0';
        }
        let expected = check_digit(&digits[..13]);
        if digits[13] != expected {
            return Err(BarcodeError::CheckDigit {
                symbology,
                code: text.to_string(),
                found: digits[13],
                expected,
            });
        }
        Ok(Gtin { digits })
    }

    /// The canonical 14-digit form used as the catalog key.
    pub fn key(&self) -> String {
        self.digits.iter().map(|d| char::from(b'0' + d)).collect()
    }

    /// The shortest conventional form: EAN-13 when the GTIN-14 starts with 0, and EAN-8 when
    /// it fits in eight digits (GS1 pads EAN-8 with six leading zeros).
    pub fn display(&self) -> String {
        let key = self.key();
        if let Some(ean8) = key.strip_prefix("000000") {
            ean8.to_string()
        } else if let Some(rest) = key.strip_prefix('0') {
            rest.to_string()
        } else {
            key
        }
    }
}

impl fmt::Display for Gtin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}

fn gtin_symbology(len: usize) -> Option<&'static str> {
    match len {
        8 => Some("EAN-8"),
        12 => Some("UPC-A"),
        13 => Some("EAN-13"),
        14 => Some("GTIN-14"),
        _ => None,
    }
}

/// The GS1 mod-10 check digit for the given data digits (without the check digit): weights
/// 3 and 1 alternate starting with 3 at the digit next to the check digit.
pub fn check_digit(data: &[u8]) -> u8 {
    let sum: u32 = data
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| u32::from(d) * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// Why a scanned text is not a usable code. Every variant is a sentence a cashier can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BarcodeError {
    #[error("the scan is empty")]
    Empty,
    #[error("the scan is {len} characters long; at most {MAX_CODE_LEN} are accepted")]
    TooLong { len: usize },
    #[error("the scan contains a control character (code {code:#04x}) at position {position}")]
    ControlCharacter { code: u32, position: usize },
    #[error("{symbology} must be digits only")]
    NotDigits { symbology: &'static str },
    #[error("a GTIN has 8, 12, 13 or 14 digits, not {len}")]
    Length { len: usize },
    #[error("{symbology} {code}: check digit is {found}, expected {expected} — rescan or type it again")]
    CheckDigit {
        symbology: &'static str,
        code: String,
        found: u8,
        expected: u8,
    },
}

/// Classify and validate one scanned text.
///
/// Leading and trailing whitespace is dropped (scanners configured with a space or tab suffix
/// are common). Text of 8, 12, 13 or 14 digits is a GTIN and must carry a correct check digit;
/// other printable text is kept verbatim for the catalog to look up.
pub fn parse(text: &str) -> Result<Code, BarcodeError> {
    let text = text.trim_matches(|c: char| c == ' ' || c == '\t' || c == '\r' || c == '\n');
    if text.is_empty() {
        return Err(BarcodeError::Empty);
    }
    if text.len() > MAX_CODE_LEN {
        return Err(BarcodeError::TooLong { len: text.len() });
    }
    if let Some((position, ch)) = text.chars().enumerate().find(|(_, c)| c.is_control() && *c != GS) {
        return Err(BarcodeError::ControlCharacter {
            code: u32::from(ch),
            position: position + 1,
        });
    }
    if text.bytes().all(|b| b.is_ascii_digit()) && gtin_symbology(text.len()).is_some() {
        return Gtin::parse(text).map(Code::Gtin);
    }
    Ok(Code::Other(text.to_string()))
}

/// The catalog key for a barcode as the CRM sent it: canonical GTIN when it is a valid one,
/// otherwise the trimmed text itself (the CRM's data is stored even if its check digit is off,
/// so a later correction in the feed can replace it).
pub fn catalog_key(barcode: &str) -> String {
    match parse(barcode) {
        Ok(code) => code.catalog_key(),
        Err(_) => barcode.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ean13_with_correct_check_digit() {
        let code = parse("4601234567893").unwrap();
        assert_eq!(code.catalog_key(), "04601234567893");
        let Code::Gtin(gtin) = code else { panic!("not a GTIN") };
        assert_eq!(gtin.display(), "4601234567893");
    }

    #[test]
    fn wrong_check_digit_names_the_expected_one() {
        let err = parse("4601234567890").unwrap_err();
        assert_eq!(
            err,
            BarcodeError::CheckDigit {
                symbology: "EAN-13",
                code: "4601234567890".into(),
                found: 0,
                expected: 3
            }
        );
        assert!(err.to_string().contains("expected 3"));
    }

    #[test]
    fn upc_a_and_ean13_share_a_key() {
        assert_eq!(parse("036000291452").unwrap().catalog_key(), "00036000291452");
        assert_eq!(parse("0036000291452").unwrap().catalog_key(), "00036000291452");
    }

    #[test]
    fn ean8_and_gtin14() {
        assert_eq!(parse("96385074").unwrap().catalog_key(), "00000096385074");
        let Code::Gtin(g) = parse("96385074").unwrap() else { panic!() };
        assert_eq!(g.display(), "96385074");
        assert_eq!(parse("14601234567890").unwrap().catalog_key(), "14601234567890");
    }

    #[test]
    fn other_text_is_kept() {
        assert_eq!(parse(" ABC-123\r").unwrap(), Code::Other("ABC-123".into()));
        assert_eq!(parse("12345").unwrap(), Code::Other("12345".into()));
    }

    #[test]
    fn garbage_is_refused() {
        assert_eq!(parse(""), Err(BarcodeError::Empty));
        assert_eq!(parse(" \r\n"), Err(BarcodeError::Empty));
        assert!(matches!(
            parse("46\u{7}01"),
            Err(BarcodeError::ControlCharacter { code: 7, position: 3 })
        ));
        assert!(matches!(parse(&"1".repeat(600)), Err(BarcodeError::TooLong { .. })));
    }

    #[test]
    fn catalog_key_keeps_bad_crm_barcodes_verbatim() {
        assert_eq!(catalog_key("4601234567890"), "4601234567890");
        assert_eq!(catalog_key("4601234567893"), "04601234567893");
    }

    proptest! {
        #[test]
        fn parse_never_panics(text in "\\PC{0,80}") {
            let _ = parse(&text);
        }

        #[test]
        fn every_ean13_with_its_check_digit_parses(body in proptest::collection::vec(0u8..10, 12)) {
            let check = check_digit(&body);
            let text: String = body.iter().chain(std::iter::once(&check)).map(|d| char::from(b'0' + d)).collect();
            let Code::Gtin(gtin) = parse(&text).unwrap() else { panic!("not a GTIN") };
            prop_assert_eq!(gtin.key(), format!("0{text}"));
        }

        #[test]
        fn one_wrong_digit_is_always_caught(body in proptest::collection::vec(0u8..10, 12), pos in 0usize..13, delta in 1u8..10) {
            let mut digits = body.clone();
            digits.push(check_digit(&body));
            digits[pos] = (digits[pos] + delta) % 10;
            let text: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
            let is_check_error = matches!(parse(&text), Err(BarcodeError::CheckDigit { .. }));
            prop_assert!(is_check_error);
        }
    }
}
