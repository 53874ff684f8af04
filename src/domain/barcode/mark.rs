//! Marking codes of the Russian track-and-trace system «Честный ЗНАК».
//!
//! A marking code is a GS1 DataMatrix element string: `01` GTIN, `21` serial number, then a
//! verification tail the till passes on but cannot check itself (the signature is verified by
//! the operator of the system):
//!
//! - full form: `91` verification key (4 characters) GS `92` verification code (44
//!   characters) — shoes, clothing, tyres, perfume, …;
//! - short form: `93` verification code (4 characters) — dairy, packaged water, …;
//! - tobacco block: `8005` maximum retail price GS `93` …;
//! - tobacco pack: 29 characters with no AIs and no separators — GTIN (14), serial (7),
//!   maximum retail price (4), verification code (4).
//!
//! The part that identifies one physical item («код идентификации») is GTIN + serial; two
//! scans with the same GTIN and serial are the same pack, whatever the tail says.

use super::gs1::{ElementString, is_cset82};
use super::gtin::Gtin;

/// Which layout the code came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkForm {
    /// `01` `21` `91` `92`.
    Full,
    /// `01` `21` `93`.
    Short,
    /// `01` `21` `8005` `93`: a block (carton) of cigarettes.
    TobaccoBlock,
    /// 29 characters without AIs: one pack of cigarettes.
    TobaccoPack,
}

/// A validated marking code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub gtin: Gtin,
    pub serial: String,
    pub form: MarkForm,
    /// The code as scanned (AIM prefix removed), GS separators kept: this is what goes to
    /// the CRM and the fiscal side.
    pub code: String,
}

impl Mark {
    /// What identifies the physical item: GTIN and serial number.
    pub fn identity(&self) -> String {
        format!("01{}21{}", self.gtin.key(), self.serial)
    }
}

/// Why a code that looks like a marking code is not a valid one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarkError {
    #[error("код маркировки: ({ai}) должен быть длиной {expected} знаков, а не {len}")]
    TailLength {
        ai: &'static str,
        expected: &'static str,
        len: usize,
    },
    #[error("код маркировки: ключ проверки (91) без кода проверки (92)")]
    KeyWithoutCode,
    #[error("код маркировки: нет серийного номера (21)")]
    NoSerial,
}

/// Lengths of the verification tail (Честный ЗНАК code format for each product group).
const KEY_91_LEN: usize = 4;
const CODE_92_LENS: [usize; 2] = [44, 88];
const CODE_93_LEN: usize = 4;

/// A tobacco pack: GTIN 14 + serial 7 + maximum retail price 4 + verification code 4.
pub const TOBACCO_PACK_LEN: usize = 29;

/// Decide whether a GS1 element string is a marking code. `None`: it is ordinary GS1 data
/// (no verification tail); `Some(Err)`: it has a tail but a malformed one.
pub fn from_element_string(es: &ElementString, code: &str) -> Option<Result<Mark, MarkError>> {
    let has_tail = ["91", "92", "93"].iter().any(|ai| es.get(ai).is_some());
    if !has_tail {
        return None;
    }
    let gtin = es.get("01").and_then(|v| Gtin::parse(v).ok())?;
    Some(validate(es, gtin, code))
}

fn validate(es: &ElementString, gtin: Gtin, code: &str) -> Result<Mark, MarkError> {
    let serial = es.get("21").ok_or(MarkError::NoSerial)?;
    let len = |ai| es.get(ai).map(|v| v.chars().count());
    let form = match (len("91"), len("92"), len("93")) {
        (_, _, Some(n)) if n != CODE_93_LEN => {
            return Err(MarkError::TailLength {
                ai: "93",
                expected: "4",
                len: n,
            });
        }
        (_, _, Some(_)) if es.get("8005").is_some() => MarkForm::TobaccoBlock,
        (_, _, Some(_)) => MarkForm::Short,
        (Some(_), None, None) => return Err(MarkError::KeyWithoutCode),
        (Some(n), _, _) if n != KEY_91_LEN => {
            return Err(MarkError::TailLength {
                ai: "91",
                expected: "4",
                len: n,
            });
        }
        (_, Some(n), _) if !CODE_92_LENS.contains(&n) => {
            return Err(MarkError::TailLength {
                ai: "92",
                expected: "44 or 88",
                len: n,
            });
        }
        _ => MarkForm::Full,
    };
    Ok(Mark {
        gtin,
        serial: serial.to_string(),
        form,
        code: code.to_string(),
    })
}

/// A tobacco pack code: 29 characters, the first 14 a GTIN with a valid check digit, the
/// rest GS1 characters. `None` when the text does not have that shape.
pub fn tobacco_pack(text: &str) -> Option<Mark> {
    if text.len() != TOBACCO_PACK_LEN || !text.is_ascii() || !text.chars().all(is_cset82) {
        return None;
    }
    let gtin = Gtin::parse(&text[..14]).ok()?;
    Some(Mark {
        gtin,
        serial: text[14..21].to_string(),
        form: MarkForm::TobaccoPack,
        code: text.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::barcode::gs1;

    const CRYPTO44: &str = "MDEGCCqGSM49AwEHA0IABFm4HA6dbsR5mIkb6dTzpEk=";

    fn mark(text: &str) -> Option<Result<Mark, MarkError>> {
        from_element_string(&gs1::parse(text).unwrap(), text)
    }

    #[test]
    fn full_short_and_block_forms() {
        let full = format!("0104601234567893215abcDEF+12/=\u{1d}91EE06\u{1d}92{CRYPTO44}");
        let m = mark(&full).unwrap().unwrap();
        assert_eq!((m.form, m.serial.as_str()), (MarkForm::Full, "5abcDEF+12/="));
        assert_eq!(m.identity(), "0104601234567893215abcDEF+12/=");
        let short = "010460123456789321Ab1cD2\u{1d}93Zx9+";
        assert_eq!(mark(short).unwrap().unwrap().form, MarkForm::Short);
        let block = "01046012345678932100000AB\u{1d}8005012500\u{1d}93ab12";
        assert_eq!(mark(block).unwrap().unwrap().form, MarkForm::TobaccoBlock);
    }

    #[test]
    fn ordinary_gs1_is_not_a_mark() {
        assert_eq!(mark("0104601234567893215abc"), None);
    }

    #[test]
    fn malformed_tails_are_refused() {
        assert_eq!(mark("0104601234567893215abc\u{1d}91EE06").unwrap(), Err(MarkError::KeyWithoutCode));
        assert!(matches!(
            mark("0104601234567893215abc\u{1d}91EE06\u{1d}92short").unwrap(),
            Err(MarkError::TailLength { ai: "92", .. })
        ));
        assert!(matches!(
            mark("0104601234567893215abc\u{1d}93abcde").unwrap(),
            Err(MarkError::TailLength { ai: "93", len: 5, .. })
        ));
        assert_eq!(mark("0104601234567893\u{1d}93abcd").unwrap(), Err(MarkError::NoSerial));
    }

    #[test]
    fn tobacco_pack_shape() {
        let pack = "04601234567893-aB3cDeAAAA1x2Y";
        let m = tobacco_pack(pack).unwrap();
        assert_eq!((m.serial.as_str(), m.form), ("-aB3cDe", MarkForm::TobaccoPack));
        assert_eq!(tobacco_pack("04601234567890-aB3cDeAAAA1x2Y"), None, "bad GTIN check digit");
        assert_eq!(tobacco_pack("04601234567893-aB3cDeAAAA1x2"), None, "28 characters");
    }
}
