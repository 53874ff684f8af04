//! Character tables for printers: Unicode text to the single-byte code page the printer was
//! told to use with `ESC t`.
//!
//! Our own tables, not a general-purpose encoding library: a character the page lacks must
//! become a close ASCII substitute or `?`, never an HTML entity (`&#1030;`) or garbage.
//! The upper halves come from the code pages' published charts (IBM CP866 for the first).

/// A single-byte code page: ASCII in the lower half, `upper[i]` at byte `0x80 + i`.
#[derive(Debug)]
pub struct CodeTable {
    pub name: &'static str,
    upper: [char; 128],
}

impl CodeTable {
    /// The byte for `c`, if this page has it.
    pub fn encode_char(&self, c: char) -> Option<u8> {
        if c.is_ascii() && !c.is_ascii_control() {
            return Some(c as u8);
        }
        // The placeholder of a byte the page leaves undefined is not a character it prints.
        if c == UNDEFINED {
            return None;
        }
        self.upper.iter().position(|&u| u == c).map(|i| 0x80 + i as u8)
    }

    /// The character a byte stands for (control bytes come back as themselves).
    pub fn decode(&self, byte: u8) -> char {
        if byte < 0x80 {
            char::from(byte)
        } else {
            self.upper[usize::from(byte - 0x80)]
        }
    }
}

/// Look a table up by the name profiles use (`cp866`).
pub fn table(name: &str) -> Option<&'static CodeTable> {
    TABLES.iter().copied().find(|t| t.name == name)
}

/// Every table storeterm has, by the name profiles use.
pub static TABLES: &[&CodeTable] = &[&CP866, &WIN1251, &CP855, &CP1125, &KZ1048];

/// Stands in the tables for a byte the code page leaves undefined.
const UNDEFINED: char = '\u{fffd}';

/// Close substitutes for characters that are common in catalog names but missing from the
/// DOS-era pages: typographic quotes and dashes, the ellipsis.
pub fn substitute(c: char) -> Option<&'static str> {
    Some(match c {
        '«' | '»' | '„' | '“' | '”' => "\"",
        '‘' | '’' | '‚' => "'",
        '–' | '—' | '−' | '‑' => "-",
        '…' => "...",
        '\u{a0}' | '\u{2009}' | '\u{202f}' => " ",
        '×' => "x",
        _ => return None,
    })
}

/// Encode `text` into `out` using `table`. `ruble` is what `₽` prints as (profile setting,
/// `руб.` by default, since few printers have the sign). Control characters become spaces so
/// a stray newline in a catalog name cannot break the layout.
pub fn encode_into(text: &str, table: &CodeTable, ruble: &str, out: &mut Vec<u8>) {
    for c in text.chars() {
        if let Some(b) = table.encode_char(c) {
            out.push(b);
        } else if c == '₽' {
            encode_into(ruble, table, "", out);
        } else if c.is_control() {
            out.push(b' ');
        } else if let Some(s) = substitute(c) {
            out.extend_from_slice(s.as_bytes());
        } else {
            out.push(b'?');
        }
    }
}

/// IBM code page 866, "Cyrillic (DOS)": the page most receipt printers call PC866.
pub static CP866: CodeTable = CodeTable {
    name: "cp866",
    upper: [
        '\u{0410}', '\u{0411}', '\u{0412}', '\u{0413}', '\u{0414}', '\u{0415}', '\u{0416}', '\u{0417}', // 0x80
        '\u{0418}', '\u{0419}', '\u{041a}', '\u{041b}', '\u{041c}', '\u{041d}', '\u{041e}', '\u{041f}', // 0x88
        '\u{0420}', '\u{0421}', '\u{0422}', '\u{0423}', '\u{0424}', '\u{0425}', '\u{0426}', '\u{0427}', // 0x90
        '\u{0428}', '\u{0429}', '\u{042a}', '\u{042b}', '\u{042c}', '\u{042d}', '\u{042e}', '\u{042f}', // 0x98
        '\u{0430}', '\u{0431}', '\u{0432}', '\u{0433}', '\u{0434}', '\u{0435}', '\u{0436}', '\u{0437}', // 0xA0
        '\u{0438}', '\u{0439}', '\u{043a}', '\u{043b}', '\u{043c}', '\u{043d}', '\u{043e}', '\u{043f}', // 0xA8
        '\u{2591}', '\u{2592}', '\u{2593}', '\u{2502}', '\u{2524}', '\u{2561}', '\u{2562}', '\u{2556}', // 0xB0
        '\u{2555}', '\u{2563}', '\u{2551}', '\u{2557}', '\u{255d}', '\u{255c}', '\u{255b}', '\u{2510}', // 0xB8
        '\u{2514}', '\u{2534}', '\u{252c}', '\u{251c}', '\u{2500}', '\u{253c}', '\u{255e}', '\u{255f}', // 0xC0
        '\u{255a}', '\u{2554}', '\u{2569}', '\u{2566}', '\u{2560}', '\u{2550}', '\u{256c}', '\u{2567}', // 0xC8
        '\u{2568}', '\u{2564}', '\u{2565}', '\u{2559}', '\u{2558}', '\u{2552}', '\u{2553}', '\u{256b}', // 0xD0
        '\u{256a}', '\u{2518}', '\u{250c}', '\u{2588}', '\u{2584}', '\u{258c}', '\u{2590}', '\u{2580}', // 0xD8
        '\u{0440}', '\u{0441}', '\u{0442}', '\u{0443}', '\u{0444}', '\u{0445}', '\u{0446}', '\u{0447}', // 0xE0
        '\u{0448}', '\u{0449}', '\u{044a}', '\u{044b}', '\u{044c}', '\u{044d}', '\u{044e}', '\u{044f}', // 0xE8
        '\u{0401}', '\u{0451}', '\u{0404}', '\u{0454}', '\u{0407}', '\u{0457}', '\u{040e}', '\u{045e}', // 0xF0
        '\u{00b0}', '\u{2219}', '\u{00b7}', '\u{221a}', '\u{2116}', '\u{00a4}', '\u{25a0}', '\u{00a0}', // 0xF8
    ],
};

/// Windows-1251, "Cyrillic (Windows)": Epson's WPC1251.
pub static WIN1251: CodeTable = CodeTable {
    name: "win1251",
    upper: [
        '\u{0402}', '\u{0403}', '\u{201a}', '\u{0453}', '\u{201e}', '\u{2026}', '\u{2020}', '\u{2021}', // 0x80
        '\u{20ac}', '\u{2030}', '\u{0409}', '\u{2039}', '\u{040a}', '\u{040c}', '\u{040b}', '\u{040f}', // 0x88
        '\u{0452}', '\u{2018}', '\u{2019}', '\u{201c}', '\u{201d}', '\u{2022}', '\u{2013}', '\u{2014}', // 0x90
        '\u{fffd}', '\u{2122}', '\u{0459}', '\u{203a}', '\u{045a}', '\u{045c}', '\u{045b}', '\u{045f}', // 0x98
        '\u{00a0}', '\u{040e}', '\u{045e}', '\u{0408}', '\u{00a4}', '\u{0490}', '\u{00a6}', '\u{00a7}', // 0xA0
        '\u{0401}', '\u{00a9}', '\u{0404}', '\u{00ab}', '\u{00ac}', '\u{00ad}', '\u{00ae}', '\u{0407}', // 0xA8
        '\u{00b0}', '\u{00b1}', '\u{0406}', '\u{0456}', '\u{0491}', '\u{00b5}', '\u{00b6}', '\u{00b7}', // 0xB0
        '\u{0451}', '\u{2116}', '\u{0454}', '\u{00bb}', '\u{0458}', '\u{0405}', '\u{0455}', '\u{0457}', // 0xB8
        '\u{0410}', '\u{0411}', '\u{0412}', '\u{0413}', '\u{0414}', '\u{0415}', '\u{0416}', '\u{0417}', // 0xC0
        '\u{0418}', '\u{0419}', '\u{041a}', '\u{041b}', '\u{041c}', '\u{041d}', '\u{041e}', '\u{041f}', // 0xC8
        '\u{0420}', '\u{0421}', '\u{0422}', '\u{0423}', '\u{0424}', '\u{0425}', '\u{0426}', '\u{0427}', // 0xD0
        '\u{0428}', '\u{0429}', '\u{042a}', '\u{042b}', '\u{042c}', '\u{042d}', '\u{042e}', '\u{042f}', // 0xD8
        '\u{0430}', '\u{0431}', '\u{0432}', '\u{0433}', '\u{0434}', '\u{0435}', '\u{0436}', '\u{0437}', // 0xE0
        '\u{0438}', '\u{0439}', '\u{043a}', '\u{043b}', '\u{043c}', '\u{043d}', '\u{043e}', '\u{043f}', // 0xE8
        '\u{0440}', '\u{0441}', '\u{0442}', '\u{0443}', '\u{0444}', '\u{0445}', '\u{0446}', '\u{0447}', // 0xF0
        '\u{0448}', '\u{0449}', '\u{044a}', '\u{044b}', '\u{044c}', '\u{044d}', '\u{044e}', '\u{044f}', // 0xF8
    ],
};

/// IBM code page 855, "Cyrillic (DOS, all Slavic)": has Belarusian, Ukrainian and Serbian letters.
pub static CP855: CodeTable = CodeTable {
    name: "cp855",
    upper: [
        '\u{0452}', '\u{0402}', '\u{0453}', '\u{0403}', '\u{0451}', '\u{0401}', '\u{0454}', '\u{0404}', // 0x80
        '\u{0455}', '\u{0405}', '\u{0456}', '\u{0406}', '\u{0457}', '\u{0407}', '\u{0458}', '\u{0408}', // 0x88
        '\u{0459}', '\u{0409}', '\u{045a}', '\u{040a}', '\u{045b}', '\u{040b}', '\u{045c}', '\u{040c}', // 0x90
        '\u{045e}', '\u{040e}', '\u{045f}', '\u{040f}', '\u{044e}', '\u{042e}', '\u{044a}', '\u{042a}', // 0x98
        '\u{0430}', '\u{0410}', '\u{0431}', '\u{0411}', '\u{0446}', '\u{0426}', '\u{0434}', '\u{0414}', // 0xA0
        '\u{0435}', '\u{0415}', '\u{0444}', '\u{0424}', '\u{0433}', '\u{0413}', '\u{00ab}', '\u{00bb}', // 0xA8
        '\u{2591}', '\u{2592}', '\u{2593}', '\u{2502}', '\u{2524}', '\u{0445}', '\u{0425}', '\u{0438}', // 0xB0
        '\u{0418}', '\u{2563}', '\u{2551}', '\u{2557}', '\u{255d}', '\u{0439}', '\u{0419}', '\u{2510}', // 0xB8
        '\u{2514}', '\u{2534}', '\u{252c}', '\u{251c}', '\u{2500}', '\u{253c}', '\u{043a}', '\u{041a}', // 0xC0
        '\u{255a}', '\u{2554}', '\u{2569}', '\u{2566}', '\u{2560}', '\u{2550}', '\u{256c}', '\u{00a4}', // 0xC8
        '\u{043b}', '\u{041b}', '\u{043c}', '\u{041c}', '\u{043d}', '\u{041d}', '\u{043e}', '\u{041e}', // 0xD0
        '\u{043f}', '\u{2518}', '\u{250c}', '\u{2588}', '\u{2584}', '\u{041f}', '\u{044f}', '\u{2580}', // 0xD8
        '\u{042f}', '\u{0440}', '\u{0420}', '\u{0441}', '\u{0421}', '\u{0442}', '\u{0422}', '\u{0443}', // 0xE0
        '\u{0423}', '\u{0436}', '\u{0416}', '\u{0432}', '\u{0412}', '\u{044c}', '\u{042c}', '\u{2116}', // 0xE8
        '\u{00ad}', '\u{044b}', '\u{042b}', '\u{0437}', '\u{0417}', '\u{0448}', '\u{0428}', '\u{044d}', // 0xF0
        '\u{042d}', '\u{0449}', '\u{0429}', '\u{0447}', '\u{0427}', '\u{00a7}', '\u{25a0}', '\u{00a0}', // 0xF8
    ],
};

/// Code page 1125 (RUSCII), "Ukrainian (DOS)": CP866 with Ґ Є І Ї in place of Ў/ў and some signs.
pub static CP1125: CodeTable = CodeTable {
    name: "cp1125",
    upper: [
        '\u{0410}', '\u{0411}', '\u{0412}', '\u{0413}', '\u{0414}', '\u{0415}', '\u{0416}', '\u{0417}', // 0x80
        '\u{0418}', '\u{0419}', '\u{041a}', '\u{041b}', '\u{041c}', '\u{041d}', '\u{041e}', '\u{041f}', // 0x88
        '\u{0420}', '\u{0421}', '\u{0422}', '\u{0423}', '\u{0424}', '\u{0425}', '\u{0426}', '\u{0427}', // 0x90
        '\u{0428}', '\u{0429}', '\u{042a}', '\u{042b}', '\u{042c}', '\u{042d}', '\u{042e}', '\u{042f}', // 0x98
        '\u{0430}', '\u{0431}', '\u{0432}', '\u{0433}', '\u{0434}', '\u{0435}', '\u{0436}', '\u{0437}', // 0xA0
        '\u{0438}', '\u{0439}', '\u{043a}', '\u{043b}', '\u{043c}', '\u{043d}', '\u{043e}', '\u{043f}', // 0xA8
        '\u{2591}', '\u{2592}', '\u{2593}', '\u{2502}', '\u{2524}', '\u{2561}', '\u{2562}', '\u{2556}', // 0xB0
        '\u{2555}', '\u{2563}', '\u{2551}', '\u{2557}', '\u{255d}', '\u{255c}', '\u{255b}', '\u{2510}', // 0xB8
        '\u{2514}', '\u{2534}', '\u{252c}', '\u{251c}', '\u{2500}', '\u{253c}', '\u{255e}', '\u{255f}', // 0xC0
        '\u{255a}', '\u{2554}', '\u{2569}', '\u{2566}', '\u{2560}', '\u{2550}', '\u{256c}', '\u{2567}', // 0xC8
        '\u{2568}', '\u{2564}', '\u{2565}', '\u{2559}', '\u{2558}', '\u{2552}', '\u{2553}', '\u{256b}', // 0xD0
        '\u{256a}', '\u{2518}', '\u{250c}', '\u{2588}', '\u{2584}', '\u{258c}', '\u{2590}', '\u{2580}', // 0xD8
        '\u{0440}', '\u{0441}', '\u{0442}', '\u{0443}', '\u{0444}', '\u{0445}', '\u{0446}', '\u{0447}', // 0xE0
        '\u{0448}', '\u{0449}', '\u{044a}', '\u{044b}', '\u{044c}', '\u{044d}', '\u{044e}', '\u{044f}', // 0xE8
        '\u{0401}', '\u{0451}', '\u{0490}', '\u{0491}', '\u{0404}', '\u{0454}', '\u{0406}', '\u{0456}', // 0xF0
        '\u{0407}', '\u{0457}', '\u{00b7}', '\u{221a}', '\u{2116}', '\u{00a4}', '\u{25a0}', '\u{00a0}', // 0xF8
    ],
};

/// KZ-1048 (STRK1048-2002), "Kazakh": Windows-1251 with the Kazakh letters Ә Ғ Қ Ң Ө Ұ Ү Һ І.
pub static KZ1048: CodeTable = CodeTable {
    name: "kz1048",
    upper: [
        '\u{0402}', '\u{0403}', '\u{201a}', '\u{0453}', '\u{201e}', '\u{2026}', '\u{2020}', '\u{2021}', // 0x80
        '\u{20ac}', '\u{2030}', '\u{0409}', '\u{2039}', '\u{040a}', '\u{049a}', '\u{04ba}', '\u{040f}', // 0x88
        '\u{0452}', '\u{2018}', '\u{2019}', '\u{201c}', '\u{201d}', '\u{2022}', '\u{2013}', '\u{2014}', // 0x90
        '\u{fffd}', '\u{2122}', '\u{0459}', '\u{203a}', '\u{045a}', '\u{049b}', '\u{04bb}', '\u{045f}', // 0x98
        '\u{00a0}', '\u{04b0}', '\u{04b1}', '\u{04d8}', '\u{00a4}', '\u{04e8}', '\u{00a6}', '\u{00a7}', // 0xA0
        '\u{0401}', '\u{00a9}', '\u{0492}', '\u{00ab}', '\u{00ac}', '\u{00ad}', '\u{00ae}', '\u{04ae}', // 0xA8
        '\u{00b0}', '\u{00b1}', '\u{0406}', '\u{0456}', '\u{04e9}', '\u{00b5}', '\u{00b6}', '\u{00b7}', // 0xB0
        '\u{0451}', '\u{2116}', '\u{0493}', '\u{00bb}', '\u{04d9}', '\u{04a2}', '\u{04a3}', '\u{04af}', // 0xB8
        '\u{0410}', '\u{0411}', '\u{0412}', '\u{0413}', '\u{0414}', '\u{0415}', '\u{0416}', '\u{0417}', // 0xC0
        '\u{0418}', '\u{0419}', '\u{041a}', '\u{041b}', '\u{041c}', '\u{041d}', '\u{041e}', '\u{041f}', // 0xC8
        '\u{0420}', '\u{0421}', '\u{0422}', '\u{0423}', '\u{0424}', '\u{0425}', '\u{0426}', '\u{0427}', // 0xD0
        '\u{0428}', '\u{0429}', '\u{042a}', '\u{042b}', '\u{042c}', '\u{042d}', '\u{042e}', '\u{042f}', // 0xD8
        '\u{0430}', '\u{0431}', '\u{0432}', '\u{0433}', '\u{0434}', '\u{0435}', '\u{0436}', '\u{0437}', // 0xE0
        '\u{0438}', '\u{0439}', '\u{043a}', '\u{043b}', '\u{043c}', '\u{043d}', '\u{043e}', '\u{043f}', // 0xE8
        '\u{0440}', '\u{0441}', '\u{0442}', '\u{0443}', '\u{0444}', '\u{0445}', '\u{0446}', '\u{0447}', // 0xF0
        '\u{0448}', '\u{0449}', '\u{044a}', '\u{044b}', '\u{044c}', '\u{044d}', '\u{044e}', '\u{044f}', // 0xF8
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(text: &str) -> Vec<u8> {
        let mut out = Vec::new();
        encode_into(text, &CP866, "руб.", &mut out);
        out
    }

    #[test]
    fn cyrillic_in_cp866() {
        assert_eq!(encode("АЯаяпрЁё№"), vec![0x80, 0x9F, 0xA0, 0xEF, 0xAF, 0xE0, 0xF0, 0xF1, 0xFC]);
        assert_eq!(
            encode("Молоко 3,2%"),
            vec![0x8C, 0xAE, 0xAB, 0xAE, 0xAA, 0xAE, b' ', b'3', b',', b'2', b'%']
        );
    }

    #[test]
    fn missing_characters_degrade_gracefully() {
        assert_eq!(encode("«Ромашка»—1…"), [&b"\""[..], &encode("Ромашка"), b"\"-1..."].concat());
        assert_eq!(encode("100₽"), [&b"100"[..], &encode("руб.")].concat());
        assert_eq!(encode("漢\n"), b"? ".to_vec());
    }

    #[test]
    fn every_upper_byte_round_trips() {
        for table in TABLES {
            for b in 0x80..=0xFFu8 {
                let c = table.decode(b);
                if c != UNDEFINED {
                    assert_eq!(table.encode_char(c), Some(b), "{} {b:#x}", table.name);
                }
            }
            assert_eq!(table.encode_char(UNDEFINED), None);
        }
    }

    #[test]
    fn the_pages_that_have_belarusian_and_kazakh_letters() {
        let has = |t: &CodeTable, s: &str| s.chars().all(|c| t.encode_char(c).is_some());
        // Belarusian і ў: CP866 lacks і; WIN1251, CP855 and KZ-1048 have both.
        assert!(!has(&CP866, "іў"));
        assert!(has(&WIN1251, "іўІЎ") && has(&CP855, "іўІЎ") && has(&KZ1048, "іІ"));
        // Ukrainian ґ є ї: CP1125 and WIN1251.
        assert!(has(&CP1125, "ҐґЄєІіЇї") && has(&WIN1251, "ҐґЄєІіЇї"));
        // Kazakh: only KZ-1048.
        let kazakh = "ӘәҒғҚқҢңӨөҰұҮүҺһІі";
        assert!(has(&KZ1048, kazakh));
        assert!(!has(&WIN1251, kazakh) && !has(&CP866, kazakh));
        assert_eq!(WIN1251.encode_char('Ж'), Some(0xC6));
        assert_eq!(KZ1048.encode_char('Қ'), Some(0x8D));
        assert_eq!(CP1125.encode_char('і'), Some(0xF7));
        assert_eq!(CP855.encode_char('ў'), Some(0x98));
    }
}
