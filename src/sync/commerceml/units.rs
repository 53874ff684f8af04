//! Units of measure: 1C names them by their ОКЕИ code (Общероссийский классификатор единиц
//! измерения: 796 штука, 166 килограмм…), storeterm by a short English word (`pcs`, `kg`).
//! One table serves both directions, so a sale goes back to 1C in the unit its item came in.

/// One unit both sides know.
pub struct Unit {
    /// ОКЕИ code, three digits as 1C writes it.
    pub code: &'static str,
    /// storeterm's name ([`Item::unit`](crate::domain::catalog::Item::unit)).
    pub ours: &'static str,
    /// 1C's short name (`НаименованиеКраткое`).
    pub short: &'static str,
    pub full: &'static str,
    /// `МеждународноеСокращение` (UN/ECE Recommendation 20).
    pub international: &'static str,
    /// Sold in fractions (weighed, poured, cut): the item is `weighted`.
    pub fractional: bool,
}

const fn u(
    code: &'static str,
    ours: &'static str,
    short: &'static str,
    full: &'static str,
    international: &'static str,
    fractional: bool,
) -> Unit {
    Unit {
        code,
        ours,
        short,
        full,
        international,
        fractional,
    }
}

pub const UNITS: &[Unit] = &[
    u("796", "pcs", "шт", "Штука", "PCE", false),
    u("166", "kg", "кг", "Килограмм", "KGM", true),
    u("163", "g", "г", "Грамм", "GRM", true),
    u("168", "t", "т", "Тонна", "TNE", true),
    u("112", "l", "л", "Литр", "LTR", true),
    u("006", "m", "м", "Метр", "MTR", true),
    u("055", "m2", "м2", "Квадратный метр", "MTK", true),
    u("113", "m3", "м3", "Кубический метр", "MTQ", true),
    u("715", "pair", "пар", "Пара (2 шт.)", "NPR", false),
    u("778", "pack", "упак", "Упаковка", "NMP", false),
    u("704", "set", "набор", "Набор", "SET", false),
    u("839", "kit", "компл", "Комплект", "KT", false),
    u("625", "sheet", "лист", "Лист", "LEF", false),
    u("736", "roll", "рул", "Рулон", "NPL", false),
];

/// The unit for a 1C code (`"796"`, `"796 "` — 1C pads some — or `"6"` for `006`).
pub fn by_code(code: &str) -> Option<&'static Unit> {
    let code = code.trim();
    if code.is_empty() || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let code = code.trim_start_matches('0');
    UNITS.iter().find(|u| u.code.trim_start_matches('0') == code)
}

/// The unit for a short or full Russian name as 1C prints it (`шт`, `кг.`, `Штука`).
pub fn by_name(name: &str) -> Option<&'static Unit> {
    let name = name.trim().trim_end_matches('.').to_lowercase();
    UNITS.iter().find(|u| u.short == name || u.full.to_lowercase() == name)
}

/// The unit for storeterm's name; pieces for anything unknown, which is how 1C reads a
/// missing unit too.
pub fn by_ours(ours: &str) -> &'static Unit {
    UNITS.iter().find(|u| u.ours == ours).unwrap_or(&UNITS[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_names_and_ours_agree() {
        assert_eq!(by_code("796 ").map(|u| u.ours), Some("pcs"));
        assert_eq!(by_code("006").map(|u| u.ours), Some("m"));
        assert_eq!(by_code("6").map(|u| u.ours), Some("m"));
        assert!(by_code("").is_none() && by_code("abc").is_none() && by_code("999").is_none());
        assert_eq!(by_name("кг.").map(|u| u.code), Some("166"));
        assert_eq!(by_name("Штука").map(|u| u.code), Some("796"));
        assert!(by_code("166").is_some_and(|u| u.fractional));
        assert!(!by_code("796").is_some_and(|u| u.fractional));
        for unit in UNITS {
            assert_eq!(by_ours(unit.ours).code, unit.code);
            assert_eq!(by_code(unit.code).map(|u| u.ours), Some(unit.ours));
        }
        assert_eq!(by_ours("bucket").code, "796");
    }
}
