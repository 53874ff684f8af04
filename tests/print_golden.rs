//! Every printer profile, byte for byte: golden files in tests/golden/ (one per profile), and a
//! round trip of the same bytes through the independent reader in tests/common/escpos_reader.rs,
//! which checks what a printer would actually do with them.
//!
//! After an intended change of the output, rewrite the golden files with
//! `STORETERM_UPDATE_GOLDEN=1 cargo test --test print_golden` and review the diff.

mod common;

use common::escpos_reader::{self, Op};
use proptest::prelude::*;
use storeterm::config::ShopConfig;
use storeterm::devices::printer::escpos::{EscPos, Font, Symbology};
use storeterm::devices::printer::layout::{self, Letterhead, SaleOptions};
use storeterm::devices::printer::pages::{self, ShiftReport};
use storeterm::devices::printer::profile::PrinterProfile;
use storeterm::devices::printer::sample;
use storeterm::devices::profiles::Profiles;

const QR_TEXT: &str = "https://shop.example/r/0190";

fn shop() -> ShopConfig {
    ShopConfig {
        name: "Магазин у дома".into(),
        address: "ул. Ленина, 1".into(),
        inn: "7701234567".into(),
        header: vec!["Тел. +7 495 123-45-67".into()],
        footer: vec!["Спасибо за покупку!".into()],
        timezone: Some("Europe/Moscow".into()),
    }
}

fn at() -> jiff::Timestamp {
    "2026-03-02T09:15:00Z".parse().unwrap()
}

/// The pages a profile names, for the reader.
fn pages_of(profile: &PrinterProfile) -> Vec<(u8, &'static str)> {
    profile
        .code_pages()
        .into_iter()
        .map(|(table, select)| (select, table.name))
        .collect()
}

/// The golden document of a profile: a sale receipt with the drawer kick, then the
/// encoder's other commands (underline, font B, barcodes, QR) and the cut.
fn document(profile: &PrinterProfile) -> Vec<u8> {
    let shop = shop();
    let tz = jiff::tz::TimeZone::get("Europe/Moscow").unwrap();
    let head = Letterhead { shop: &shop, tz: &tz };
    let options = SaleOptions {
        kick_drawer: true,
        copy: false,
    };
    let mut bytes = layout::sale_receipt(&sample::sale(5, at()), &head, profile, options);
    let mut p = EscPos::new(profile.text_setup());
    p.init().underline(1).line("Подчёркнуто").underline(0);
    p.font(Font::B).line("Шрифт B").font(Font::A);
    p.barcode(Symbology::Ean13, "4601234567893", 60, 2).unwrap();
    p.barcode(Symbology::Code128, "R-0190-7", 60, 2).unwrap();
    p.qr(QR_TEXT, 4, profile.features.qr, profile.features.raster_band).unwrap();
    layout::end_of_paper(&mut p, profile);
    bytes.extend(p.finish());
    bytes
}

fn profiles() -> Profiles {
    Profiles::load(None).unwrap()
}

#[test]
fn every_profile_prints_its_golden_bytes() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let update = std::env::var_os("STORETERM_UPDATE_GOLDEN").is_some();
    let mut checked = 0;
    for (id, profile) in &profiles().printers {
        let bytes = document(profile);
        let path = dir.join(format!("{id}.bin"));
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        }
        let golden = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run with STORETERM_UPDATE_GOLDEN=1)", path.display()));
        assert!(golden == bytes, "{id}: output differs from {}", path.display());
        checked += 1;
    }
    assert!(checked >= 18, "only {checked} profiles");
}

/// What the reader must see for `text` on a printer with `pages`: each character as itself
/// when one of the pages has it, typographic quotes as `"`, anything else as `?`.
fn expected(text: &str, pages: &[(u8, &str)]) -> String {
    let tables: Vec<Vec<char>> = pages
        .iter()
        .map(|(n, _)| {
            let ops = escpos_reader::read(&[&[0x1B, b't', *n][..], &(0x80..=0xFFu8).collect::<Vec<_>>()].concat(), pages);
            escpos_reader::lines(&ops).concat().chars().collect()
        })
        .collect();
    text.chars()
        .map(|c| match c {
            _ if c.is_ascii() => c,
            _ if tables.iter().any(|t| t.contains(&c)) => c,
            '«' | '»' => '"',
            _ => '?',
        })
        .collect()
}

#[test]
fn every_profile_round_trips_through_an_independent_reader() {
    for (id, profile) in &profiles().printers {
        let pages = pages_of(profile);
        let ops = escpos_reader::read(&document(profile), &pages);
        assert!(!ops.iter().any(|op| matches!(op, Op::Unknown(_))), "{id}: unknown bytes {ops:?}");
        // Every ESC @ is followed by FS . (where the profile says) and the profile's ESC t.
        for (k, op) in ops.iter().enumerate() {
            if *op == Op::Init {
                let mut next = ops[k + 1..].iter();
                if profile.codepage.cancel_chinese {
                    assert_eq!(next.next(), Some(&Op::CancelChinese), "{id}");
                }
                assert_eq!(next.next(), Some(&Op::SelectPage(profile.codepage.select)), "{id}");
            }
        }
        let lines = escpos_reader::lines(&ops);
        let width = profile.columns;
        for line in &lines {
            assert!(line.chars().count() <= width, "{id}: {line:?} is wider than {width}");
            assert!(!line.contains('\u{fffd}'), "{id}: garbage in {line:?}");
            assert!(!line.contains("&#"), "{id}: an HTML entity in {line:?}");
        }
        let has = |want: &str| lines.iter().any(|l| l == want);
        assert!(has(&expected("1. Молоко 3,2% 1 л", &pages)), "{id}: {lines:?}");
        assert!(has(&expected("3. Кофе «Арабика» 95 г", &pages)), "{id}: {lines:?}");
        assert!(has(&expected("4. Сыр Беларускі і ў", &pages)), "{id}: {lines:?}");
        assert!(has(&expected("5. Құрт қазақша ә ғ", &pages)), "{id}: {lines:?}");
        assert!(
            lines.iter().any(|l| l.starts_with("ИТОГО") && l.ends_with("=2040.90")),
            "{id}: {lines:?}"
        );
        assert!(has("Подчёркнуто") && has("Шрифт B"), "{id}");
        // The drawer on pin 2 for 50/500 ms, the barcodes, the QR code (native or raster).
        assert!(
            ops.contains(&Op::Drawer {
                pin: 2,
                on_ms: 50,
                off_ms: 500
            }),
            "{id}"
        );
        assert!(
            ops.contains(&Op::Barcode {
                kind: 67,
                data: b"4601234567893".to_vec()
            }),
            "{id}"
        );
        assert!(
            ops.contains(&Op::Barcode {
                kind: 73,
                data: b"{BR-0190-7".to_vec()
            }),
            "{id}"
        );
        if profile.features.qr {
            assert!(
                ops.contains(&Op::Qr {
                    data: QR_TEXT.as_bytes().to_vec(),
                    module: 4
                }),
                "{id}"
            );
        } else {
            let bands: Vec<(usize, usize)> = ops
                .iter()
                .filter_map(|op| match op {
                    Op::Raster { width_bytes, rows } => Some((*width_bytes, *rows)),
                    _ => None,
                })
                .collect();
            assert!(bands.len() > 1, "{id}: a QR code as raster bands");
            assert!(
                bands.iter().all(|(_, rows)| *rows <= usize::from(profile.features.raster_band)),
                "{id}"
            );
            assert!(
                bands.iter().all(|(w, _)| *w * 8 <= usize::from(profile.dots)),
                "{id}: image wider than the head"
            );
        }
        // A line feed before each cut, so the last line is printed, not left in the buffer.
        let cuts: Vec<usize> = ops
            .iter()
            .enumerate()
            .filter(|(_, op)| matches!(op, Op::Cut { .. }))
            .map(|(k, _)| k)
            .collect();
        if profile.cut.cutter {
            assert_eq!(cuts.len(), 2, "{id}");
            for k in cuts {
                assert!(matches!(&ops[k - 1], Op::Line { text, .. } if text.is_empty()), "{id}");
            }
        } else {
            assert!(cuts.is_empty(), "{id}: no cutter, no cut command");
        }
    }
}

#[test]
fn a_copy_is_marked_and_reports_and_test_pages_read_back() {
    let profiles = profiles();
    let profile = profiles.printer("generic-80mm").unwrap();
    let shop = shop();
    let tz = jiff::tz::TimeZone::get("Europe/Moscow").unwrap();
    let head = Letterhead { shop: &shop, tz: &tz };
    let pages = pages_of(profile);
    let sale = sample::sale(3, at());
    let copy = layout::sale_receipt(
        &sale,
        &head,
        profile,
        SaleOptions {
            kick_drawer: false,
            copy: true,
        },
    );
    let lines = escpos_reader::lines(&escpos_reader::read(&copy, &pages));
    let title = lines.iter().position(|l| l.contains("ТОВАРНЫЙ ЧЕК № 7")).unwrap();
    assert!(lines[title - 1].contains("КОПИЯ"), "{lines:?}");

    // The Z report: totals by payment method and by VAT rate.
    let mut shift = storeterm::domain::shift::Shift::new(uuid::Uuid::from_u128(2), 3, "1", "Анна", at());
    shift.record_sale(&sale).unwrap();
    shift.closed_at = Some(at());
    let z = pages::shift_report(ShiftReport::Z, &shift, std::slice::from_ref(&sale), &head, profile, at());
    let lines = escpos_reader::lines(&escpos_reader::read(&z, &pages));
    let find = |label: &str| lines.iter().find(|l| l.starts_with(label)).cloned().unwrap_or_default();
    assert!(lines.iter().any(|l| l.contains("ОТЧЁТ О ЗАКРЫТИИ СМЕНЫ (Z)")), "{lines:?}");
    assert!(find("Продажи").ends_with(&sale.total.to_string()), "{lines:?}");
    assert!(find("  Банковской картой").ends_with(&sale.total.to_string()), "{lines:?}");
    assert!(find("  Наличными").ends_with("0.00"), "{lines:?}");
    assert!(find("В т.ч. НДС 10%").ends_with("18.08"), "{lines:?}");
    assert!(find("В т.ч. НДС 20%").ends_with("214.50"), "{lines:?}");

    // The code-page test page shows the samples readably on a profile with a KZ-1048 page.
    let t20 = profiles.printer("epson-tm-t20iii").unwrap();
    let lines = escpos_reader::lines(&escpos_reader::read(&pages::codepage_test_page(t20), &pages_of(t20)));
    assert!(lines.contains(&"Қазақша: ә ғ қ ң ө ұ ү һ".to_string()), "{lines:?}");
    assert!(lines.contains(&"Беларуская: і ў І Ў".to_string()), "{lines:?}");
    assert!(lines.contains(&"Знаки: № « » — руб.".to_string()), "{lines:?}");
    // Ukrainian ґ is on neither of its first two pages; the WPC1251 fallback prints it.
    assert!(lines.contains(&"Українська: ґ є ї Ґ Є Ї".to_string()), "{lines:?}");
    // A profile without such a fallback still prints `?`, never garbage.
    let generic = profiles.printer("generic-80mm").unwrap();
    let lines = escpos_reader::lines(&escpos_reader::read(&pages::codepage_test_page(generic), &pages_of(generic)));
    assert!(lines.contains(&"Українська: ? є ї ? Є Ї".to_string()), "{lines:?}");
}

/// The profiles whose new layouts have golden files: both paper widths and a 42-column head.
const LAYOUT_PROFILES: &[&str] = &["generic-80mm", "generic-58mm", "epson-tm-t88v"];

/// The new layouts of the sample shift, by name.
fn layouts(profile: &PrinterProfile) -> Vec<(&'static str, Vec<u8>)> {
    let shop = shop();
    let tz = jiff::tz::TimeZone::get("Europe/Moscow").unwrap();
    let head = Letterhead { shop: &shop, tz: &tz };
    let s = sample::shift(at()).unwrap();
    let kick = SaleOptions {
        kick_drawer: true,
        copy: false,
    };
    vec![
        ("sale_discounts", layout::sale_receipt(&s.sale, &head, profile, kick)),
        ("return", layout::return_receipt(&s.ret, &head, profile, kick)),
        ("cash_in", layout::cash_slip(&s.cash_in, &head, profile, kick)),
        (
            "cash_out",
            layout::cash_slip(
                &s.cash_out,
                &head,
                profile,
                SaleOptions {
                    kick_drawer: true,
                    copy: true,
                },
            ),
        ),
        ("x_report", pages::shift_report(ShiftReport::X, &s.open, &[], &head, profile, at())),
        (
            "z_report",
            pages::shift_report(ShiftReport::Z, &s.closed, &[], &head, profile, at()),
        ),
    ]
}

/// Golden bytes of the new layouts (`tests/golden/layouts/<profile>/<layout>.bin`), each with
/// the text an independent reader makes of them (`.txt`) so a change can be reviewed as text.
#[test]
fn new_layouts_print_their_golden_bytes() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/layouts");
    let update = std::env::var_os("STORETERM_UPDATE_GOLDEN").is_some();
    let profiles = profiles();
    for id in LAYOUT_PROFILES {
        let profile = profiles.printer(id).unwrap();
        let pages = pages_of(profile);
        for (name, bytes) in layouts(profile) {
            let text = escpos_reader::lines(&escpos_reader::read(&bytes, &pages)).join("\n") + "\n";
            let path = dir.join(id).join(format!("{name}.bin"));
            if update {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &bytes).unwrap();
                std::fs::write(path.with_extension("txt"), &text).unwrap();
            }
            let golden = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run with STORETERM_UPDATE_GOLDEN=1)", path.display()));
            assert!(golden == bytes, "{id}/{name}: output differs from {}", path.display());
            assert_eq!(std::fs::read_to_string(path.with_extension("txt")).unwrap(), text, "{id}/{name}");
        }
    }
}

#[test]
fn new_layouts_read_back_with_what_they_must_say() {
    let profiles = profiles();
    for id in LAYOUT_PROFILES {
        let profile = profiles.printer(id).unwrap();
        let pages = pages_of(profile);
        let width = profile.columns;
        let s = sample::shift(at()).unwrap();
        for (name, bytes) in layouts(profile) {
            let ops = escpos_reader::read(&bytes, &pages);
            assert!(!ops.iter().any(|op| matches!(op, Op::Unknown(_))), "{id}/{name}: unknown bytes");
            // The no-break spaces of amounts for people read back as spaces.
            let lines: Vec<String> = escpos_reader::lines(&ops).iter().map(|l| l.replace('\u{a0}', " ")).collect();
            for line in &lines {
                assert!(line.chars().count() <= width, "{id}/{name}: {line:?} is wider than {width}");
                assert!(!line.contains('\u{fffd}') && !line.contains('?'), "{id}/{name}: {line:?}");
            }
            let has = |want: &str| lines.iter().any(|l| l.contains(want));
            let row = |label: &str| lines.iter().find(|l| l.starts_with(label)).cloned().unwrap_or_default();
            match name {
                "sale_discounts" => {
                    assert!(
                        has("Молочная неделя -10 %") && has("3 по цене 2") && has("Большая корзина -3 %"),
                        "{lines:?}"
                    );
                    assert!(row("  Скидка ").ends_with("-21.45"), "{lines:?}");
                    assert!(
                        row("Скидка").ends_with(&format!("-{}", s.sale.receipt.discount_total())),
                        "{lines:?}"
                    );
                    assert!(
                        has("Покупатель: Иванова Мария") && row("  RRN").ends_with("412345678901"),
                        "{lines:?}"
                    );
                    assert!(
                        row("Бонусами").ends_with("100.00") && row("Начислено бонусов").ends_with(&s.sale.bonus_accrued.to_string()),
                        "{lines:?}"
                    );
                    assert!(row("ИТОГО").ends_with(&format!("={}", s.sale.total)), "{lines:?}");
                }
                "return" => {
                    assert!(has("ЧЕК ВОЗВРАТА № 1") && has("К чеку продажи № 1"), "{lines:?}");
                    assert!(row("К ВОЗВРАТУ").ends_with(" руб."), "{lines:?}");
                    assert!(has("Подпись покупателя"), "{lines:?}");
                }
                "cash_in" => {
                    assert!(has("ВНЕСЕНИЕ НАЛИЧНЫХ") && row("СУММА").ends_with("2 000,00 руб."), "{lines:?}");
                    assert!(has("Основание: размен"), "{lines:?}");
                }
                "cash_out" => {
                    assert!(
                        has("КОПИЯ") && has("ВЫПЛАТА НАЛИЧНЫХ") && row("СУММА").ends_with("1 500,50 руб."),
                        "{lines:?}"
                    );
                }
                "x_report" | "z_report" => {
                    let t = if name == "x_report" { &s.open.totals } else { &s.closed.totals };
                    assert!(row("Возвраты").ends_with(&s.ret.total.to_string()), "{lines:?}");
                    assert!(row("Чеков возврата").ends_with(" 1"), "{lines:?}");
                    assert!(
                        row("Внесено").ends_with("2000.00") && row("Изъято").ends_with("1500.50"),
                        "{lines:?}"
                    );
                    assert!(row("Наличных в кассе").ends_with(&t.drawer().to_string()), "{lines:?}");
                    assert!(
                        row("  Бонусами").ends_with("100.00") && row("  в т.ч. скидки").ends_with(&t.discounts.to_string()),
                        "{lines:?}"
                    );
                    assert!(has("возврат: наличными") || has("возврат: бонусами"), "{lines:?}");
                }
                other => panic!("unexpected layout {other}"),
            }
        }
        // The X report is the shift so far; the Z report names who closed it.
        assert!(s.open.closed_at.is_none() && s.closed.closed_by.as_deref() == Some("Анна"));
    }
}

proptest! {
    /// Any Cyrillic (or Latin) text comes out as itself where a page has the letter and as `?`
    /// where none has it — one character for one, never garbage.
    #[test]
    fn text_prints_as_itself_or_a_question_mark(
        text in proptest::collection::vec(prop_oneof![0x0400u32..0x0500, 0x41u32..0x5B], 0..60),
        which in 0usize..18,
    ) {
        let text: String = text.into_iter().filter_map(char::from_u32).collect();
        let profiles = profiles();
        let profile = profiles.printers.values().nth(which % profiles.printers.len()).unwrap();
        let pages = pages_of(profile);
        let mut p = EscPos::new(profile.text_setup());
        p.init().text(&text);
        let printed = escpos_reader::lines(&escpos_reader::read(&p.finish(), &pages)).concat();
        prop_assert_eq!(printed, expected(&text, &pages));
    }
}
