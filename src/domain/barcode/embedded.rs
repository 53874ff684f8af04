//! In-store EAN-13 codes with a weight or a price inside, as printed by shop scales.
//!
//! GS1 leaves the prefixes 20–29 to each company for "restricted circulation" numbers; shop
//! scales use them as `PP` prefix, item number (PLU) and a measured value, then the check
//! digit. The split is a setting of the scales, so it is configuration here: which prefixes,
//! how many PLU digits, whether the value is grams or kopecks.

use super::gtin::Gtin;
use rust_decimal::Decimal;

/// What the value field of a label holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmbeddedValue {
    /// Weight in grams; the line's quantity is kilograms with three decimals.
    Weight,
    /// Price of the package in kopecks.
    Price,
}

/// One label layout: `prefix (2) + PLU (plu_digits) + value (10 − plu_digits) + check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedLayout {
    pub prefixes: Vec<String>,
    pub plu_digits: usize,
    pub value: EmbeddedValue,
}

impl EmbeddedLayout {
    /// Scales out of the box: prefixes 20–29, five-digit PLU, five-digit weight in grams.
    pub fn default_weight() -> EmbeddedLayout {
        EmbeddedLayout {
            prefixes: (20..=29).map(|p| p.to_string()).collect(),
            plu_digits: 5,
            value: EmbeddedValue::Weight,
        }
    }

    /// A layout is usable when its prefixes are two digits and PLU and value both get at
    /// least one digit of the ten between prefix and check digit.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(p) = self
            .prefixes
            .iter()
            .find(|p| p.len() != 2 || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(format!("prefix \"{p}\" must be two digits (20–29 are GS1's in-store prefixes)"));
        }
        if !(1..=9).contains(&self.plu_digits) {
            return Err(format!("plu_digits = {}: must be 1–9 (usually 5)", self.plu_digits));
        }
        Ok(())
    }
}

/// A decoded scale label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Embedded {
    /// The label as a GTIN (the catalog may know it as an ordinary barcode).
    pub gtin: Gtin,
    pub prefix: String,
    /// The scale's item number, as printed (leading zeros kept).
    pub plu: String,
    pub value: EmbeddedValue,
    /// Kilograms (3 places) for a weight, rubles (2 places) for a price.
    pub amount: Decimal,
}

/// Decode a valid EAN-13 (`text`, 13 digits) with one of `layouts`, if its prefix is theirs.
pub fn decode(text: &str, gtin: Gtin, layouts: &[EmbeddedLayout]) -> Option<Embedded> {
    let prefix = text.get(..2)?;
    let layout = layouts.iter().find(|l| l.prefixes.iter().any(|p| p == prefix))?;
    let plu_end = 2 + layout.plu_digits;
    let plu = text.get(2..plu_end)?;
    let value: i64 = text.get(plu_end..12)?.parse().ok()?;
    let scale = match layout.value {
        EmbeddedValue::Weight => 3,
        EmbeddedValue::Price => 2,
    };
    Some(Embedded {
        gtin,
        prefix: prefix.to_string(),
        plu: plu.to_string(),
        value: layout.value,
        amount: Decimal::new(value, scale),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn weight_label() {
        let text = "2200123012500";
        let gtin = Gtin::parse(text).unwrap();
        let e = decode(text, gtin, &[EmbeddedLayout::default_weight()]).unwrap();
        assert_eq!((e.prefix.as_str(), e.plu.as_str(), e.amount), ("22", "00123", dec!(1.250)));
        assert_eq!(e.amount.to_string(), "1.250");
    }

    #[test]
    fn price_label_and_other_prefixes() {
        let layouts = [EmbeddedLayout {
            prefixes: vec!["27".into()],
            plu_digits: 4,
            value: EmbeddedValue::Price,
        }];
        let text = "2712340149902";
        let gtin = Gtin::parse(text).unwrap();
        let e = decode(text, gtin, &layouts).unwrap();
        assert_eq!((e.plu.as_str(), e.amount), ("1234", dec!(149.90)));
        let other = "4601234567893";
        assert_eq!(decode(other, Gtin::parse(other).unwrap(), &layouts), None);
    }

    #[test]
    fn layouts_are_validated() {
        assert!(EmbeddedLayout::default_weight().validate().is_ok());
        let mut bad = EmbeddedLayout::default_weight();
        bad.plu_digits = 10;
        assert!(bad.validate().unwrap_err().contains("plu_digits"));
        bad.plu_digits = 5;
        bad.prefixes = vec!["2".into()];
        assert!(bad.validate().unwrap_err().contains("two digits"));
    }
}
