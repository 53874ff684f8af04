//! AIM symbology identifiers (ISO/IEC 15424): `]` + a code character + a modifier, sent by
//! a scanner in front of the data when it is configured to (Honeywell "AIM ID", Zebra
//! "Symbology ID: AIM"). They tell what kind of symbol was read, which text alone cannot:
//! a GS1 DataMatrix whose leading FNC1 a scanner dropped looks like any other text, but
//! `]d2` says it is GS1.

/// A parsed AIM identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AimId {
    /// The symbology code character (`E` EAN/UPC, `C` Code 128, `d` Data Matrix, `Q` QR, …).
    pub symbology: char,
    pub modifier: char,
}

impl AimId {
    /// Is the data a GS1 element string? ISO/IEC 15424 modifiers for "FNC1 in first
    /// position": `]C1` GS1-128, `]d2` GS1 DataMatrix, `]Q3` GS1 QR Code, `]e0` GS1 DataBar,
    /// `]J1` GS1 DotCode.
    pub fn is_gs1(&self) -> bool {
        matches!(
            (self.symbology, self.modifier),
            ('C', '1') | ('d', '2') | ('Q', '3') | ('e', '0') | ('J', '1')
        )
    }

    /// `]E0`: EAN-13, UPC-A or UPC-E (as opposed to `]E4`, EAN-8).
    pub fn is_ean13_family(&self) -> bool {
        self.symbology == 'E' && self.modifier == '0'
    }
}

impl std::fmt::Display for AimId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "]{}{}", self.symbology, self.modifier)
    }
}

/// Split an AIM identifier off the front of `text`, if there is one. The code character is
/// an ASCII letter and the modifier an ASCII letter or digit; anything else is data.
pub fn strip(text: &str) -> (Option<AimId>, &str) {
    let b = text.as_bytes();
    if b.len() >= 3 && b[0] == b']' && b[1].is_ascii_alphabetic() && b[2].is_ascii_alphanumeric() {
        let id = AimId {
            symbology: char::from(b[1]),
            modifier: char::from(b[2]),
        };
        (Some(id), &text[3..])
    } else {
        (None, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_split_off() {
        let (id, rest) = strip("]E04601234567893");
        assert_eq!(id.unwrap().to_string(), "]E0");
        assert!(id.unwrap().is_ean13_family());
        assert_eq!(rest, "4601234567893");
        let (id, rest) = strip("]d2010460123456789321abc");
        assert!(id.unwrap().is_gs1());
        assert_eq!(rest, "010460123456789321abc");
        assert_eq!(strip("]"), (None, "]"));
        assert_eq!(strip("]]12"), (None, "]]12"));
        assert_eq!(strip("]Щ1x"), (None, "]Щ1x"));
    }
}
