//! What a scanned text is. Pure: text and rules in, a classified code (or the reason it is
//! not one) out — the same grammar for the till, the handheld page and the warehouse.
//!
//! The pipeline of [`parse_with`]:
//!
//! 1. trim the scanner's whitespace suffix; refuse empty, over-long and control characters
//!    (GS excepted, it is GS1's FNC1);
//! 2. restore GS sent as a configured substitute character ([`ScanRules::gs_substitute`]);
//! 3. split off an AIM symbology identifier (`]E0`, `]d2`, … — see [`aim`]);
//! 4. classify: cell and loyalty-card prefixes (routed away from the catalog), GS1 element
//!    strings and the marking codes among them ([`gs1`], [`mark`]), tobacco packs, GTINs
//!    with their check digit ([`gtin`]: EAN-13/8, UPC-A/E, ITF-14), scale labels
//!    ([`embedded`]), anything else as text;
//! 5. when the text carries Cyrillic and only parses after mapping the keys back to QWERTY,
//!    use the mapped text ([`layout`]: a wedge scanner on a ЙЦУКЕН desktop).
//!
//! Every GTIN is reduced to one canonical 14-digit key, so a UPC-A scan `036000291452` finds
//! an item whose barcode the CRM sent as EAN-13 `0036000291452`.

pub mod aim;
pub mod embedded;
pub mod gs1;
pub mod gtin;
pub mod layout;
pub mod mark;

pub use aim::AimId;
pub use embedded::{Embedded, EmbeddedLayout, EmbeddedValue};
pub use gs1::{ElementString, GS, Gs1Error};
pub use gtin::{Gtin, check_digit};
pub use mark::{Mark, MarkError, MarkForm};

/// Longest text accepted as one scan. GS1 DataMatrix marking codes are about 150 characters;
/// anything far longer is a scanner or cable fault, not a code.
pub const MAX_CODE_LEN: usize = 512;

/// A scanned code after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    /// A GTIN of any length with a correct check digit.
    Gtin(Gtin),
    /// A scale label: an in-store EAN-13 with a PLU and a weight or price inside.
    Embedded(Embedded),
    /// GS1 data that is not a marking code (GS1-128 on a case, a DataMatrix on a pack).
    Gs1(ElementString),
    /// A «Честный ЗНАК» marking code.
    Mark(Mark),
    /// A warehouse cell label: for the WMS, never for the catalog.
    Cell(String),
    /// A loyalty card: attaches to the receipt, never sold.
    Loyalty(String),
    /// Any other printable text (internal codes, Code 128 labels); looked up verbatim.
    Other(String),
}

impl Code {
    /// The key under which the catalog indexes this code.
    pub fn catalog_key(&self) -> String {
        match self {
            Code::Gtin(gtin) => gtin.key(),
            Code::Embedded(e) => e.gtin.key(),
            Code::Mark(m) => m.gtin.key(),
            Code::Gs1(es) => es.gtin().map_or_else(|| es.to_string(), |g| g.key()),
            Code::Cell(text) | Code::Loyalty(text) | Code::Other(text) => text.clone(),
        }
    }

    /// How the code is shown on a receipt line and a screen.
    pub fn display(&self) -> String {
        match self {
            Code::Gtin(gtin) => gtin.display(),
            Code::Embedded(e) => e.gtin.display(),
            Code::Mark(m) => m.gtin.display(),
            Code::Gs1(es) => es.gtin().map_or_else(|| es.to_string(), |g| g.display()),
            Code::Cell(text) | Code::Loyalty(text) | Code::Other(text) => text.clone(),
        }
    }

    /// Anything but free text: the shape of the code told what it is.
    fn is_structured(&self) -> bool {
        !matches!(self, Code::Other(_))
    }
}

/// A prefix or an inclusive range of codes of one length (`2770000000000`–`2779999999999`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeMatch {
    Prefix(String),
    Range { from: String, to: String },
}

impl CodeMatch {
    fn matches(&self, text: &str) -> bool {
        match self {
            CodeMatch::Prefix(p) => text.starts_with(p.as_str()),
            CodeMatch::Range { from, to } => text.len() == from.len() && from.as_str() <= text && text <= to.as_str(),
        }
    }
}

/// The shop's own conventions, from the `[scanning]` config section. Plain data so the
/// grammar stays pure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanRules {
    /// A character some scanners are set to send instead of GS (a wedge cannot type GS).
    pub gs_substitute: Option<char>,
    /// Map Cyrillic text back to QWERTY when only that parses.
    pub layout_recovery: bool,
    /// Scale label layouts; empty turns weight/price labels off.
    pub embedded: Vec<EmbeddedLayout>,
    /// Warehouse cell labels.
    pub cells: Vec<CodeMatch>,
    /// Loyalty cards.
    pub loyalty: Vec<CodeMatch>,
}

impl Default for ScanRules {
    fn default() -> Self {
        ScanRules {
            gs_substitute: None,
            layout_recovery: true,
            embedded: vec![EmbeddedLayout::default_weight()],
            cells: Vec::new(),
            loyalty: Vec::new(),
        }
    }
}

/// Why a scanned text is not a usable code. Every variant is a sentence a cashier can act on,
/// in Russian; the check-digit sentence also keeps `expected N`, which API clients match on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BarcodeError {
    #[error("скан пуст")]
    Empty,
    #[error("скан длиной {len} знаков; принимается не больше {MAX_CODE_LEN}")]
    TooLong { len: usize },
    #[error("в скане управляющий символ (код {code:#04x}) на позиции {position}")]
    ControlCharacter { code: u32, position: usize },
    #[error("{symbology}: допустимы только цифры")]
    NotDigits { symbology: &'static str },
    #[error("в GTIN 8, 12, 13 или 14 цифр, а не {len}")]
    Length { len: usize },
    #[error(
        "{symbology} {code}: контрольная цифра {found}, а должна быть {expected} (expected {expected}) — отсканируйте ещё раз или введите код вручную"
    )]
    CheckDigit {
        symbology: &'static str,
        code: String,
        found: u8,
        expected: u8,
    },
    #[error("UPC-E начинается с 0 или 1, а не с {found}")]
    UpcENumberSystem { found: u8 },
    #[error("{0}")]
    Gs1(#[from] Gs1Error),
    #[error("{0}")]
    Mark(#[from] MarkError),
}

/// Classify and validate one scanned text with the default rules (scale labels 20–29,
/// keyboard-layout recovery on, no cell or loyalty prefixes).
pub fn parse(text: &str) -> Result<Code, BarcodeError> {
    parse_with(text, &ScanRules::default())
}

/// Classify and validate one scanned text with the shop's rules.
pub fn parse_with(text: &str, rules: &ScanRules) -> Result<Code, BarcodeError> {
    let text = text.trim_matches(|c: char| c == ' ' || c == '\t' || c == '\r' || c == '\n');
    if text.is_empty() {
        return Err(BarcodeError::Empty);
    }
    if text.len() > MAX_CODE_LEN {
        return Err(BarcodeError::TooLong { len: text.len() });
    }
    let text = restore_gs(text, rules.gs_substitute);
    if let Some((position, ch)) = text.chars().enumerate().find(|(_, c)| c.is_control() && *c != GS) {
        return Err(BarcodeError::ControlCharacter {
            code: u32::from(ch),
            position: position + 1,
        });
    }
    let direct = classify(&text, rules);
    if rules.layout_recovery && layout::looks_russian(&text) && !direct.as_ref().is_ok_and(Code::is_structured) {
        let mapped = restore_gs(&layout::to_qwerty(&text), rules.gs_substitute);
        if let Ok(code) = classify(&mapped, rules) {
            if code.is_structured() {
                return Ok(code);
            }
        }
    }
    direct
}

fn restore_gs(text: &str, substitute: Option<char>) -> String {
    match substitute {
        Some(sub) => text.replace(sub, "\u{1d}"),
        None => text.to_string(),
    }
}

fn classify(text: &str, rules: &ScanRules) -> Result<Code, BarcodeError> {
    let (aim, data) = aim::strip(text);
    if data.is_empty() {
        return Err(BarcodeError::Empty);
    }
    if rules.cells.iter().any(|m| m.matches(data)) {
        return Ok(Code::Cell(data.to_string()));
    }
    if rules.loyalty.iter().any(|m| m.matches(data)) {
        return Ok(Code::Loyalty(data.to_string()));
    }
    let all_digits = data.bytes().all(|b| b.is_ascii_digit());
    let says_gs1 = aim.is_some_and(|a| a.is_gs1());
    if says_gs1 || data.starts_with(GS) || (data.contains(GS) && !all_digits) {
        return element_string(data);
    }
    if all_digits {
        if let Some(code) = digits(data, aim, rules)? {
            return Ok(code);
        }
    }
    if let Some(m) = mark::tobacco_pack(data) {
        return Ok(Code::Mark(m));
    }
    // A GS1 DataMatrix whose scanner dropped the leading FNC1: `01` + a valid GTIN and more
    // AIs after it. Only taken when it parses as a whole; otherwise it is just text.
    if data.len() > 16 && data.starts_with("01") && data.is_ascii() && Gtin::parse(&data[2..16]).is_ok() {
        if let Ok(code) = element_string(data) {
            return Ok(code);
        }
    }
    Ok(Code::Other(data.to_string()))
}

fn element_string(data: &str) -> Result<Code, BarcodeError> {
    let es = gs1::parse(data)?;
    let code = data.trim_start_matches(GS);
    match mark::from_element_string(&es, code) {
        Some(m) => Ok(Code::Mark(m?)),
        None => Ok(Code::Gs1(es)),
    }
}

/// Digits only: a GTIN by length, a UPC-E when the scanner said `]E0` with 8 digits (or sent
/// 8 digits that are no valid EAN-8 but a valid UPC-E), a scale label by prefix. `None` for
/// lengths that are no GTIN: internal numeric codes.
fn digits(data: &str, aim: Option<AimId>, rules: &ScanRules) -> Result<Option<Code>, BarcodeError> {
    if data.len() == 8 {
        if aim.is_some_and(|a| a.is_ean13_family()) {
            return Gtin::from_upc_e(data).map(|g| Some(Code::Gtin(g)));
        }
        return match Gtin::parse(data) {
            Ok(g) => Ok(Some(Code::Gtin(g))),
            Err(ean8) => Gtin::from_upc_e(data).map(|g| Some(Code::Gtin(g))).map_err(|_| ean8),
        };
    }
    if gtin::gtin_symbology(data.len()).is_none() {
        return Ok(None);
    }
    let g = Gtin::parse(data)?;
    if data.len() == 13 {
        if let Some(e) = embedded::decode(data, g, &rules.embedded) {
            return Ok(Some(Code::Embedded(e)));
        }
    }
    Ok(Some(Code::Gtin(g)))
}

/// The catalog key for a barcode as the CRM sent it: canonical GTIN when it is a valid one,
/// otherwise the trimmed text itself (the CRM's data is stored even if its check digit is off,
/// so a later correction in the feed can replace it).
pub fn catalog_key(barcode: &str) -> String {
    // Built once: a first sync asks for a million keys.
    static RULES: std::sync::LazyLock<ScanRules> = std::sync::LazyLock::new(|| ScanRules {
        layout_recovery: false,
        ..ScanRules::default()
    });
    match parse_with(barcode, &RULES) {
        Ok(code) => code.catalog_key(),
        Err(_) => barcode.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    const CRYPTO44: &str = "MDEGCCqGSM49AwEHA0IABFm4HA6dbsR5mIkb6dTzpEk=";

    fn full_mark() -> String {
        format!("0104601234567893215abcDEF+12/=\u{1d}91EE06\u{1d}92{CRYPTO44}")
    }

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
    fn upc_a_upc_e_and_ean13_share_a_key() {
        assert_eq!(parse("036000291452").unwrap().catalog_key(), "00036000291452");
        assert_eq!(parse("0036000291452").unwrap().catalog_key(), "00036000291452");
        assert_eq!(parse("]E00036000291452").unwrap().catalog_key(), "00036000291452");
        // UPC-E 04252614 is UPC-A 042100005264.
        assert_eq!(parse("]E004252614").unwrap().catalog_key(), "00042100005264");
        assert_eq!(parse("042100005264").unwrap().catalog_key(), "00042100005264");
        // Without an AIM id, 8 digits that are no EAN-8 but a valid UPC-E are a UPC-E.
        assert_eq!(parse("04252614").unwrap().catalog_key(), "00042100005264");
    }

    #[test]
    fn ean8_and_gtin14() {
        assert_eq!(parse("96385074").unwrap().catalog_key(), "00000096385074");
        let Code::Gtin(g) = parse("96385074").unwrap() else { panic!() };
        assert_eq!(g.display(), "96385074");
        assert_eq!(parse("14601234567890").unwrap().catalog_key(), "14601234567890");
        assert_eq!(parse("]I114601234567890").unwrap().catalog_key(), "14601234567890");
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
        assert_eq!(parse("]E0"), Err(BarcodeError::Empty));
        assert!(matches!(
            parse("46\u{7}01"),
            Err(BarcodeError::ControlCharacter { code: 7, position: 3 })
        ));
        assert!(matches!(parse(&"1".repeat(600)), Err(BarcodeError::TooLong { .. })));
    }

    #[test]
    fn scale_labels_by_prefix() {
        let Code::Embedded(e) = parse("2200123012500").unwrap() else {
            panic!()
        };
        assert_eq!((e.plu.as_str(), e.amount), ("00123", dec!(1.250)));
        let none = ScanRules {
            embedded: vec![],
            ..ScanRules::default()
        };
        assert!(matches!(parse_with("2200123012500", &none), Ok(Code::Gtin(_))));
        assert!(matches!(parse("2200123012501"), Err(BarcodeError::CheckDigit { .. })));
    }

    #[test]
    fn marking_codes_with_and_without_fnc1_and_aim() {
        let full = full_mark();
        for scanned in [
            full.clone(),
            format!("\u{1d}{full}"),
            format!("]d2{full}"),
            format!("]d2\u{1d}{full}"),
        ] {
            let Code::Mark(m) = parse(&scanned).unwrap() else {
                panic!("{scanned:?} is not a mark")
            };
            assert_eq!(m.serial, "5abcDEF+12/=");
            assert_eq!(m.code, full);
            assert_eq!(m.gtin.key(), "04601234567893");
        }
        let pack = "04601234567893-aB3cDeAAAA1x2Y";
        assert!(matches!(
            parse(pack),
            Ok(Code::Mark(Mark {
                form: MarkForm::TobaccoPack,
                ..
            }))
        ));
        // A bad tail is an error, not "other text".
        let err = parse("0104601234567893215abc\u{1d}91EE06").unwrap_err();
        assert_eq!(err, BarcodeError::Mark(MarkError::KeyWithoutCode));
    }

    #[test]
    fn gs1_without_a_tail_is_gs1() {
        let Code::Gs1(es) = parse("]C10104601234567893172512313103000355").unwrap() else {
            panic!()
        };
        assert_eq!(es.net_weight_kg(), Some(dec!(0.355)));
        assert_eq!(parse("]C10104601234567893").unwrap().catalog_key(), "04601234567893");
        assert!(matches!(parse("]C101046012345678901"), Err(BarcodeError::Gs1(_))));
    }

    #[test]
    fn gs_substitute_is_restored() {
        let rules = ScanRules {
            gs_substitute: Some('~'),
            ..ScanRules::default()
        };
        let scanned = full_mark().replace('\u{1d}', "~");
        assert!(matches!(parse_with(&scanned, &rules), Ok(Code::Mark(_))));
    }

    #[test]
    fn russian_layout_is_undone_only_when_that_parses() {
        let full = full_mark();
        let typed: String = to_russian(&full);
        assert!(typed.contains('ф') || typed.contains('Е'), "{typed}");
        let Code::Mark(m) = parse(&typed).unwrap() else {
            panic!("{typed:?}")
        };
        assert_eq!(m.code, full);
        // With an AIM prefix, which the layout mangles too (`]d2` → `ъв2`).
        let typed = to_russian(&format!("]d2{full}"));
        assert!(typed.starts_with("ъв2"));
        assert!(matches!(parse(&typed), Ok(Code::Mark(_))));
        // Russian text that maps to nothing meaningful stays as it was.
        assert_eq!(parse("Молоко").unwrap(), Code::Other("Молоко".into()));
        let off = ScanRules {
            layout_recovery: false,
            ..ScanRules::default()
        };
        assert!(parse_with(&to_russian(&full), &off).is_err());
    }

    #[test]
    fn cells_and_loyalty_cards_by_prefix_or_range() {
        let rules = ScanRules {
            cells: vec![CodeMatch::Prefix("C-".into())],
            loyalty: vec![CodeMatch::Range {
                from: "2770000000000".into(),
                to: "2779999999999".into(),
            }],
            ..ScanRules::default()
        };
        assert_eq!(parse_with("C-01-02-3", &rules).unwrap(), Code::Cell("C-01-02-3".into()));
        // Typed through the Russian layout, `C` is the Cyrillic `С`.
        assert_eq!(parse_with("С-01-02-3", &rules).unwrap(), Code::Cell("C-01-02-3".into()));
        assert_eq!(parse_with("2770000001236", &rules).unwrap(), Code::Loyalty("2770000001236".into()));
        // Outside the range, 27… is a scale label again.
        assert!(matches!(parse_with("2780000001235", &rules), Ok(Code::Embedded(_))));
    }

    #[test]
    fn catalog_key_keeps_bad_crm_barcodes_verbatim() {
        assert_eq!(catalog_key("4601234567890"), "4601234567890");
        assert_eq!(catalog_key("4601234567893"), "04601234567893");
        assert_eq!(catalog_key("2200123012500"), "02200123012500");
    }

    /// The Russian layout applied to text (the inverse of [`layout::to_qwerty`] on the keys
    /// that differ), written out here independently for the tests.
    fn to_russian(text: &str) -> String {
        const US: &str = "qwertyuiop[]asdfghjkl;'zxcvbnm,./`QWERTYUIOP{}ASDFGHJKL:\"ZXCVBNM<>?~@#$^&|";
        const RU: &str = "йцукенгшщзхъфывапролджэячсмитьбю.ёЙЦУКЕНГШЩЗХЪФЫВАПРОЛДЖЭЯЧСМИТЬБЮ,Ё\"№;:?/";
        text.chars()
            .map(|c| US.chars().position(|u| u == c).map_or(c, |i| RU.chars().nth(i).unwrap_or(c)))
            .collect()
    }

    proptest! {
        #[test]
        fn parse_never_panics(text in "\\PC{0,80}") {
            let _ = parse(&text);
        }

        #[test]
        fn gs1_shaped_text_never_panics(text in "(\\]d2)?(01[0-9]{14})?(21[!-~]{0,20})?\u{1d}?(9[1-3][!-~\u{430}-\u{44f}]{0,50})?") {
            let _ = parse(&text);
        }

        #[test]
        fn every_ean13_with_its_check_digit_parses(body in proptest::collection::vec(0u8..10, 12)) {
            let check = check_digit(&body);
            let text: String = body.iter().chain(std::iter::once(&check)).map(|d| char::from(b'0' + d)).collect();
            let none = ScanRules { embedded: vec![], ..ScanRules::default() };
            let Code::Gtin(gtin) = parse_with(&text, &none).unwrap() else { panic!("not a GTIN") };
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

        /// Any marking code typed through the Russian layout comes back exactly.
        #[test]
        fn mangled_marks_are_recovered(serial in "[A-Za-z0-9!%&*+,./:;<=>?_-]{6,13}", key in "[A-Za-z0-9]{4}", crypto in "[A-Za-z0-9+/=]{44}") {
            let full = format!("010460123456789321{serial}\u{1d}91{key}\u{1d}92{crypto}");
            let Code::Mark(m) = parse(&to_russian(&full)).unwrap() else { panic!("not a mark") };
            prop_assert_eq!(m.code, full);
        }
    }
}
