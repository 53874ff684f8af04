//! Global Trade Item Numbers: EAN-13, EAN-8, UPC-A, UPC-E and GTIN-14 (ITF-14), each with
//! its check digit verified, all reduced to one 14-digit form.
//!
//! Why one form: the CRM may store a US product as EAN-13 `0036000291452` while the scanner
//! reads its UPC-A `036000291452` (or its UPC-E, or an ITF-14 case code with indicator 0).
//! GS1 defines all of them as the same number left-padded to 14 digits, so that is the key.

use super::BarcodeError;
use std::fmt;

/// A GTIN, stored as the 14 digits of GTIN-14 (left-padded with zeros).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Gtin {
    digits: [u8; 14],
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

pub(super) fn gtin_symbology(len: usize) -> Option<&'static str> {
    match len {
        8 => Some("EAN-8"),
        12 => Some("UPC-A"),
        13 => Some("EAN-13"),
        14 => Some("GTIN-14"),
        _ => None,
    }
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
        Gtin::checked(digits, symbology, text)
    }

    fn checked(digits: [u8; 14], symbology: &'static str, shown: &str) -> Result<Gtin, BarcodeError> {
        let expected = check_digit(&digits[..13]);
        if digits[13] != expected {
            return Err(BarcodeError::CheckDigit {
                symbology,
                code: shown.to_string(),
                found: digits[13],
                expected,
            });
        }
        Ok(Gtin { digits })
    }

    /// Expand a UPC-E code (8 digits: number system 0 or 1, six data digits, check digit) to
    /// its UPC-A form and verify the check digit, which UPC-E borrows from that UPC-A.
    ///
    /// The expansion depends on the last data digit (GS1 General Specifications, UPC-E
    /// zero suppression): 0–2 → manufacturer `d1 d2 d6 0 0`, item `0 0 d3 d4 d5`; 3 →
    /// `d1 d2 d3 0 0`, `0 0 0 d4 d5`; 4 → `d1 d2 d3 d4 0`, `0 0 0 0 d5`; 5–9 →
    /// `d1 d2 d3 d4 d5`, `0 0 0 0 d6`.
    pub fn from_upc_e(text: &str) -> Result<Gtin, BarcodeError> {
        const SYMBOLOGY: &str = "UPC-E";
        if text.len() != 8 {
            return Err(BarcodeError::Length { len: text.chars().count() });
        }
        let mut e = [0u8; 8];
        for (i, b) in text.bytes().enumerate() {
            if !b.is_ascii_digit() {
                return Err(BarcodeError::NotDigits { symbology: SYMBOLOGY });
            }
            e[i] = b - b'0';
        }
        if e[0] > 1 {
            return Err(BarcodeError::UpcENumberSystem { found: e[0] });
        }
        let [ns, d1, d2, d3, d4, d5, d6, check] = e;
        let body: [u8; 11] = match d6 {
            0..=2 => [ns, d1, d2, d6, 0, 0, 0, 0, d3, d4, d5],
            3 => [ns, d1, d2, d3, 0, 0, 0, 0, 0, d4, d5],
            4 => [ns, d1, d2, d3, d4, 0, 0, 0, 0, 0, d5],
            _ => [ns, d1, d2, d3, d4, d5, 0, 0, 0, 0, d6],
        };
        let mut digits = [0u8; 14];
        digits[2..13].copy_from_slice(&body);
        digits[13] = check;
        Gtin::checked(digits, SYMBOLOGY, text)
    }

    /// The digits, most significant first.
    pub fn digits(&self) -> &[u8; 14] {
        &self.digits
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn upc_e_expands_by_its_last_digit() {
        // 0-2: manufacturer d1 d2 d6 00, item 00 d3 d4 d5.
        assert_eq!(Gtin::from_upc_e("04252614").unwrap().key(), "00042100005264");
        // 3, 4 and 5-9.
        let expand = |e: &str| {
            let g = Gtin::from_upc_e(e).unwrap();
            g.key()[2..13].to_string()
        };
        let with_check = |body: &str| {
            let d: Vec<u8> = format!("00{body}").bytes().map(|b| b - b'0').collect();
            format!("{body}{}", check_digit(&d[..13]))
        };
        // Build UPC-E codes whose check digit is right by computing it from the expansion.
        let upce = |six: &str, upca_body: &str| {
            let full = with_check(upca_body);
            format!("0{six}{}", &full[11..])
        };
        assert_eq!(expand(&upce("123453", "01230000045")), "01230000045");
        assert_eq!(expand(&upce("123454", "01234000005")), "01234000005");
        assert_eq!(expand(&upce("123457", "01234500007")), "01234500007");
    }

    #[test]
    fn upc_e_refuses_other_number_systems_and_bad_checks() {
        assert_eq!(Gtin::from_upc_e("24252614"), Err(BarcodeError::UpcENumberSystem { found: 2 }));
        assert!(matches!(
            Gtin::from_upc_e("04252615"),
            Err(BarcodeError::CheckDigit { expected: 4, .. })
        ));
        assert!(matches!(Gtin::from_upc_e("0425261"), Err(BarcodeError::Length { len: 7 })));
    }

    proptest! {
        /// A UPC-E and the UPC-A it stands for have the same key.
        #[test]
        fn upc_e_and_its_upc_a_share_a_key(ns in 0u8..2, six in proptest::collection::vec(0u8..10, 6)) {
            let probe = format!("{ns}{}0", six.iter().map(|d| char::from(b'0' + d)).collect::<String>());
            let expanded = match Gtin::from_upc_e(&probe) {
                Err(BarcodeError::CheckDigit { expected, .. }) => {
                    let valid = format!("{}{expected}", &probe[..7]);
                    Gtin::from_upc_e(&valid).unwrap()
                }
                Ok(g) => g,
                Err(e) => panic!("{e}"),
            };
            let upc_a = &expanded.key()[2..];
            prop_assert_eq!(Gtin::parse(upc_a).unwrap(), expanded);
        }
    }
}
