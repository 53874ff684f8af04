//! CommerceML import of a 100 000-item catalog against quick-xml alone reading the same files,
//! measured in the same run (so the ratio holds on any machine). Run with
//! `cargo bench --bench commerceml_import` (`-- --items N` for another size).
//!
//! The files are generated in УТ 11's split shape with realistic elements per item: the
//! catalog (`import.xml`: groups, price types, warehouses, then each product with version,
//! barcode, article, unit with its conversion, groups, properties, VAT and requisites), the
//! offers list (a tenth of the products with two characteristics each), two price types per
//! offer and two warehouses per offer.
//!
//! What is compared, per file and in total:
//! - **baseline**: a bare quick-xml event loop over the file (read every event, keep nothing);
//! - **check**: the check pass alone (tokenize, bounds, directory, used price types);
//! - **apply**: the apply pass alone (our parser producing every `Change`);
//! - **import**: what `import::run` does for the exchange — one read of the file that checks it
//!   to its end while its changes are spooled to a temporary file, then the replay of the spool
//!   to the sink: all or nothing, because nothing reaches the sink before the file proved whole;
//! - **parse only**: `import::run_single_pass`, the same read with the changes handed straight
//!   to the sink, to show what the spool costs.
//!
//! None includes the store, whose write time is measured by the store's own benchmarks. The
//! target is import ≤ 3× the baseline. `--profile-check` / `--profile-apply` run one pass in a loop, for `perf`.

use std::fmt::Write as _;
use std::hint::black_box;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use storeterm::domain::feed::Change;
use storeterm::sync::commerceml::import::{self, Batches, resolve, survey};
use storeterm::sync::commerceml::parse::{Directory, Settings};
use tokio::time::Instant;

mod common;

const ROUNDS: usize = 3;
const BATCH: usize = 2_000;
const BUFFER: usize = 64 << 10;

fn guid(kind: u32, n: usize) -> String {
    format!("{kind:08x}-{:04x}-11ee-8000-{:012x}", n % 0xffff, n)
}

fn header(out: &mut String) {
    out.push_str("\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<КоммерческаяИнформация xmlns=\"urn:1C.ru:commerceml_2\" xmlns:xs=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" ВерсияСхемы=\"2.10\" ДатаФормирования=\"2026-11-22T06:00:00\">\n");
}

fn write_file(dir: &Path, name: &str, f: impl FnOnce(&mut dyn FnMut(&str))) -> PathBuf {
    let path = dir.join(name);
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(&path).unwrap());
    f(&mut |s: &str| w.write_all(s.as_bytes()).unwrap());
    w.flush().unwrap();
    path
}

fn generate(dir: &Path, items: usize) -> Vec<PathBuf> {
    let groups = 200usize;
    let import = write_file(dir, "import.xml", |put| {
        let mut s = String::new();
        header(&mut s);
        s.push_str("\t<Классификатор СодержитТолькоИзменения=\"false\">\n\t\t<Ид>cat</Ид>\n\t\t<Наименование>Товары</Наименование>\n\t\t<Группы>\n");
        for g in 0..groups {
            let _ = write!(
                s,
                "\t\t\t<Группа>\n\t\t\t\t<Ид>{}</Ид>\n\t\t\t\t<НомерВерсии>AAAAAADhHdY=</НомерВерсии>\n\t\t\t\t<ПометкаУдаления>false</ПометкаУдаления>\n\t\t\t\t<Наименование>Группа товаров №{g}</Наименование>\n\t\t\t</Группа>\n",
                guid(1, g)
            );
        }
        s.push_str("\t\t</Группы>\n\t\t<ТипыЦен>\n\t\t\t<ТипЦены>\n\t\t\t\t<Ид>pt-retail</Ид>\n\t\t\t\t<Наименование>Розничная</Наименование>\n\t\t\t\t<Валюта>RUB</Валюта>\n\t\t\t</ТипЦены>\n\t\t\t<ТипЦены>\n\t\t\t\t<Ид>pt-whole</Ид>\n\t\t\t\t<Наименование>Оптовая</Наименование>\n\t\t\t\t<Валюта>RUB</Валюта>\n\t\t\t</ТипЦены>\n\t\t</ТипыЦен>\n");
        s.push_str("\t\t<Склады>\n\t\t\t<Склад>\n\t\t\t\t<Ид>wh-shop</Ид>\n\t\t\t\t<Наименование>Магазин №1</Наименование>\n\t\t\t</Склад>\n\t\t\t<Склад>\n\t\t\t\t<Ид>wh-main</Ид>\n\t\t\t\t<Наименование>Основной склад</Наименование>\n\t\t\t</Склад>\n\t\t</Склады>\n\t</Классификатор>\n");
        s.push_str("\t<Каталог СодержитТолькоИзменения=\"false\">\n\t\t<Ид>cat</Ид>\n\t\t<ИдКлассификатора>cat</ИдКлассификатора>\n\t\t<Наименование>Товары</Наименование>\n\t\t<Товары>\n");
        put(&s);
        for n in 0..items {
            s.clear();
            let (code, unit) = if n % 10 == 0 {
                ("166", "Килограмм")
            } else {
                ("796", "Штука")
            };
            let vat = ["20", "10", "Без налога"][n % 3];
            let _ = write!(
                s,
                "\t\t\t<Товар>\n\t\t\t\t<Ид>{id}</Ид>\n\t\t\t\t<НомерВерсии>AAAAAADjIlA=</НомерВерсии>\n\t\t\t\t<ПометкаУдаления>false</ПометкаУдаления>\n\t\t\t\t<Штрихкод>{ean}</Штрихкод>\n\t\t\t\t<Артикул>ART-{n}</Артикул>\n\t\t\t\t<Наименование>Товар №{n} — тестовый, «упаковка» 1 шт.</Наименование>\n\t\t\t\t<БазоваяЕдиница Код=\"{code}\" НаименованиеПолное=\"{unit}\" МеждународноеСокращение=\"PCE\">\n\t\t\t\t\t<Пересчет>\n\t\t\t\t\t\t<Единица>{code}</Единица>\n\t\t\t\t\t\t<Коэффициент>1</Коэффициент>\n\t\t\t\t\t</Пересчет>\n\t\t\t\t</БазоваяЕдиница>\n\t\t\t\t<Группы>\n\t\t\t\t\t<Ид>{group}</Ид>\n\t\t\t\t</Группы>\n\t\t\t\t<Описание>Описание товара №{n} для сайта.</Описание>\n\t\t\t\t<ЗначенияСвойств>\n\t\t\t\t\t<ЗначенияСвойства>\n\t\t\t\t\t\t<Ид>prop-brand</Ид>\n\t\t\t\t\t\t<Значение>Производитель {brand}</Значение>\n\t\t\t\t\t</ЗначенияСвойства>\n\t\t\t\t\t<ЗначенияСвойства>\n\t\t\t\t\t\t<Ид>prop-country</Ид>\n\t\t\t\t\t\t<Значение>Россия</Значение>\n\t\t\t\t\t</ЗначенияСвойства>\n\t\t\t\t</ЗначенияСвойств>\n\t\t\t\t<СтавкиНалогов>\n\t\t\t\t\t<СтавкаНалога>\n\t\t\t\t\t\t<Наименование>НДС</Наименование>\n\t\t\t\t\t\t<Ставка>{vat}</Ставка>\n\t\t\t\t\t</СтавкаНалога>\n\t\t\t\t</СтавкиНалогов>\n\t\t\t\t<ЗначенияРеквизитов>\n\t\t\t\t\t<ЗначениеРеквизита>\n\t\t\t\t\t\t<Наименование>ВидНоменклатуры</Наименование>\n\t\t\t\t\t\t<Значение>Товар</Значение>\n\t\t\t\t\t</ЗначениеРеквизита>\n\t\t\t\t\t<ЗначениеРеквизита>\n\t\t\t\t\t\t<Наименование>ТипНоменклатуры</Наименование>\n\t\t\t\t\t\t<Значение>Товар</Значение>\n\t\t\t\t\t</ЗначениеРеквизита>\n\t\t\t\t\t<ЗначениеРеквизита>\n\t\t\t\t\t\t<Наименование>Полное наименование</Наименование>\n\t\t\t\t\t\t<Значение>Товар №{n} — тестовый, полное наименование</Значение>\n\t\t\t\t\t</ЗначениеРеквизита>\n\t\t\t\t</ЗначенияРеквизитов>\n\t\t\t</Товар>\n",
                id = guid(2, n),
                ean = common::ean13(n),
                group = guid(1, n % groups),
                brand = n % 97,
            );
            put(&s);
        }
        put("\t\t</Товары>\n\t</Каталог>\n</КоммерческаяИнформация>\n");
    });
    // Offer ids: every product, and for a tenth of them two characteristics instead.
    let offer_ids = |n: usize| -> Vec<String> {
        if n % 10 == 5 {
            vec![
                format!("{}#{}", guid(2, n), guid(3, 2 * n)),
                format!("{}#{}", guid(2, n), guid(3, 2 * n + 1)),
            ]
        } else {
            vec![guid(2, n)]
        }
    };
    let package = |put: &mut dyn FnMut(&str), body: &mut dyn FnMut(&mut String, &str, usize)| {
        let mut s = String::new();
        header(&mut s);
        s.push_str("\t<ПакетПредложений СодержитТолькоИзменения=\"false\">\n\t\t<Ид>cat#</Ид>\n\t\t<Наименование>Пакет предложений</Наименование>\n\t\t<ИдКаталога>cat</ИдКаталога>\n\t\t<ИдКлассификатора>cat</ИдКлассификатора>\n\t\t<Предложения>\n");
        put(&s);
        for n in 0..items {
            for (k, id) in offer_ids(n).iter().enumerate() {
                s.clear();
                let _ = write!(s, "\t\t\t<Предложение>\n\t\t\t\t<Ид>{id}</Ид>\n");
                body(&mut s, id, n * 2 + k);
                s.push_str("\t\t\t</Предложение>\n");
                put(&s);
            }
        }
        put("\t\t</Предложения>\n\t</ПакетПредложений>\n</КоммерческаяИнформация>\n");
    };
    let offers = write_file(dir, "offers.xml", |put| {
        package(put, &mut |s, id, k| {
            let _ = write!(
                s,
                "\t\t\t\t<НомерВерсии>AAAAAADjIlA=</НомерВерсии>\n\t\t\t\t<ПометкаУдаления>false</ПометкаУдаления>\n\t\t\t\t<Наименование>Товар {k} — тестовый</Наименование>\n"
            );
            if id.contains('#') {
                let _ = write!(
                    s,
                    "\t\t\t\t<Штрихкод>{}</Штрихкод>\n\t\t\t\t<ХарактеристикиТовара>\n\t\t\t\t\t<ХарактеристикаТовара>\n\t\t\t\t\t\t<Наименование>Размер</Наименование>\n\t\t\t\t\t\t<Значение>{}</Значение>\n\t\t\t\t\t</ХарактеристикаТовара>\n\t\t\t\t</ХарактеристикиТовара>\n",
                    common::ean13(10_000_000 + k),
                    36 + k % 10
                );
            }
        });
    });
    let prices = write_file(dir, "prices.xml", |put| {
        package(put, &mut |s, _, k| {
            let retail = 50 + k % 5000;
            let whole = retail * 9 / 10;
            let _ = write!(
                s,
                "\t\t\t\t<Цены>\n\t\t\t\t\t<Цена>\n\t\t\t\t\t\t<Представление>{retail} RUB за шт</Представление>\n\t\t\t\t\t\t<ИдТипаЦены>pt-retail</ИдТипаЦены>\n\t\t\t\t\t\t<ЦенаЗаЕдиницу>{retail}.90</ЦенаЗаЕдиницу>\n\t\t\t\t\t\t<Валюта>RUB</Валюта>\n\t\t\t\t\t</Цена>\n\t\t\t\t\t<Цена>\n\t\t\t\t\t\t<Представление>{whole} RUB за шт</Представление>\n\t\t\t\t\t\t<ИдТипаЦены>pt-whole</ИдТипаЦены>\n\t\t\t\t\t\t<ЦенаЗаЕдиницу>{whole}</ЦенаЗаЕдиницу>\n\t\t\t\t\t\t<Валюта>RUB</Валюта>\n\t\t\t\t\t</Цена>\n\t\t\t\t</Цены>\n"
            );
        });
    });
    let rests = write_file(dir, "rests.xml", |put| {
        package(put, &mut |s, _, k| {
            let _ = write!(
                s,
                "\t\t\t\t<Остатки>\n\t\t\t\t\t<Остаток>\n\t\t\t\t\t\t<Склад>\n\t\t\t\t\t\t\t<Ид>wh-shop</Ид>\n\t\t\t\t\t\t\t<Количество>{}</Количество>\n\t\t\t\t\t\t</Склад>\n\t\t\t\t\t</Остаток>\n\t\t\t\t\t<Остаток>\n\t\t\t\t\t\t<Склад>\n\t\t\t\t\t\t\t<Ид>wh-main</Ид>\n\t\t\t\t\t\t\t<Количество>{}</Количество>\n\t\t\t\t\t\t</Склад>\n\t\t\t\t\t</Остаток>\n\t\t\t\t</Остатки>\n",
                k % 40,
                k % 400
            );
        });
    });
    vec![import, offers, prices, rests]
}

fn open(path: &Path) -> BufReader<std::fs::File> {
    BufReader::with_capacity(BUFFER, std::fs::File::open(path).unwrap())
}

/// The baseline: every event of the file read by quick-xml, nothing kept.
fn bare_quick_xml(path: &Path) -> usize {
    let mut reader = quick_xml::Reader::from_reader(open(path));
    let mut buf = Vec::with_capacity(4096);
    let mut events = 0usize;
    loop {
        buf.clear();
        match reader.read_event_into(&mut buf).unwrap() {
            quick_xml::events::Event::Eof => break,
            e => {
                black_box(&e);
                events += 1;
            }
        }
    }
    events
}

/// One apply pass producing every change (the survey done beforehand, outside the clock).
fn parse_only(path: &Path, settings: &Settings, known: &Directory) -> usize {
    let checked = survey(open(path), settings, &mut |_| {}).unwrap();
    let resolution = resolve(&checked, known, settings).unwrap();
    let start = Instant::now();
    let mut n = 0;
    for batch in Batches::new(open(path), settings, resolution, &checked, BATCH).unwrap() {
        n += black_box(batch.unwrap()).len();
    }
    PARSE_SECS.with(|s| s.set(s.get() + start.elapsed().as_secs_f64()));
    n
}

thread_local! {
    static PARSE_SECS: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) };
}

/// The read without the spool: changes handed to a sink as they are parsed.
fn single_pass_import(path: &Path, settings: &Settings, known: &mut Directory) -> usize {
    let mut n = 0usize;
    let summary = import::run_single_pass(
        open(path),
        settings,
        known,
        BATCH,
        &mut |_| {},
        &mut |batch: Vec<Change>| -> Result<(), std::convert::Infallible> {
            n += black_box(batch).len();
            Ok(())
        },
    )
    .unwrap();
    known.merge(&summary.directory);
    n
}

/// The whole import of a file as the exchange runs it: one checked read spooled to disk, then
/// the spool replayed to a sink in batches.
fn full_import(path: &Path, settings: &Settings, known: &mut Directory, spool: &Path) -> usize {
    let mut n = 0usize;
    let summary = import::run(
        open(path),
        settings,
        known,
        BATCH,
        spool,
        &mut |_| {},
        &mut |batch: Vec<Change>| -> Result<(), std::convert::Infallible> {
            n += black_box(batch).len();
            Ok(())
        },
    )
    .unwrap();
    known.merge(&summary.directory);
    n
}

fn main() {
    let mut items = 100_000usize;
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--items") {
        items = args.get(i + 1).and_then(|v| v.parse().ok()).unwrap_or(items);
    }
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let files = generate(dir.path(), items);
    let sizes: Vec<u64> = files.iter().map(|f| std::fs::metadata(f).unwrap().len()).collect();
    let total_mb = sizes.iter().sum::<u64>() as f64 / 1e6;
    println!(
        "commerceml_import: {items} items, {} files, {total_mb:.1} MB (generated in {:.1} s), best of {ROUNDS} rounds",
        files.len(),
        t.elapsed().as_secs_f64()
    );
    let settings = Settings::retail("Розничная", Some("Магазин №1".into()));
    if args.iter().any(|a| a == "--profile-apply") {
        let mut known = Directory::default();
        for f in &files {
            let checked = survey(open(f), &settings, &mut |_| {}).unwrap();
            known.merge(&checked.findings.directory);
        }
        for _ in 0..5 {
            for f in &files {
                black_box(parse_only(f, &settings, &known));
            }
        }
        return;
    }
    if args.iter().any(|a| a == "--profile-check") {
        for _ in 0..5 {
            for f in &files {
                black_box(survey(open(f), &settings, &mut |_| {}).unwrap());
            }
        }
        return;
    }

    // Per round and file: quick-xml alone, the check pass, the apply pass, the whole import.
    let mut best = [f64::MAX; 5];
    let mut changes = 0usize;
    let mut per_file = vec![[f64::MAX; 5]; files.len()];
    for _ in 0..ROUNDS {
        let mut round = [0.0f64; 5];
        let mut single_known = Directory::default();
        // The directory a real exchange carries: price types and warehouses from import.xml.
        let mut known = Directory::default();
        let mut parse_known = Directory::default();
        changes = 0;
        for (i, f) in files.iter().enumerate() {
            let s = Instant::now();
            black_box(bare_quick_xml(f));
            let base = s.elapsed().as_secs_f64();

            let s = Instant::now();
            let checked = survey(open(f), &settings, &mut |_| {}).unwrap();
            let check = s.elapsed().as_secs_f64();
            parse_known.merge(&checked.findings.directory);

            PARSE_SECS.with(|c| c.set(0.0));
            black_box(parse_only(f, &settings, &parse_known));
            let parse = PARSE_SECS.with(|c| c.get());

            let s = Instant::now();
            changes += full_import(f, &settings, &mut known, dir.path());
            let full = s.elapsed().as_secs_f64();

            let s = Instant::now();
            black_box(single_pass_import(f, &settings, &mut single_known));
            let single = s.elapsed().as_secs_f64();

            for (k, v) in [base, check, parse, full, single].into_iter().enumerate() {
                round[k] += v;
                per_file[i][k] = per_file[i][k].min(v);
            }
        }
        for k in 0..5 {
            best[k] = best[k].min(round[k]);
        }
    }
    for (i, f) in files.iter().enumerate() {
        let [b, c, p, full, _] = per_file[i];
        println!(
            "  {:<11} {:>6.1} MB  quick-xml {:>6.3} s  check {:>6.3} s ({:>4.2}x)  apply {:>6.3} s ({:>4.2}x)  import {:>6.3} s ({:>4.2}x)",
            f.file_name().unwrap().to_string_lossy(),
            sizes[i] as f64 / 1e6,
            b,
            c,
            c / b,
            p,
            p / b,
            full,
            full / b
        );
    }
    let [base, check, parse, full, single] = best;
    println!(
        "  quick-xml alone (bare event loop):        {base:>7.3} s  ({:.0} MB/s)",
        total_mb / base
    );
    println!(
        "  check pass (tokenize, check, directory):  {check:>7.3} s  {:>5.2}x the baseline",
        check / base
    );
    println!(
        "  apply pass (parser producing Changes):    {parse:>7.3} s  {:>5.2}x the baseline",
        parse / base
    );
    println!(
        "  parse only (one read, no spool):          {single:>7.3} s  {:>5.2}x the baseline",
        single / base
    );
    println!(
        "  import (one checked read + spool replay): {full:>7.3} s  {:>5.2}x the baseline, {changes} changes",
        full / base
    );
    let ratio = full / base;
    println!(
        "  verdict: import {ratio:.2}x the quick-xml baseline (target ≤ 3x) — {}",
        if ratio <= 3.0 { "PASS" } else { "FAIL" }
    );
}
