//! CommerceML files in the shapes real 1C exports have (`tests/fixtures/commerceml/`, see its
//! README) through the whole pure import: encoding, both passes, batches, the directory an
//! exchange carries from file to file, zip uploads — the way the `/1c/exchange` handler runs
//! them.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use storeterm::domain::catalog::Item;
use storeterm::domain::feed::{Change, ItemGroup};
use storeterm::sync::commerceml::archive::{self, ZipLimits};
use storeterm::sync::commerceml::import::{self, ImportSummary, RunError};
use storeterm::sync::commerceml::parse::{Directory, Settings};
use storeterm::sync::commerceml::{CmlError, exchange::SafeName};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/commerceml").join(name)
}

/// Import one file as the handler would, carrying the exchange's directory along.
fn import(path: &Path, settings: &Settings, directory: &mut Directory) -> (Vec<Change>, ImportSummary) {
    let mut changes = Vec::new();
    let spool = tempfile::tempdir().unwrap();
    let summary = import::run(
        BufReader::new(std::fs::File::open(path).unwrap()),
        settings,
        directory,
        3,
        spool.path(),
        &mut |_| {},
        &mut |batch: Vec<Change>| -> Result<(), Infallible> {
            assert!(batch.len() <= 3, "batches hold at most the asked size");
            changes.extend(batch);
            Ok(())
        },
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    directory.merge(&summary.directory);
    (changes, summary)
}

fn details<'a>(changes: &'a [Change], id: &str) -> (&'a Item, &'a [String]) {
    changes
        .iter()
        .find_map(|c| match c {
            Change::ItemDetails { item, groups } if item.id == id => Some((item, groups.as_slice())),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no item {id}"))
}

fn price(changes: &[Change], id: &str) -> Option<BTreeMap<String, Decimal>> {
    changes.iter().find_map(|c| match c {
        Change::ItemPrices { item, prices } if item == id => Some(prices.clone()),
        _ => None,
    })
}

fn stock(changes: &[Change], id: &str) -> Option<Decimal> {
    changes.iter().find_map(|c| match c {
        Change::ItemStock { item, qty } if item == id => Some(*qty),
        _ => None,
    })
}

fn retail(p: Decimal) -> Option<BTreeMap<String, Decimal>> {
    Some(BTreeMap::from([("retail".to_string(), p)]))
}

#[test]
fn a_full_2_04_unload_gives_groups_goods_deletions_prices_stock_and_characteristics() {
    let settings = Settings::retail("Розничная цена", None);
    let mut directory = Directory::default();
    let (changes, summary) = import(&fixture("v2.04/import.xml"), &settings, &mut directory);

    assert!(changes.contains(&Change::GroupUpsert(ItemGroup {
        id: "g-cheese".into(),
        name: "Сыры".into(),
        parent: Some("g-dairy".into()),
    })));
    assert_eq!(summary.counts.groups, 4);

    let (milk, groups) = details(&changes, "7d3c1a20-0001-11ee-8000-00155d000001");
    assert_eq!(milk.name, "Молоко 3,2% 1 л");
    assert_eq!((milk.sku.as_str(), milk.unit.as_str(), milk.vat.as_str()), ("A-1001", "pcs", "10"));
    assert_eq!(milk.barcodes, vec!["4601234567893".to_string(), "2000000000015".to_string()]);
    assert!(!milk.weighted && !milk.marked && milk.prices.is_empty());
    assert_eq!(groups, ["g-dairy".to_string()]);

    let (cheese, _) = details(&changes, "7d3c1a20-0002-11ee-8000-00155d000001");
    assert_eq!(
        (cheese.unit.as_str(), cheese.weighted, cheese.plu.as_deref()),
        ("kg", true, Some("00042"))
    );
    let (sneakers, _) = details(&changes, "7d3c1a20-0003-11ee-8000-00155d000001");
    assert!(sneakers.marked);
    assert_eq!((sneakers.mark_group.as_deref(), sneakers.unit.as_str()), (Some("shoes"), "pair"));
    let (delivery, _) = details(&changes, "7d3c1a20-0007-11ee-8000-00155d000001");
    assert_eq!(delivery.vat, "none");

    assert!(changes.contains(&Change::ItemDelete("7d3c1a20-0005-11ee-8000-00155d000001".into())));
    assert!(changes.contains(&Change::ItemDelete("7d3c1a20-0006-11ee-8000-00155d000001".into())));
    assert_eq!(summary.catalog_full, Some(true));
    assert_eq!(
        summary.catalog_ids.len(),
        5,
        "every product but the deleted ones: {:?}",
        summary.catalog_ids
    );

    let (changes, summary) = import(&fixture("v2.04/offers.xml"), &settings, &mut directory);
    assert_eq!(price(&changes, "7d3c1a20-0001-11ee-8000-00155d000001"), retail(dec!(89.90)));
    assert_eq!(stock(&changes, "7d3c1a20-0001-11ee-8000-00155d000001"), Some(dec!(48)));
    assert_eq!(stock(&changes, "7d3c1a20-0002-11ee-8000-00155d000001"), Some(dec!(12.355)));
    // A service has a price but no stock line.
    assert_eq!(price(&changes, "7d3c1a20-0007-11ee-8000-00155d000001"), retail(dec!(300.00)));
    assert_eq!(stock(&changes, "7d3c1a20-0007-11ee-8000-00155d000001"), None);

    let variants: Vec<_> = changes
        .iter()
        .filter_map(|c| match c {
            Change::ItemVariant(v) => Some(v),
            _ => None,
        })
        .collect();
    assert_eq!(variants.len(), 2);
    let boots = Item {
        id: "7d3c1a20-0004-11ee-8000-00155d000001".into(),
        sku: "B-4004".into(),
        name: "Ботинки женские демисезонные".into(),
        unit: "pair".into(),
        vat: "20".into(),
        weighted: false,
        marked: false,
        mark_group: None,
        plu: None,
        barcodes: vec![],
        prices: BTreeMap::new(),
    };
    assert_eq!(variants[0].product, boots.id);
    assert_eq!(
        variants[0].to_item(&boots, None).name,
        "Ботинки женские демисезонные (37, Коричневый)"
    );
    assert_eq!(variants[0].barcodes, vec!["2000018987162".to_string()]);
    // No name from 1C: the product's name with the characteristic's values.
    assert_eq!(variants[1].name, None);
    assert_eq!(variants[1].to_item(&boots, None).name, "Ботинки женские демисезонные (38)");
    assert_eq!(price(&changes, &variants[1].id), retail(dec!(3271.00)));
    assert_eq!(stock(&changes, &variants[1].id), Some(dec!(0)));
    assert_eq!(summary.offers_full, Some(true));
    assert_eq!(summary.offer_ids.len(), 6);
}

#[test]
fn a_2_07_changes_only_exchange_takes_the_shops_warehouse() {
    let settings = Settings::retail("Розничная цена", Some("Магазин на Ленина".into()));
    let mut directory = Directory::default();
    let (changes, summary) = import(&fixture("v2.07/import.xml"), &settings, &mut directory);
    assert_eq!(summary.catalog_full, Some(false));
    assert!(
        summary.catalog_ids.is_empty(),
        "a changes-only catalog must not make others unsellable"
    );
    let (milk, _) = details(&changes, "7d3c1a20-0001-11ee-8000-00155d000001");
    assert_eq!(milk.barcodes, vec!["4601234567893".to_string(), "4601234567900".to_string()]);
    let (changes, summary) = import(&fixture("v2.07/offers.xml"), &settings, &mut directory);
    assert_eq!(stock(&changes, "7d3c1a20-0001-11ee-8000-00155d000001"), Some(dec!(40)));
    // Only the central warehouse holds tea: the shop has none.
    assert_eq!(stock(&changes, "7d3c1a20-0008-11ee-8000-00155d000001"), Some(dec!(0)));
    assert_eq!(price(&changes, "7d3c1a20-0008-11ee-8000-00155d000001"), retail(dec!(249.00)));
    assert_eq!(summary.offers_full, Some(false));
    assert_eq!(directory.warehouses.len(), 2);

    // The total when no warehouse is configured.
    let (changes, _) = import(
        &fixture("v2.07/offers.xml"),
        &Settings::retail("Розничная цена", None),
        &mut directory,
    );
    assert_eq!(stock(&changes, "7d3c1a20-0001-11ee-8000-00155d000001"), Some(dec!(140)));
}

const UT11: [&str; 4] = [
    "import___a3f1c2d4-5e6f-4a1b-8c9d-0e1f2a3b4c5d.xml",
    "offers___a3f1c2d4-5e6f-4a1b-8c9d-0e1f2a3b4c5d.xml",
    "prices___a3f1c2d4-5e6f-4a1b-8c9d-0e1f2a3b4c5d.xml",
    "rests___a3f1c2d4-5e6f-4a1b-8c9d-0e1f2a3b4c5d.xml",
];

/// УТ 11's split files, each resolved through what the earlier ones taught.
fn check_ut11_exchange(dir: &Path) {
    let settings = Settings::retail("Розничная", Some("Магазин №1".into()));
    let mut directory = Directory::default();
    let mut all = Vec::new();
    for name in UT11 {
        let (changes, _) = import(&dir.join(name), &settings, &mut directory);
        all.extend(changes);
    }
    let (bleach, groups) = details(&all, "p-ut11-0002");
    assert_eq!((bleach.unit.as_str(), bleach.weighted, bleach.vat.as_str()), ("l", true, "20"));
    assert_eq!(groups, ["g-clean".to_string()]);
    let (liquid, _) = details(&all, "p-ut11-0001");
    assert_eq!(
        (liquid.unit.as_str(), liquid.barcodes.as_slice()),
        ("pcs", ["4600000000019".to_string()].as_slice())
    );
    // A group marked for deletion is not offered as a group.
    assert!(!all.iter().any(|c| matches!(c, Change::GroupUpsert(g) if g.id == "g-old")));
    assert!(
        all.iter()
            .any(|c| matches!(c, Change::ItemVariant(v) if v.id == "p-ut11-0003#ch-blue" && v.barcodes == ["4600000000026"]))
    );
    assert!(all.contains(&Change::ItemDelete("p-ut11-0003#ch-red".into())));
    // Only the retail price type is bound; the purchase price never reaches the till.
    assert_eq!(price(&all, "p-ut11-0001"), retail(dec!(129.00)));
    assert_eq!(price(&all, "p-ut11-0002"), retail(dec!(45.50)));
    assert_eq!(stock(&all, "p-ut11-0001"), Some(dec!(17)));
    assert_eq!(stock(&all, "p-ut11-0002"), Some(dec!(25.5)));
    assert_eq!(stock(&all, "p-ut11-0003#ch-blue"), Some(dec!(0)));
}

#[test]
fn ut11_split_files_resolve_price_types_and_warehouses_across_files() {
    check_ut11_exchange(&fixture("v3-ut11"));
}

#[test]
fn a_zipped_upload_unpacks_and_imports_the_same() {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for name in UT11 {
        zip.start_file(name, opts).unwrap();
        zip.write_all(&std::fs::read(fixture("v3-ut11").join(name)).unwrap()).unwrap();
    }
    let bytes = zip.finish().unwrap().into_inner();
    let dir = tempfile::tempdir().unwrap();
    let names = archive::unpack(
        std::io::Cursor::new(bytes),
        &ZipLimits::default(),
        &mut |name: &SafeName, r: &mut dyn Read| {
            let mut f = std::fs::File::create(dir.path().join(name.as_str()))?;
            std::io::copy(r, &mut f)
        },
    )
    .unwrap();
    assert_eq!(names.len(), 4);
    check_ut11_exchange(dir.path());
}

#[test]
fn windows_1251_files_decode_catalog_offers_and_clients() {
    let settings = Settings::retail("Розничная", None);
    let mut directory = Directory::default();
    let (changes, summary) = import(&fixture("windows-1251/import.xml"), &settings, &mut directory);
    assert_eq!(
        summary.catalog_full,
        Some(true),
        "a 2.03 catalog without the attribute is a full unload"
    );
    let (milk, _) = details(&changes, "w-0001");
    assert_eq!(milk.name, "Молоко «Бурёнка» 1 л");
    let (buckwheat, _) = details(&changes, "w-0002");
    assert_eq!((buckwheat.unit.as_str(), buckwheat.weighted), ("kg", true));
    assert_eq!(price(&changes, "w-0001"), retail(dec!(79.90)));
    // 1150 per 10 kg is 115.00 per kilogram.
    assert_eq!(price(&changes, "w-0002"), retail(dec!(115.00)));

    let (changes, summary) = import(&fixture("windows-1251/orders.xml"), &settings, &mut directory);
    assert!(summary.kind.documents);
    let clients: Vec<_> = changes
        .iter()
        .filter_map(|c| match c {
            Change::ClientUpsert(c) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(clients.len(), 1, "the contact person is not a client of its own");
    assert_eq!((clients[0].id.as_str(), clients[0].name.as_str()), ("cl-0077", "ООО Ромашка"));
    assert_eq!(
        clients[0].phones,
        vec!["+7 (495) 123-45-67".to_string(), "8 916 000-00-01".to_string()]
    );
}

/// A file cut short or damaged changes nothing, and says so in words a 1C admin acts on.
#[test]
fn damaged_files_apply_nothing() {
    let whole = std::fs::read(fixture("v2.04/import.xml")).unwrap();
    let cut = whole[..whole.len() / 2].to_vec();
    let mut swapped = String::from_utf8(whole.clone()).unwrap();
    swapped = swapped.replacen("</Артикул>", "</Наименование>", 1);
    // A windows-1251 file whose declaration says UTF-8.
    let mislabelled = std::fs::read(fixture("windows-1251/import.xml")).unwrap();
    let mislabelled = [
        b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>".as_slice(),
        &mislabelled[mislabelled.iter().position(|b| *b == b'\n').unwrap()..],
    ]
    .concat();
    let other_root = b"<?xml version=\"1.0\"?><html><body/></html>".to_vec();
    for (bytes, code) in [
        (cut, "truncated"),
        (swapped.into_bytes(), "malformed_xml"),
        (mislabelled, "not_utf8"),
        (other_root, "not_commerceml"),
    ] {
        let mut applied = 0usize;
        let spool = tempfile::tempdir().unwrap();
        let err = import::run(
            bytes.as_slice(),
            &Settings::retail("Розничная цена", None),
            &Directory::default(),
            10,
            spool.path(),
            &mut |_| {},
            &mut |b: Vec<Change>| -> Result<(), Infallible> {
                applied += b.len();
                Ok(())
            },
        )
        .unwrap_err();
        assert_eq!(applied, 0);
        let RunError::File(e) = &err else { panic!("{err}") };
        assert_eq!(e.code(), code, "{e}");
        assert!(!matches!(e, CmlError::Read(_)));
    }
}

/// What the exchange applies after the spool is exactly what the parse yields straight away,
/// change for change, on every fixture, with the directory carried across each exchange: no
/// field is lost on the way through the spool file.
#[test]
fn the_spool_gives_back_every_change_the_parse_yields_on_every_fixture() {
    let exchanges: [(&[&str], Settings); 4] = [
        (&["v2.04/import.xml", "v2.04/offers.xml"], Settings::retail("Розничная цена", None)),
        (
            &["v2.07/import.xml", "v2.07/offers.xml"],
            Settings::retail("Розничная цена", Some("Магазин на Ленина".into())),
        ),
        (
            &["windows-1251/import.xml", "windows-1251/orders.xml"],
            Settings::retail("Розничная", None),
        ),
        (&[], Settings::retail("Розничная", Some("Магазин №1".into()))),
    ];
    for (files, settings) in exchanges {
        let names: Vec<String> = if files.is_empty() {
            UT11.iter().map(|n| format!("v3-ut11/{n}")).collect()
        } else {
            files.iter().map(|s| s.to_string()).collect()
        };
        let mut spooled_dir = Directory::default();
        let mut one_dir = Directory::default();
        for name in names {
            let path = fixture(&name);
            let (spooled, spooled_summary) = import(&path, &settings, &mut spooled_dir);
            let mut one = Vec::new();
            let one_summary = import::run_single_pass(
                BufReader::new(std::fs::File::open(&path).unwrap()),
                &settings,
                &one_dir,
                3,
                &mut |_| {},
                &mut |batch: Vec<Change>| -> Result<(), Infallible> {
                    one.extend(batch);
                    Ok(())
                },
            )
            .unwrap();
            one_dir.merge(&one_summary.directory);
            assert_eq!(one, spooled, "{name}");
            assert_eq!(one_summary, spooled_summary, "{name}");
        }
    }
}
