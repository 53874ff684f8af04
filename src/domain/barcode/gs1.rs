//! GS1 element strings: what GS1-128, GS1 DataMatrix and GS1 QR carry — a run of
//! Application Identifier (AI) + value pairs, variable-length values ended by FNC1, which a
//! scanner transmits as ASCII GS (0x1D).
//!
//! The table below holds facts from the GS1 General Specifications and the GS1 Barcode
//! Syntax Dictionary (format of each AI: numeric or "X" = GS1 AI encodable character set 82,
//! fixed or maximum length, check digit, date). It is not exhaustive: an AI missing from it is
//! refused with its position, so a new one is one table line away.

use super::gtin::{Gtin, check_digit};
use rust_decimal::Decimal;
use std::fmt;

/// ASCII group separator: FNC1 as a scanner transmits it.
pub const GS: char = '\u{1d}';

/// How a value is checked beyond its format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    None,
    /// Ends with a GS1 mod-10 check digit (GTIN, SSCC, GLN).
    Mod10,
    /// YYMMDD; DD may be 00 ("end of month").
    Date,
}

/// Which characters a value may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Charset {
    /// Digits only ("N" in the GS1 syntax).
    Numeric,
    /// GS1 AI encodable character set 82 ("X").
    Cset82,
}

/// One AI's syntax. `decimal_ai` marks 4-digit AIs whose last digit tells the number of
/// decimal places of the value (310n net weight, 392n price).
#[derive(Debug, Clone, Copy)]
struct AiSpec {
    ai: &'static str,
    title: &'static str,
    charset: Charset,
    min: usize,
    max: usize,
    check: Check,
    decimal_ai: bool,
}

const fn n(ai: &'static str, title: &'static str, min: usize, max: usize, check: Check) -> AiSpec {
    AiSpec {
        ai,
        title,
        charset: Charset::Numeric,
        min,
        max,
        check,
        decimal_ai: false,
    }
}

const fn x(ai: &'static str, title: &'static str, max: usize) -> AiSpec {
    AiSpec {
        ai,
        title,
        charset: Charset::Cset82,
        min: 1,
        max,
        check: Check::None,
        decimal_ai: false,
    }
}

/// A 4-digit AI `ppp0`–`ppp9` whose last digit is the decimal point position.
const fn nd(ai: &'static str, title: &'static str, min: usize, max: usize) -> AiSpec {
    AiSpec {
        ai,
        title,
        charset: Charset::Numeric,
        min,
        max,
        check: Check::None,
        decimal_ai: true,
    }
}

/// GS1 General Specifications, section 3 (AI definitions), and the GS1 Barcode Syntax
/// Dictionary. `ai` is the AI itself, or its first three digits for `nd` entries.
const TABLE: &[AiSpec] = &[
    n("00", "SSCC", 18, 18, Check::Mod10),
    n("01", "GTIN", 14, 14, Check::Mod10),
    n("02", "CONTENT", 14, 14, Check::Mod10),
    x("10", "BATCH/LOT", 20),
    n("11", "PROD DATE", 6, 6, Check::Date),
    n("12", "DUE DATE", 6, 6, Check::Date),
    n("13", "PACK DATE", 6, 6, Check::Date),
    n("15", "BEST BEFORE", 6, 6, Check::Date),
    n("16", "SELL BY", 6, 6, Check::Date),
    n("17", "USE BY", 6, 6, Check::Date),
    n("20", "VARIANT", 2, 2, Check::None),
    x("21", "SERIAL", 20),
    x("22", "CPV", 20),
    x("240", "ADDITIONAL ID", 30),
    x("241", "CUST. PART No.", 30),
    x("250", "SECONDARY SERIAL", 30),
    x("251", "REF. TO SOURCE", 30),
    n("30", "VAR. COUNT", 1, 8, Check::None),
    nd("310", "NET WEIGHT (kg)", 6, 6),
    nd("330", "GROSS WEIGHT (kg)", 6, 6),
    n("37", "COUNT", 1, 8, Check::None),
    nd("390", "AMOUNT", 1, 15),
    nd("392", "PRICE", 1, 15),
    x("400", "ORDER NUMBER", 30),
    x("401", "GINC", 30),
    n("402", "GSIN", 17, 17, Check::Mod10),
    x("403", "ROUTE", 30),
    n("410", "SHIP TO LOC", 13, 13, Check::Mod10),
    n("411", "BILL TO", 13, 13, Check::Mod10),
    n("412", "PURCHASE FROM", 13, 13, Check::Mod10),
    n("413", "SHIP FOR LOC", 13, 13, Check::Mod10),
    n("414", "LOC No.", 13, 13, Check::Mod10),
    n("415", "PAY TO", 13, 13, Check::Mod10),
    n("416", "PROD/SERV LOC", 13, 13, Check::Mod10),
    x("420", "SHIP TO POST", 20),
    n("422", "ORIGIN", 3, 3, Check::None),
    n("7003", "EXPIRY TIME", 10, 10, Check::None),
    n("8005", "PRICE PER UNIT", 6, 6, Check::None),
    x("90", "INTERNAL", 30),
    x("91", "INTERNAL", 90),
    x("92", "INTERNAL", 90),
    x("93", "INTERNAL", 90),
    x("94", "INTERNAL", 90),
    x("95", "INTERNAL", 90),
    x("96", "INTERNAL", 90),
    x("97", "INTERNAL", 90),
    x("98", "INTERNAL", 90),
    x("99", "INTERNAL", 90),
];

/// AIs whose first two digits are in this list have a predefined length and need no FNC1
/// after their value (GS1 General Specifications, "AIs with predefined length", figure
/// 5.10.1-2). Every other AI is ended by FNC1 (GS) unless it is the last, even when its own
/// length is fixed (8005, 410…).
const PREDEFINED_LENGTH: &[&str] = &[
    "00", "01", "02", "03", "04", "11", "12", "13", "14", "15", "16", "17", "18", "19", "20", "31", "32", "33", "34", "35", "36", "41",
];

/// Is `c` in GS1 AI encodable character set 82? (The printable ASCII subset GS1 allows in
/// "X" values: `! " % & ' ( ) * + , - . / 0-9 : ; < = > ? A-Z _ a-z`.)
pub fn is_cset82(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!\"%&'()*+,-./:;<=>?_".contains(c)
}

/// One AI with its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub ai: String,
    pub value: String,
}

/// A parsed, validated element string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementString {
    pub elements: Vec<Element>,
}

/// Why an element string is not valid GS1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Gs1Error {
    #[error("GS1: код пуст")]
    Empty,
    #[error("GS1: на позиции {position} нет известного идентификатора применения (AI): «{found}»")]
    UnknownAi { position: usize, found: String },
    #[error("GS1 ({ai}) {title}: значение из {len} знаков, а нужно {expected}")]
    Length {
        ai: String,
        title: &'static str,
        len: usize,
        expected: String,
    },
    #[error("GS1 ({ai}) {title}: допустимы только цифры")]
    NotDigits { ai: String, title: &'static str },
    #[error("GS1 ({ai}) {title}: знак {found:?} недопустим в данных GS1")]
    Character { ai: String, title: &'static str, found: char },
    #[error("GS1 ({ai}) {title}: контрольная цифра {found}, а должна быть {expected}")]
    CheckDigit {
        ai: String,
        title: &'static str,
        found: u8,
        expected: u8,
    },
    #[error("GS1 ({ai}) {title}: {value} — не дата ГГММДД")]
    Date { ai: String, title: &'static str, value: String },
    #[error("GS1: идентификатор ({ai}) встречается дважды")]
    Repeated { ai: String },
}

fn lookup(rest: &str) -> Option<(&'static AiSpec, usize)> {
    TABLE.iter().find_map(|spec| {
        if !rest.starts_with(spec.ai) {
            return None;
        }
        if spec.decimal_ai {
            // The fourth digit is the decimal position.
            let d = rest.as_bytes().get(spec.ai.len())?;
            d.is_ascii_digit().then_some((spec, spec.ai.len() + 1))
        } else {
            Some((spec, spec.ai.len()))
        }
    })
}

fn valid_date(v: &str) -> bool {
    let num = |r: std::ops::Range<usize>| v[r].parse::<u32>().ok();
    let (Some(yy), Some(mm), Some(dd)) = (num(0..2), num(2..4), num(4..6)) else {
        return false;
    };
    if !(1..=12).contains(&mm) {
        return false;
    }
    // GS1 maps YY into the window −49…+50 years around today; for validation any century is
    // fine, but February 29 needs a leap year: a YY divisible by 4 is a leap year in both
    // candidate centuries except 2100, which is outside any window in use.
    let days = match mm {
        2 if yy % 4 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    dd <= days
}

fn check_value(spec: &AiSpec, ai: &str, value: &str) -> Result<(), Gs1Error> {
    let len = value.chars().count();
    if len < spec.min || len > spec.max {
        let expected = if spec.min == spec.max {
            spec.min.to_string()
        } else {
            format!("{}–{}", spec.min, spec.max)
        };
        return Err(Gs1Error::Length {
            ai: ai.to_string(),
            title: spec.title,
            len,
            expected,
        });
    }
    match spec.charset {
        Charset::Numeric if !value.bytes().all(|b| b.is_ascii_digit()) => {
            return Err(Gs1Error::NotDigits {
                ai: ai.to_string(),
                title: spec.title,
            });
        }
        Charset::Cset82 => {
            if let Some(found) = value.chars().find(|c| !is_cset82(*c)) {
                return Err(Gs1Error::Character {
                    ai: ai.to_string(),
                    title: spec.title,
                    found,
                });
            }
        }
        Charset::Numeric => {}
    }
    match spec.check {
        Check::None => Ok(()),
        Check::Mod10 => {
            let digits: Vec<u8> = value.bytes().map(|b| b - b'0').collect();
            let (data, found) = digits.split_at(digits.len() - 1);
            let expected = check_digit(data);
            if found[0] == expected {
                Ok(())
            } else {
                Err(Gs1Error::CheckDigit {
                    ai: ai.to_string(),
                    title: spec.title,
                    found: found[0],
                    expected,
                })
            }
        }
        Check::Date if valid_date(value) => Ok(()),
        Check::Date => Err(Gs1Error::Date {
            ai: ai.to_string(),
            title: spec.title,
            value: value.to_string(),
        }),
    }
}

/// Parse an element string (FNC1 in first position already removed; GS between fields).
pub fn parse(data: &str) -> Result<ElementString, Gs1Error> {
    let mut rest = data.trim_start_matches(GS);
    if rest.is_empty() {
        return Err(Gs1Error::Empty);
    }
    let mut elements: Vec<Element> = Vec::new();
    while !rest.is_empty() {
        let position = data.len() - rest.len() + 1;
        let (spec, ai_len) = lookup(rest).ok_or_else(|| Gs1Error::UnknownAi {
            position,
            found: rest.chars().take(4).collect(),
        })?;
        let ai = &rest[..ai_len];
        let after = &rest[ai_len..];
        let predefined = PREDEFINED_LENGTH.contains(&&ai[..2]);
        let (value, next) = if predefined {
            // Fixed length by definition; a short value means the code is cut.
            let end = after.char_indices().nth(spec.max).map_or(after.len(), |(i, _)| i);
            let value = &after[..end];
            if value.contains(GS) {
                let len = value.find(GS).unwrap_or(0);
                return Err(Gs1Error::Length {
                    ai: ai.to_string(),
                    title: spec.title,
                    len,
                    expected: spec.max.to_string(),
                });
            }
            (value, &after[end..])
        } else {
            match after.find(GS) {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        check_value(spec, ai, value)?;
        if elements.iter().any(|e| e.ai == ai) {
            return Err(Gs1Error::Repeated { ai: ai.to_string() });
        }
        elements.push(Element {
            ai: ai.to_string(),
            value: value.to_string(),
        });
        // A separator after a predefined-length field is redundant but harmless, and so is a
        // doubled one (an empty element): GS1 parsers (and the scanners' own decoders) skip
        // them, so a label printed that way must not be refused here.
        rest = next.trim_start_matches(GS);
    }
    Ok(ElementString { elements })
}

impl ElementString {
    /// The value of `ai`, if present.
    pub fn get(&self, ai: &str) -> Option<&str> {
        self.elements.iter().find(|e| e.ai == ai).map(|e| e.value.as_str())
    }

    /// The trade item: AI 01, or AI 02 (the items contained in a logistic unit).
    pub fn gtin(&self) -> Option<Gtin> {
        self.get("01").or_else(|| self.get("02")).and_then(|v| Gtin::parse(v).ok())
    }

    /// Net weight in kilograms from AI 310n.
    pub fn net_weight_kg(&self) -> Option<Decimal> {
        self.decimal("310")
    }

    /// Price from AI 392n (in the currency of the shop).
    pub fn price(&self) -> Option<Decimal> {
        self.decimal("392")
    }

    fn decimal(&self, prefix: &str) -> Option<Decimal> {
        let e = self.elements.iter().find(|e| e.ai.len() == 4 && e.ai.starts_with(prefix))?;
        let scale = u32::from(e.ai.as_bytes()[3] - b'0');
        let mantissa: i64 = e.value.parse().ok()?;
        Decimal::try_from_i128_with_scale(i128::from(mantissa), scale).ok()
    }
}

impl fmt::Display for ElementString {
    /// The human-readable form, `(01)04601234567893(21)abc`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.elements {
            write!(f, "({}){}", e.ai, e.value)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    #[test]
    fn gtin_expiry_batch_and_weight() {
        let es = parse("0104601234567893172512311012A\u{1d}3103001250").unwrap();
        assert_eq!(es.get("01"), Some("04601234567893"));
        assert_eq!(es.get("17"), Some("251231"));
        assert_eq!(es.get("10"), Some("12A"));
        assert_eq!(es.net_weight_kg(), Some(dec!(1.250)));
        assert_eq!(es.gtin().unwrap().key(), "04601234567893");
        assert_eq!(es.to_string(), "(01)04601234567893(17)251231(10)12A(3103)001250");
    }

    #[test]
    fn sscc_count_price_and_internal() {
        let es = parse("00046012345000000012\u{1d}3712\u{1d}39222500\u{1d}8005000150\u{1d}91ABC").unwrap();
        assert_eq!(es.get("00"), Some("046012345000000012"));
        assert_eq!(es.get("37"), Some("12"));
        assert_eq!(es.price(), Some(dec!(25.00)));
        assert_eq!(es.get("8005"), Some("000150"));
        assert_eq!(es.get("91"), Some("ABC"));
    }

    #[test]
    fn errors_say_which_ai_and_why() {
        assert_eq!(
            parse("0104601234567890").unwrap_err(),
            Gs1Error::CheckDigit {
                ai: "01".into(),
                title: "GTIN",
                found: 0,
                expected: 3
            }
        );
        assert!(matches!(parse("010460123456789317131301").unwrap_err(), Gs1Error::Date { .. }));
        assert!(
            matches!(parse("010460123456789317250230").unwrap_err(), Gs1Error::Date { .. }),
            "Feb 30"
        );
        assert!(parse("0104601234567893172402").is_err(), "cut date");
        assert!(parse("01046012345678931724022 9").is_err());
        assert!(matches!(parse("0104601234567893").map(|e| e.elements.len()), Ok(1)));
        assert!(matches!(parse("0104601234").unwrap_err(), Gs1Error::Length { .. }));
        assert!(matches!(parse("05123").unwrap_err(), Gs1Error::UnknownAi { position: 1, .. }));
        assert!(matches!(
            parse("10ABC\u{1d}05123").unwrap_err(),
            Gs1Error::UnknownAi { position: 7, .. }
        ));
        assert!(matches!(parse("10AB C").unwrap_err(), Gs1Error::Character { found: ' ', .. }));
        assert!(matches!(parse("10ABC\u{1d}10DEF").unwrap_err(), Gs1Error::Repeated { .. }));
        assert!(matches!(
            parse(&format!("21{}", "A".repeat(21))).unwrap_err(),
            Gs1Error::Length { len: 21, .. }
        ));
        assert_eq!(parse("\u{1d}"), Err(Gs1Error::Empty));
    }

    #[test]
    fn end_of_month_day_zero_and_leap_day() {
        assert!(parse("17250200").is_ok());
        assert!(parse("17240229").is_ok());
        assert!(parse("17250229").is_err());
    }

    #[test]
    fn a_redundant_separator_after_a_fixed_field_is_accepted() {
        let es = parse("0104601234567893\u{1d}21abc").unwrap();
        assert_eq!(es.get("21"), Some("abc"));
    }

    #[test]
    fn a_double_separator_an_empty_element_is_skipped() {
        let es = parse("0104601234567893\u{1d}\u{1d}21abc\u{1d}\u{1d}\u{1d}10B1\u{1d}\u{1d}").unwrap();
        assert_eq!(es.get("21"), Some("abc"));
        assert_eq!(es.get("10"), Some("B1"));
        assert_eq!(es.to_string(), "(01)04601234567893(21)abc(10)B1");
        // Only separators is still empty, and a real unknown AI is still refused.
        assert_eq!(parse("\u{1d}\u{1d}"), Err(Gs1Error::Empty));
        assert!(matches!(parse("10ABC\u{1d}\u{1d}05123").unwrap_err(), Gs1Error::UnknownAi { .. }));
    }

    proptest! {
        #[test]
        fn never_panics(text in "[0-9A-Za-z\u{1d}!%&*+,./:;<=>?_ \u{430}-\u{44f}]{0,120}") {
            let _ = parse(&text);
        }

        /// Whatever fields are written with their separators, they come back.
        #[test]
        fn round_trip(batch in "[A-Za-z0-9]{1,20}", serial in "[!-~&&[^ \"#$@\\[\\]\\\\^`{|}~]]{1,20}", count in 1u32..99_999_999) {
            let text = format!("0104601234567893\u{1d}10{batch}\u{1d}21{serial}\u{1d}37{count}");
            let es = parse(&text).unwrap();
            prop_assert_eq!(es.get("10"), Some(batch.as_str()));
            prop_assert_eq!(es.get("21"), Some(serial.as_str()));
            let count_text = count.to_string();
            prop_assert_eq!(es.get("37"), Some(count_text.as_str()));
        }
    }
}
