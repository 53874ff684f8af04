//! One streaming parser for every CommerceML 2 file 1C sends to a site.
//!
//! 1C's files changed shape over the years — 2.03/2.04 put the catalog and the offers in
//! `import.xml` and `offers.xml`; 2.07 added per-warehouse stock as `<Склад ИдСклада=…
//! КоличествоНаСкладе=…/>`; 2.09/2.10 (УТ 11's "3.x" exchange) split the offers into
//! `offers___*.xml` (the list), `prices___*.xml` and `rests___*.xml` (`Остатки/Остаток/Склад`),
//! and moved `ТипыЦен` and `Склады` into the classifier of `import___*.xml`. The version stamp
//! (`ВерсияСхемы`) does not reliably say which shape a file has, so this parser reads whatever
//! elements are present: a file may hold a classifier, a catalog, an offers package and
//! documents, in any combination.
//!
//! The file is read as events (quick-xml), never as a tree. The parser keeps a stack of the
//! open elements and one draft per thing being read (a product, an offer, a group…); when a
//! thing's element closes, the draft becomes [`Change`]s. Names, ids and values are decided
//! by where an element sits: `Ид` under `Товар` is the product's id, under `Товар/Группы` a
//! group reference, under `Склад` a warehouse.
//!
//! An import ([`super::import`]) reads a file once, checking it and yielding its changes in the
//! same pass; a [`Pass::Check`] that only checks and learns price types and warehouses, then a
//! [`Pass::Apply`] that only yields, are the same rules split in two (the property tests hold
//! the one pass to the two).

use super::CmlError;
use super::encoding::Utf8Source;
use super::units;
use crate::domain::catalog::{Item, RETAIL};
use crate::domain::client::Client;
use crate::domain::feed::{Change, ItemGroup, ItemVariant};
use crate::domain::money;
use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::str::FromStr;

/// Deeper than any 1C file (group trees are a dozen levels); bounds the element stack.
const MAX_DEPTH: usize = 128;
/// Longer than any value 1C writes (descriptions go unread); bounds the text buffer.
const MAX_TEXT: usize = 1 << 20;
/// Rejected things listed by name in the summary; the rest are only counted.
const KEEP_REJECTED: usize = 50;

/// What the shop wants from 1C's files: which price types become which of the item's prices,
/// and which warehouse's stock is the shop's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub prices: Vec<PriceBinding>,
    /// A warehouse's `Ид` or `Наименование` (`[onec] warehouse`); `None` takes the total.
    pub warehouse: Option<String>,
    /// VAT for goods whose `СтавкиНалогов` 1C did not send (1C omits them when the
    /// organisation does not use VAT).
    pub default_vat: String,
}

/// One 1C price type (its `Ид` or `Наименование`) bound to one of the item's price keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceBinding {
    pub price_type: String,
    pub key: String,
}

impl Settings {
    /// The usual shop: one price type sold at the till as `retail`.
    pub fn retail(price_type: impl Into<String>, warehouse: Option<String>) -> Settings {
        Settings {
            prices: vec![PriceBinding {
                price_type: price_type.into(),
                key: RETAIL.to_string(),
            }],
            warehouse,
            default_vat: "none".into(),
        }
    }
}

/// The reference lists of an exchange: price types, warehouses and units by their 1C `Ид`.
/// They may come in another file than the prices and stock that refer to them (УТ 11 puts
/// them in `import___*.xml`, the prices in `prices___*.xml`), so an exchange keeps what each
/// file taught ([`Directory::merge`]); the lead keeps it between exchanges too, because a
/// changes-only exchange may send prices without the classifier.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Directory {
    /// Price type `Ид` → `Наименование`.
    pub price_types: BTreeMap<String, String>,
    /// Warehouse `Ид` → `Наименование`.
    pub warehouses: BTreeMap<String, String>,
    /// Unit `Ид` → ОКЕИ code (3.x files may name a product's unit by its `Ид`).
    pub units: BTreeMap<String, String>,
}

impl Directory {
    /// Learn what `other` knows; `other` wins where both name the same `Ид`.
    pub fn merge(&mut self, other: &Directory) {
        self.price_types
            .extend(other.price_types.iter().map(|(k, v)| (k.clone(), v.clone())));
        self.warehouses.extend(other.warehouses.iter().map(|(k, v)| (k.clone(), v.clone())));
        self.units.extend(other.units.iter().map(|(k, v)| (k.clone(), v.clone())));
    }

    /// The `Ид` a configured price type means: an `Ид` as given, else the one whose
    /// `Наименование` matches (case and outer spaces ignored).
    pub fn price_type_id(&self, wanted: &str) -> Option<String> {
        resolve(&self.price_types, wanted)
    }

    pub fn warehouse_id(&self, wanted: &str) -> Option<String> {
        resolve(&self.warehouses, wanted)
    }
}

fn resolve(list: &BTreeMap<String, String>, wanted: &str) -> Option<String> {
    let wanted = wanted.trim();
    if list.contains_key(wanted) {
        return Some(wanted.to_string());
    }
    let lower = wanted.to_lowercase();
    list.iter()
        .find(|(_, name)| name.trim().to_lowercase() == lower)
        .map(|(id, _)| id.clone())
}

/// Which sections a file held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FileKind {
    /// `Классификатор` (groups, and in 3.x price types, warehouses, units).
    pub classifier: bool,
    /// `Каталог` with `Товары`.
    pub catalog: bool,
    /// `ПакетПредложений` with `Предложения` (offers, prices, stock).
    pub offers: bool,
    /// `Документ`s (orders and their statuses, pushed by 1C with `type=sale&mode=file`).
    pub documents: bool,
}

/// Something in the file that could not become a change, with the reason in Russian.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    /// The 1C `Ид`, or the name when the `Ид` is missing.
    pub what: String,
    pub reason: String,
}

/// How many of each thing a file carried.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub groups: u64,
    pub items: u64,
    pub deleted: u64,
    pub variants: u64,
    pub prices: u64,
    pub stock: u64,
    pub clients: u64,
    /// Every change yielded, all kinds together.
    pub changes: u64,
}

/// What one pass over a file found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Findings {
    pub kind: FileKind,
    /// `ВерсияСхемы` as stamped; informative only.
    pub schema_version: Option<String>,
    /// Price types, warehouses and units the file defined.
    pub directory: Directory,
    /// `Some(true)` when the catalog is a full unload (`СодержитТолькоИзменения` = `false` or
    /// absent, as in versions before 2.04); `None` when the file has no goods.
    pub catalog_full: Option<bool>,
    pub offers_full: Option<bool>,
    /// Every product `Ид` the catalog carried, deletions excepted — collected for a full
    /// unload only.
    pub catalog_ids: BTreeSet<String>,
    /// Every offer `Ид` (`product` or `product#characteristic`) of a full offers package.
    pub offer_ids: BTreeSet<String>,
    pub counts: Counts,
    pub rejected: Vec<Rejected>,
    pub rejected_total: u64,
    /// Price type `Ид`s the offers used, and warehouse `Ид`s their stock named.
    pub price_types_used: BTreeSet<String>,
    pub warehouses_used: BTreeSet<String>,
    /// Elements read: the same file reads the same in both passes.
    pub elements: u64,
}

/// How prices and stock map onto the shop, decided after the survey pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolution {
    /// 1C price type `Ид` → the item's price key.
    pub price_keys: BTreeMap<String, String>,
    /// The warehouse whose stock is the shop's; `None` takes the total.
    pub warehouse: Option<String>,
    /// Unit `Ид` → ОКЕИ code learnt from earlier files, for goods that name their unit by
    /// `Ид` (the file's own `ЕдиницыИзмерения` are used as well).
    pub units: BTreeMap<String, String>,
}

impl Resolution {
    /// Map the configured price types and warehouse onto 1C `Ид`s through `directory` (what
    /// the exchange knows: earlier files, earlier exchanges, this file).
    ///
    /// `used` is what the file's offers used (price type `Ид`s, warehouse `Ид`s), when known.
    /// A setting found in the directory maps to its `Ид`; one that is not may still be an
    /// `Ид` itself. With `used` known, a setting that is neither found nor used while the file
    /// does carry prices (or per-warehouse stock) fails the file — otherwise every item would
    /// silently lose its price. With `used` unknown (a single pass, before the offers are
    /// read) the setting is taken as an `Ид`, and the same rule is applied at the end.
    pub fn decide(
        settings: &Settings,
        directory: &Directory,
        used: Option<(&BTreeSet<String>, &BTreeSet<String>)>,
    ) -> Result<Resolution, CmlError> {
        let mut price_keys = BTreeMap::new();
        for binding in &settings.prices {
            let raw = binding.price_type.trim();
            match (directory.price_type_id(raw), used) {
                (Some(id), _) => {
                    price_keys.insert(id, binding.key.clone());
                }
                (None, Some((prices, _))) if !prices.is_empty() && !prices.contains(raw) => {
                    return Err(CmlError::PriceTypeNotFound {
                        wanted: binding.price_type.clone(),
                        known: describe(prices, &directory.price_types),
                    });
                }
                (None, _) => {
                    price_keys.insert(raw.to_string(), binding.key.clone());
                }
            }
        }
        let warehouse = match settings.warehouse.as_deref().map(str::trim) {
            None => None,
            Some(wanted) => match (directory.warehouse_id(wanted), used) {
                (Some(id), _) => Some(id),
                (None, Some((_, warehouses))) if !warehouses.is_empty() && !warehouses.contains(wanted) => {
                    return Err(CmlError::WarehouseNotFound {
                        wanted: wanted.to_string(),
                        known: describe(warehouses, &directory.warehouses),
                    });
                }
                // Taken as an `Ид`; a file without per-warehouse figures has totals only.
                (None, _) => Some(wanted.to_string()),
            },
        };
        Ok(Resolution {
            price_keys,
            warehouse,
            units: directory.units.clone(),
        })
    }
}

/// «Розничная» (Ид …), … — what the admin can put into the settings instead.
fn describe(used: &BTreeSet<String>, names: &BTreeMap<String, String>) -> String {
    let mut parts: Vec<String> = used
        .iter()
        .take(10)
        .map(|id| match names.get(id) {
            Some(name) => format!("«{}» (Ид {id})", name.trim()),
            None => format!("Ид {id}"),
        })
        .collect();
    if used.len() > 10 {
        parts.push(format!("и ещё {}", used.len() - 10));
    }
    parts.join(", ")
}

/// The two readings of a file.
#[derive(Debug, Clone)]
pub enum Pass {
    /// Read to the end and check everything that can fail the file — well-formed XML, the
    /// encoding, completeness, bounds — and learn the directory and which price types and
    /// warehouses the offers use; build nothing, yield nothing. Nothing the apply pass reads
    /// can fail where this pass succeeded: item-level problems are not errors but rejections.
    Check,
    /// Yield the changes, with prices and stock mapped.
    Apply(Resolution),
}

/// Elements the parser acts on; everything else is [`Tag::Other`] and only nests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Root,
    Classifier,
    Catalog,
    OfferPackage,
    Document,
    Groups,
    Group,
    Goods,
    Good,
    Id,
    Name,
    FullName,
    OfficialName,
    Barcode,
    Article,
    BaseUnit,
    TaxRates,
    TaxRate,
    Rate,
    Requisites,
    Requisite,
    Value,
    DeletionMark,
    Status,
    PriceTypes,
    PriceType,
    Warehouses,
    Warehouse,
    Offers,
    Offer,
    Prices,
    Price,
    PriceTypeId,
    UnitPrice,
    Coefficient,
    Quantity,
    Rests,
    Rest,
    Characteristics,
    Characteristic,
    Counterparties,
    Counterparty,
    Contacts,
    Contact,
    Kind,
    Role,
    Units,
    Unit,
    Code,
    ShortName,
    Other,
}

impl Tag {
    /// The tag of an element name; a name that is not UTF-8 is no element we know. (A
    /// `match` on strings compiles to a switch on the length and one comparison.)
    fn of(name: &[u8]) -> Tag {
        let Ok(name) = std::str::from_utf8(name) else {
            return Tag::Other;
        };
        match name {
            "КоммерческаяИнформация" => Tag::Root,
            "Классификатор" => Tag::Classifier,
            "Каталог" => Tag::Catalog,
            "ПакетПредложений" => Tag::OfferPackage,
            "Документ" => Tag::Document,
            "Группы" => Tag::Groups,
            "Группа" => Tag::Group,
            "Товары" => Tag::Goods,
            "Товар" => Tag::Good,
            "Ид" => Tag::Id,
            "Наименование" => Tag::Name,
            "ПолноеНаименование" => Tag::FullName,
            "ОфициальноеНаименование" => Tag::OfficialName,
            "Штрихкод" => Tag::Barcode,
            "Артикул" => Tag::Article,
            "БазоваяЕдиница" => Tag::BaseUnit,
            "СтавкиНалогов" => Tag::TaxRates,
            "СтавкаНалога" => Tag::TaxRate,
            "Ставка" => Tag::Rate,
            "ЗначенияРеквизитов" => Tag::Requisites,
            "ЗначениеРеквизита" => Tag::Requisite,
            "Значение" => Tag::Value,
            "ПометкаУдаления" => Tag::DeletionMark,
            "Статус" => Tag::Status,
            "ТипыЦен" => Tag::PriceTypes,
            "ТипЦены" => Tag::PriceType,
            "Склады" => Tag::Warehouses,
            "Склад" => Tag::Warehouse,
            "Предложения" => Tag::Offers,
            "Предложение" => Tag::Offer,
            "Цены" => Tag::Prices,
            "Цена" => Tag::Price,
            "ИдТипаЦены" => Tag::PriceTypeId,
            "ЦенаЗаЕдиницу" => Tag::UnitPrice,
            "Коэффициент" => Tag::Coefficient,
            "Количество" => Tag::Quantity,
            "Остатки" => Tag::Rests,
            "Остаток" => Tag::Rest,
            "ХарактеристикиТовара" => Tag::Characteristics,
            "ХарактеристикаТовара" => Tag::Characteristic,
            "Контрагенты" => Tag::Counterparties,
            "Контрагент" => Tag::Counterparty,
            "Контакты" => Tag::Contacts,
            "Контакт" => Tag::Contact,
            "Тип" => Tag::Kind,
            "Роль" => Tag::Role,
            "ЕдиницыИзмерения" => Tag::Units,
            "ЕдиницаИзмерения" => Tag::Unit,
            "Код" => Tag::Code,
            "НаименованиеКраткое" => Tag::ShortName,
            _ => Tag::Other,
        }
    }

    /// Elements whose text the parser reads.
    fn is_leaf(self) -> bool {
        matches!(
            self,
            Tag::Id
                | Tag::Name
                | Tag::FullName
                | Tag::OfficialName
                | Tag::Barcode
                | Tag::Article
                | Tag::BaseUnit
                | Tag::Rate
                | Tag::Value
                | Tag::DeletionMark
                | Tag::Status
                | Tag::PriceTypeId
                | Tag::UnitPrice
                | Tag::Coefficient
                | Tag::Quantity
                | Tag::Kind
                | Tag::Role
                | Tag::Code
                | Tag::ShortName
        )
    }
}

#[derive(Default)]
struct ProductDraft {
    id: String,
    name: String,
    full_name: String,
    sku: String,
    barcodes: Vec<String>,
    unit_code: Option<String>,
    unit_text: String,
    groups: Vec<String>,
    vat: Option<String>,
    vat_requisite: Option<String>,
    weighted_flag: bool,
    marked: bool,
    mark_group: Option<String>,
    plu: Option<String>,
    deleted: bool,
}

#[derive(Default)]
struct OfferDraft {
    id: String,
    name: String,
    sku: String,
    barcodes: Vec<String>,
    deleted: bool,
    characteristics: Vec<(String, String)>,
    /// The bound prices, mapped to the item's price keys as each `Цена` closes.
    prices: BTreeMap<String, Decimal>,
    /// Why a price could not be read, if one could not.
    bad_price: Option<String>,
    total: Option<String>,
    /// Per-warehouse amounts, summed as they are read: any at all, all of them, and the
    /// configured warehouse's.
    by_warehouse: bool,
    warehouses_sum: Decimal,
    wanted_sum: Decimal,
    /// An amount that is not a number.
    bad_qty: Option<String>,
    /// Whether any stock element was present (an offer of a prices file says nothing).
    has_stock: bool,
    /// `Остатки` was present: an empty one means nothing in stock anywhere.
    rests: bool,
}

#[derive(Default)]
struct GroupDraft {
    id: String,
    name: String,
    parent: Option<String>,
    deleted: bool,
}

#[derive(Default)]
struct Named {
    id: String,
    name: String,
    code: String,
}

#[derive(Default)]
struct Pair {
    open: bool,
    name: String,
    value: String,
}

/// The drafts below are reused from element to element (cleared, not reallocated): they are
/// filled for every price, warehouse amount and requisite of a 100 000-item file.
#[derive(Default)]
struct PriceDraft {
    open: bool,
    type_id: String,
    value: String,
    coefficient: String,
}

#[derive(Default)]
struct RestDraft {
    open: bool,
    warehouse: String,
    qty: String,
    has_qty: bool,
}

#[derive(Default)]
struct ClientDraft {
    id: String,
    name: String,
    full_name: String,
    official_name: String,
    role: String,
    phones: Vec<String>,
}

#[derive(Default)]
struct ContactDraft {
    kind: String,
    value: String,
}

/// A parser over one file. Call [`Parser::fill`] until it returns `false`, then take the
/// [`Findings`].
pub struct Parser<R: BufRead> {
    xml: quick_xml::Reader<Utf8Source<R>>,
    buf: Vec<u8>,
    stack: Vec<Tag>,
    text: String,
    /// Depth of the leaf whose text is being read; 0 when none.
    capture: usize,
    /// Whether that text is kept (the check pass only measures and validates most of it).
    keep: bool,
    /// Bytes of text in that leaf so far.
    text_len: usize,
    pass: Pass,
    default_vat: String,
    findings: Findings,
    catalog_full: bool,
    offers_full: bool,
    product: Option<ProductDraft>,
    offer: Option<OfferDraft>,
    groups: Vec<GroupDraft>,
    named: Option<Named>,
    pair: Pair,
    /// Scratch for folding requisite names.
    key: String,
    price: PriceDraft,
    rest: RestDraft,
    client: Option<ClientDraft>,
    contact: Option<ContactDraft>,
    /// Changes made by the element that just closed, handed out by `fill`.
    pending: Vec<Change>,
    /// A single pass: the settings and what the exchange knew, to map prices and stock once
    /// the file's own `ТипыЦен` and `Склады` are read, and to check the mapping at the end.
    single: Option<(Settings, Directory)>,
    root_seen: bool,
    finished: bool,
}

impl<R: BufRead> Parser<R> {
    pub fn new(input: R, settings: &Settings, pass: Pass) -> Result<Parser<R>, CmlError> {
        let source = Utf8Source::new(input)?;
        let mut xml = quick_xml::Reader::from_reader(source);
        // Mismatched end tags are what a file cut and glued wrongly looks like.
        xml.config_mut().check_end_names = true;
        Ok(Parser {
            xml,
            buf: Vec::with_capacity(4096),
            stack: Vec::with_capacity(32),
            text: String::new(),
            capture: 0,
            keep: false,
            text_len: 0,
            pass,
            default_vat: settings.default_vat.clone(),
            findings: Findings::default(),
            catalog_full: true,
            offers_full: true,
            product: None,
            offer: None,
            groups: Vec::new(),
            named: None,
            pair: Pair::default(),
            key: String::new(),
            price: PriceDraft::default(),
            rest: RestDraft::default(),
            client: None,
            contact: None,
            pending: Vec::new(),
            single: None,
            root_seen: false,
            finished: false,
        })
    }

    /// A parser that checks and applies in one pass, for a store that stages what it is given
    /// and keeps it only if the pass ends without an error (see
    /// [`super::import::run_single_pass`]). Prices and stock are mapped through `known` plus
    /// the file's own `ТипыЦен`/`Склады` (CommerceML puts those before `Предложения`).
    pub fn single_pass(input: R, settings: &Settings, known: &Directory) -> Result<Parser<R>, CmlError> {
        let resolution = Resolution::decide(settings, known, None)?;
        let mut parser = Parser::new(input, settings, Pass::Apply(resolution))?;
        parser.single = Some((settings.clone(), known.clone()));
        Ok(parser)
    }

    /// Bytes of the (UTF-8) stream read so far, for progress.
    pub fn position(&self) -> u64 {
        self.xml.buffer_position()
    }

    pub fn findings(&self) -> &Findings {
        &self.findings
    }

    pub fn into_findings(self) -> Findings {
        self.findings
    }

    /// Read on until `out` holds at least `want` changes or the file ends. Returns `false`
    /// once the whole file has been read (and checked to be complete).
    pub fn fill(&mut self, out: &mut Vec<Change>, want: usize) -> Result<bool, CmlError> {
        let want = want.max(1);
        loop {
            // Changes one element made beyond the batch wait for the next call.
            if !self.pending.is_empty() {
                if matches!(self.pass, Pass::Apply(_)) {
                    let take = (want.saturating_sub(out.len())).min(self.pending.len());
                    out.extend(self.pending.drain(..take));
                } else {
                    self.pending.clear();
                }
            }
            if out.len() >= want {
                return Ok(true);
            }
            if self.finished {
                return Ok(!self.pending.is_empty());
            }
            let before = self.pending.len();
            self.step()?;
            self.findings.counts.changes += (self.pending.len() - before) as u64;
        }
    }

    fn malformed(&self, detail: impl Into<String>) -> CmlError {
        CmlError::Malformed {
            position: self.xml.error_position(),
            detail: detail.into(),
        }
    }

    /// One XML event.
    fn step(&mut self) -> Result<(), CmlError> {
        // The event borrows the buffer; taking it out of `self` lets the handlers borrow
        // `self` mutably meanwhile, and putting it back keeps its capacity.
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let result = self.event(&mut buf);
        self.buf = buf;
        result
    }

    fn event(&mut self, buf: &mut Vec<u8>) -> Result<(), CmlError> {
        let event = match self.xml.read_event_into(buf) {
            Ok(event) => event,
            Err(quick_xml::Error::Io(e)) => return Err(CmlError::Read(std::io::Error::new(e.kind(), e.to_string()))),
            Err(e) => {
                return Err(CmlError::Malformed {
                    position: self.xml.error_position(),
                    detail: e.to_string(),
                });
            }
        };
        match event {
            Event::Start(e) => {
                let tag = self.tag(e.local_name().as_ref())?;
                self.open(tag, &e)?;
            }
            Event::Empty(e) => {
                let tag = self.tag(e.local_name().as_ref())?;
                self.open(tag, &e)?;
                self.close()?;
            }
            Event::End(_) => self.close()?,
            Event::Text(t) => {
                if self.capture != 0 && self.capture == self.stack.len() {
                    self.push_text(t.as_ref())?;
                }
            }
            Event::CData(t) => {
                if self.capture != 0 && self.capture == self.stack.len() {
                    self.push_text(t.as_ref())?;
                }
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref() {
                    Ok(Some(c)) => c,
                    Ok(None) => match r.as_ref() as &[u8] {
                        b"amp" => '&',
                        b"lt" => '<',
                        b"gt" => '>',
                        b"quot" => '"',
                        b"apos" => '\'',
                        other => {
                            let name = String::from_utf8_lossy(other).into_owned();
                            return Err(self.malformed(format!("неизвестная ссылка &{name};")));
                        }
                    },
                    Err(e) => return Err(self.malformed(e.to_string())),
                };
                if self.capture != 0 && self.capture == self.stack.len() {
                    let mut tmp = [0u8; 4];
                    self.push_text(c.encode_utf8(&mut tmp).as_bytes())?;
                }
            }
            Event::Eof => {
                if let Some(open) = self.stack.last() {
                    return Err(CmlError::Truncated { open: tag_name(*open) });
                }
                if !self.root_seen {
                    return Err(CmlError::Empty);
                }
                self.finish_file()?;
                self.finished = true;
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
        Ok(())
    }

    /// The element's tag. The root's name must be text: 1C writes names in Cyrillic, so a
    /// windows-1251 file whose declaration says UTF-8 shows there first. (Other names are
    /// only looked up: a name that is not UTF-8 is no known element.)
    fn tag(&self, name: &[u8]) -> Result<Tag, CmlError> {
        if self.stack.is_empty() && std::str::from_utf8(name).is_err() {
            return Err(CmlError::NotUtf8 {
                position: self.xml.buffer_position(),
            });
        }
        Ok(Tag::of(name))
    }

    /// Text of the leaf being read: checked to be UTF-8 and within bounds in both passes (so
    /// the apply pass cannot fail where the check pass did not), kept only when needed.
    fn push_text(&mut self, bytes: &[u8]) -> Result<(), CmlError> {
        let s = std::str::from_utf8(bytes).map_err(|_| CmlError::NotUtf8 {
            position: self.xml.buffer_position(),
        })?;
        self.text_len += s.len();
        if self.text_len > MAX_TEXT {
            let element = self.stack.last().map(|t| tag_name(*t)).unwrap_or_default();
            return Err(CmlError::TooLong { element, limit: MAX_TEXT });
        }
        if self.keep {
            self.text.push_str(s);
        }
        Ok(())
    }

    fn parent(&self, up: usize) -> Tag {
        // `up` = 1 is the element just below the top of the stack.
        self.stack
            .len()
            .checked_sub(1 + up)
            .and_then(|i| self.stack.get(i))
            .copied()
            .unwrap_or(Tag::Other)
    }

    fn attr(&self, e: &BytesStart<'_>, name: &str) -> Result<Option<String>, CmlError> {
        match e.try_get_attribute(name) {
            Ok(Some(a)) => match a.normalized_value(XmlVersion::Implicit1_0) {
                Ok(v) => Ok(Some(v.into_owned())),
                Err(err) => Err(self.malformed(err.to_string())),
            },
            Ok(None) => Ok(None),
            Err(err) => Err(self.malformed(err.to_string())),
        }
    }

    fn open(&mut self, tag: Tag, e: &BytesStart<'_>) -> Result<(), CmlError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(CmlError::TooDeep(MAX_DEPTH));
        }
        if self.stack.is_empty() {
            if self.root_seen {
                return Err(self.malformed("после корневого элемента есть ещё один"));
            }
            if tag != Tag::Root {
                return Err(CmlError::NotCommerceMl {
                    root: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                });
            }
            self.root_seen = true;
            self.findings.schema_version = self.attr(e, "ВерсияСхемы")?;
        }
        self.stack.push(tag);
        self.findings.elements += 1;
        let parent = self.parent(1);
        let checking = matches!(self.pass, Pass::Check);
        if tag.is_leaf() {
            self.text.clear();
            self.text_len = 0;
            self.capture = self.stack.len();
            // The check pass keeps only what the directory and the used price types and
            // warehouses need.
            self.keep = !checking
                || self.named.is_some()
                || tag == Tag::PriceTypeId
                || (tag == Tag::Id && parent == Tag::Warehouse && self.parent(2) == Tag::Rest);
        }
        match tag {
            Tag::Classifier if parent == Tag::Root => self.findings.kind.classifier = true,
            Tag::Catalog if parent == Tag::Root => {
                self.catalog_full = only_changes(self.attr(e, "СодержитТолькоИзменения")?) != Some(true);
            }
            Tag::OfferPackage if parent == Tag::Root => {
                self.offers_full = only_changes(self.attr(e, "СодержитТолькоИзменения")?) != Some(true);
            }
            Tag::Document if parent == Tag::Root => self.findings.kind.documents = true,
            Tag::Goods if parent == Tag::Catalog => {
                self.findings.kind.catalog = true;
                self.findings.catalog_full = Some(self.catalog_full);
            }
            Tag::Offers if parent == Tag::OfferPackage => {
                self.findings.kind.offers = true;
                self.findings.offers_full = Some(self.offers_full);
                if let Some((settings, known)) = &self.single {
                    let mut directory = known.clone();
                    directory.merge(&self.findings.directory);
                    self.pass = Pass::Apply(Resolution::decide(settings, &directory, None)?);
                }
            }
            // The attributes the apply pass reads are read here too: a malformed one must fail
            // the check, not the apply.
            Tag::Good if checking && parent == Tag::Goods && self.parent(2) == Tag::Catalog => {
                self.attr(e, "Статус")?;
            }
            Tag::BaseUnit if checking && parent == Tag::Good => {
                self.attr(e, "Код")?;
            }
            _ if checking && !matches!(tag, Tag::PriceType | Tag::Unit | Tag::Warehouse | Tag::Goods | Tag::Offers) => {}
            Tag::Group if parent == Tag::Groups && self.in_classifier() => {
                let parent_group = self.groups.last().map(|g| g.id.clone()).filter(|id| !id.is_empty());
                self.groups.push(GroupDraft {
                    parent: parent_group,
                    ..GroupDraft::default()
                });
            }
            Tag::Good if parent == Tag::Goods && self.parent(2) == Tag::Catalog => {
                let mut draft = ProductDraft::default();
                if self.attr(e, "Статус")?.is_some_and(|s| is_deleted_status(&s)) {
                    draft.deleted = true;
                }
                self.product = Some(draft);
            }
            Tag::Offer if parent == Tag::Offers => self.offer = Some(OfferDraft::default()),
            Tag::PriceType if parent == Tag::PriceTypes => self.named = Some(Named::default()),
            Tag::Unit if parent == Tag::Units => self.named = Some(Named::default()),
            Tag::Warehouse => match parent {
                Tag::Warehouses => self.named = Some(Named::default()),
                // 2.07–2.08: <Склад ИдСклада="…" КоличествоНаСкладе="…"/> inside the offer.
                Tag::Offer => {
                    let id = self.attr(e, "ИдСклада")?;
                    let qty = self.attr(e, "КоличествоНаСкладе")?;
                    if let Some(id) = id {
                        self.add_stock(&id, qty.as_deref().unwrap_or_default());
                    }
                }
                Tag::Rest if !checking => {
                    self.rest.warehouse.clear();
                    self.rest.qty.clear();
                    self.rest.has_qty = false;
                }
                _ => {}
            },
            Tag::Rests if parent == Tag::Offer => {
                if let Some(offer) = self.offer.as_mut() {
                    offer.has_stock = true;
                    offer.rests = true;
                }
            }
            Tag::Rest if parent == Tag::Rests => {
                self.rest.open = true;
                self.rest.warehouse.clear();
                self.rest.qty.clear();
                self.rest.has_qty = false;
                if let Some(offer) = self.offer.as_mut() {
                    offer.has_stock = true;
                }
            }
            Tag::Price if parent == Tag::Prices && self.offer.is_some() => {
                self.price.open = true;
                self.price.type_id.clear();
                self.price.value.clear();
                self.price.coefficient.clear();
            }
            Tag::Requisite | Tag::Characteristic | Tag::TaxRate => {
                self.pair.open = true;
                self.pair.name.clear();
                self.pair.value.clear();
            }
            Tag::BaseUnit if parent == Tag::Good => {
                let code = self.attr(e, "Код")?;
                if let Some(p) = self.product.as_mut() {
                    p.unit_code = code.map(|c| c.trim().to_string()).filter(|c| !c.is_empty());
                }
            }
            Tag::Counterparty if parent == Tag::Counterparties => self.client = Some(ClientDraft::default()),
            Tag::Contact if parent == Tag::Contacts && self.parent(2) == Tag::Counterparty && self.parent(3) == Tag::Counterparties => {
                self.contact = Some(ContactDraft::default());
            }
            _ => {}
        }
        Ok(())
    }

    fn in_classifier(&self) -> bool {
        self.stack.get(1) == Some(&Tag::Classifier)
    }

    fn close(&mut self) -> Result<(), CmlError> {
        let depth = self.stack.len();
        let Some(tag) = self.stack.pop() else {
            return Err(self.malformed("лишний закрывающий тег"));
        };
        let parent = self.parent(0);
        if tag.is_leaf() {
            // The buffer is lent to `leaf` and taken back, so its capacity is reused and only
            // the values kept are copied.
            let mut text = std::mem::take(&mut self.text);
            if self.capture != depth {
                text.clear();
            }
            self.capture = 0;
            self.leaf(tag, parent, &text);
            text.clear();
            self.text = text;
            return Ok(());
        }
        match tag {
            Tag::Group if parent == Tag::Groups && self.in_classifier() => {
                if let Some(g) = self.groups.pop() {
                    self.finish_group(g);
                }
            }
            Tag::Good if self.product.is_some() && parent == Tag::Goods => {
                if let Some(p) = self.product.take() {
                    self.finish_product(p);
                }
            }
            Tag::Offer if parent == Tag::Offers => {
                if let Some(o) = self.offer.take() {
                    self.finish_offer(o);
                }
            }
            Tag::PriceType if parent == Tag::PriceTypes => {
                if let Some(n) = self.named.take().filter(|n| !n.id.is_empty()) {
                    self.findings.directory.price_types.insert(n.id, n.name);
                }
            }
            Tag::Unit if parent == Tag::Units => {
                if let Some(n) = self.named.take().filter(|n| !n.id.is_empty() && !n.code.is_empty()) {
                    self.findings.directory.units.insert(n.id, n.code);
                }
            }
            Tag::Warehouse => match parent {
                Tag::Warehouses => {
                    if let Some(n) = self.named.take().filter(|n| !n.id.is_empty()) {
                        self.findings.directory.warehouses.insert(n.id, n.name);
                    }
                }
                Tag::Rest if self.rest.open => {
                    // 3.x: Остаток/Склад/{Ид, Количество} — one warehouse's amount.
                    let wh = std::mem::take(&mut self.rest.warehouse);
                    let qty = std::mem::take(&mut self.rest.qty);
                    if !wh.is_empty() {
                        self.add_stock(&wh, &qty);
                    }
                    self.rest.warehouse = wh;
                    self.rest.qty = qty;
                    self.rest.warehouse.clear();
                    self.rest.has_qty = false;
                }
                _ => {}
            },
            Tag::Rest if parent == Tag::Rests => {
                // Остаток/Количество without a warehouse: the total.
                self.rest.open = false;
                if self.rest.has_qty
                    && let Some(offer) = self.offer.as_mut()
                {
                    offer.total = Some(self.rest.qty.clone());
                }
            }
            Tag::Price if parent == Tag::Prices && self.price.open => {
                self.price.open = false;
                self.close_price();
            }
            Tag::Requisite if self.pair.open => {
                self.pair.open = false;
                let pair = std::mem::take(&mut self.pair);
                self.requisite(&pair);
                self.pair = pair;
            }
            Tag::Characteristic if self.pair.open => {
                self.pair.open = false;
                if let Some(offer) = self.offer.as_mut()
                    && parent == Tag::Characteristics
                {
                    offer
                        .characteristics
                        .push((self.pair.name.trim().to_string(), self.pair.value.trim().to_string()));
                }
            }
            Tag::TaxRate if self.pair.open => {
                self.pair.open = false;
                if let Some(p) = self.product.as_mut() {
                    let name = self.pair.name.trim().to_lowercase();
                    if name.is_empty() || name.contains("ндс") {
                        p.vat = Some(self.pair.value.clone());
                    }
                }
            }
            Tag::Contact => {
                if let (Some(c), Some(client)) = (self.contact.take(), self.client.as_mut())
                    && is_phone_kind(&c.kind)
                    && !c.value.trim().is_empty()
                {
                    client.phones.push(c.value.trim().to_string());
                }
            }
            Tag::Counterparty if parent == Tag::Counterparties => {
                if let Some(c) = self.client.take() {
                    self.finish_client(c);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// A leaf's text, put where its place says.
    fn leaf(&mut self, tag: Tag, parent: Tag, text: &str) {
        // A document's client, not a contact person nested in it (`Представители`).
        let client = parent == Tag::Counterparty && self.parent(1) == Tag::Counterparties;
        if matches!(self.pass, Pass::Check) {
            match (tag, parent) {
                (Tag::PriceTypeId, Tag::Price) if self.parent(2) == Tag::Offer => {
                    self.findings.price_types_used.insert(text.trim().to_string());
                }
                (Tag::Id, Tag::Warehouse) if self.parent(1) == Tag::Rest => {
                    self.findings.warehouses_used.insert(text.trim().to_string());
                }
                _ => {}
            }
        }
        match (tag, parent) {
            (Tag::Id, Tag::Good) => set(&mut self.product, |p| p.id = text.trim().to_string()),
            (Tag::Id, Tag::Groups) if self.parent(1) == Tag::Good => set(&mut self.product, |p| {
                let id = text.trim();
                if !id.is_empty() {
                    p.groups.push(id.to_string());
                }
            }),
            (Tag::Id, Tag::Group) => {
                if let Some(g) = self.groups.last_mut() {
                    g.id = text.trim().to_string();
                }
            }
            (Tag::Id, Tag::Offer) => set(&mut self.offer, |o| o.id = text.trim().to_string()),
            (Tag::Id, Tag::PriceType | Tag::Unit) => set(&mut self.named, |n| n.id = text.trim().to_string()),
            (Tag::Id, Tag::Warehouse) => {
                if self.parent(1) == Tag::Rest {
                    if self.rest.open {
                        self.rest.warehouse.clear();
                        self.rest.warehouse.push_str(text.trim());
                    }
                } else {
                    set(&mut self.named, |n| n.id = text.trim().to_string());
                }
            }
            (Tag::Id, Tag::Counterparty) if client => set(&mut self.client, |c| c.id = text.trim().to_string()),
            (Tag::Name, Tag::Good) => set(&mut self.product, |p| p.name = text.to_string()),
            (Tag::Name, Tag::Group) => {
                if let Some(g) = self.groups.last_mut() {
                    g.name = text.to_string();
                }
            }
            (Tag::Name, Tag::Offer) => set(&mut self.offer, |o| o.name = text.to_string()),
            (Tag::Name, Tag::PriceType | Tag::Warehouse) => set(&mut self.named, |n| n.name = text.to_string()),
            (Tag::Name, Tag::Requisite | Tag::Characteristic | Tag::TaxRate) if self.pair.open => self.pair.name.push_str(text),
            (Tag::Name, Tag::Counterparty) if client => set(&mut self.client, |c| c.name = text.to_string()),
            (Tag::FullName, Tag::Counterparty) if client => set(&mut self.client, |c| c.full_name = text.to_string()),
            (Tag::OfficialName, Tag::Counterparty) if client => set(&mut self.client, |c| c.official_name = text.to_string()),
            (Tag::Role, Tag::Counterparty) if client => set(&mut self.client, |c| c.role = text.to_string()),
            (Tag::Barcode, Tag::Good) => set(&mut self.product, |p| push_codes(&mut p.barcodes, text)),
            (Tag::Barcode, Tag::Offer) => set(&mut self.offer, |o| push_codes(&mut o.barcodes, text)),
            (Tag::Article, Tag::Good) => set(&mut self.product, |p| p.sku = text.trim().to_string()),
            (Tag::Article, Tag::Offer) => set(&mut self.offer, |o| o.sku = text.trim().to_string()),
            (Tag::BaseUnit, Tag::Good) => set(&mut self.product, |p| p.unit_text = text.trim().to_string()),
            (Tag::Rate, Tag::TaxRate) | (Tag::Value, Tag::Requisite | Tag::Characteristic) if self.pair.open => {
                self.pair.value.push_str(text)
            }
            (Tag::Value, Tag::Contact) => set(&mut self.contact, |c| c.value = text.to_string()),
            (Tag::Kind, Tag::Contact) => set(&mut self.contact, |c| c.kind = text.to_string()),
            (Tag::DeletionMark, Tag::Good) => set(&mut self.product, |p| p.deleted |= is_true(text)),
            (Tag::DeletionMark, Tag::Offer) => set(&mut self.offer, |o| o.deleted |= is_true(text)),
            (Tag::DeletionMark, Tag::Group) => {
                if let Some(g) = self.groups.last_mut() {
                    g.deleted |= is_true(text);
                }
            }
            (Tag::Status, Tag::Good) => set(&mut self.product, |p| p.deleted |= is_deleted_status(text)),
            (Tag::PriceTypeId, Tag::Price) if self.price.open => self.price.type_id.push_str(text.trim()),
            (Tag::UnitPrice, Tag::Price) if self.price.open => self.price.value.push_str(text),
            (Tag::Coefficient, Tag::Price) if self.price.open => self.price.coefficient.push_str(text),
            (Tag::Quantity, Tag::Offer) => set(&mut self.offer, |o| {
                o.has_stock = true;
                o.total = Some(text.to_string());
            }),
            (Tag::Quantity, Tag::Warehouse | Tag::Rest) if self.rest.open => {
                self.rest.qty.clear();
                self.rest.qty.push_str(text);
                self.rest.has_qty = true;
            }
            (Tag::Code, Tag::Unit) => set(&mut self.named, |n| n.code = text.trim().to_string()),
            (Tag::ShortName, Tag::Unit) => set(&mut self.named, |n| {
                if n.code.is_empty() {
                    n.name = text.to_string();
                }
            }),
            _ => {}
        }
    }

    /// `ЗначенияРеквизитов`: 1C's free-form attributes. The names below are the ones 1C's
    /// site exchange writes (and that administrators add through its settings) for what a
    /// till needs: barcodes, weighing, marking, VAT, the scale's PLU.
    fn requisite(&mut self, pair: &Pair) {
        let mut key = std::mem::take(&mut self.key);
        fold_into(&mut key, &pair.name);
        self.requisite_value(&key, pair.value.trim());
        self.key = key;
    }

    fn requisite_value(&mut self, key: &str, value: &str) {
        if let Some(p) = self.product.as_mut() {
            match key {
                "штрихкод" | "штрихкоды" => push_codes(&mut p.barcodes, value),
                "весовой" | "весовойтовар" | "весовая" | "товарвесовой" | "продаетсянавес" => {
                    p.weighted_flag |= is_true(value)
                }
                "маркируемый" | "маркируемыйтовар" | "подлежитмаркировке" | "маркировка" => {
                    p.marked |= is_true(value)
                }
                "особенностьучета" | "видмаркировки" | "товарнаягруппамаркировки" | "группамаркировки" => {
                    if let Some(group) = mark_group(value) {
                        p.marked = true;
                        p.mark_group = Some(group);
                    }
                }
                "ставкандс" | "ндс" => p.vat_requisite = Some(value.to_string()),
                "полноенаименование" => p.full_name = value.to_string(),
                "plu" | "кодplu" | "кодвесов" | "кодтоваравесов" | "pluвесов" => {
                    p.plu = Some(value.to_string()).filter(|v| !v.is_empty());
                }
                _ => {}
            }
        } else if let Some(o) = self.offer.as_mut()
            && matches!(key, "штрихкод" | "штрихкоды")
        {
            push_codes(&mut o.barcodes, value);
        }
    }

    fn reject(&mut self, what: &str, reason: String) {
        self.findings.rejected_total += 1;
        if self.findings.rejected.len() < KEEP_REJECTED {
            self.findings.rejected.push(Rejected {
                what: what.to_string(),
                reason,
            });
        }
    }

    fn finish_group(&mut self, g: GroupDraft) {
        if g.id.is_empty() || g.deleted {
            return;
        }
        self.findings.counts.groups += 1;
        self.pending.push(Change::GroupUpsert(ItemGroup {
            id: g.id,
            name: g.name.trim().to_string(),
            parent: g.parent,
        }));
    }

    fn finish_product(&mut self, p: ProductDraft) {
        if p.id.is_empty() {
            let name = p.name.trim().to_string();
            self.reject(&name, "у товара нет Ид".into());
            return;
        }
        if p.deleted {
            self.findings.counts.deleted += 1;
            self.pending.push(Change::ItemDelete(p.id));
            return;
        }
        if self.catalog_full {
            self.findings.catalog_ids.insert(p.id.clone());
        }
        let name = match p.name.trim() {
            "" => p.full_name.trim().to_string(),
            n => n.to_string(),
        };
        if name.is_empty() {
            self.reject(&p.id, "у товара нет наименования".into());
            return;
        }
        let vat_text = p.vat.as_deref().or(p.vat_requisite.as_deref());
        let vat = match vat_text.map(vat_rate) {
            None | Some(Ok(None)) => self.default_vat.clone(),
            Some(Ok(Some(v))) => v,
            Some(Err(())) => {
                let raw = vat_text.unwrap_or_default().to_string();
                self.reject(&p.id, format!("непонятная ставка НДС «{raw}»"));
                return;
            }
        };
        let unit = self.unit_of(&p);
        let (unit_name, fractional) = match unit {
            UnitOf::Known(u) => (u.ours.to_string(), u.fractional),
            UnitOf::Unknown(text) => (text, false),
        };
        let item = Item {
            id: p.id,
            sku: p.sku,
            name,
            unit: unit_name,
            vat,
            weighted: fractional || p.weighted_flag,
            marked: p.marked,
            mark_group: p.mark_group,
            plu: p.plu,
            barcodes: p.barcodes,
            prices: BTreeMap::new(),
        };
        self.findings.counts.items += 1;
        self.pending.push(Change::ItemDetails { item, groups: p.groups });
    }

    fn unit_of(&self, p: &ProductDraft) -> UnitOf {
        if let Some(u) = p.unit_code.as_deref().and_then(units::by_code) {
            return UnitOf::Known(u);
        }
        let text = p.unit_text.as_str();
        let by_text = units::by_code(text)
            .or_else(|| self.findings.directory.units.get(text).and_then(|c| units::by_code(c)))
            .or_else(|| match &self.pass {
                Pass::Apply(r) => r.units.get(text).and_then(|c| units::by_code(c)),
                Pass::Check => None,
            })
            .or_else(|| units::by_name(text));
        match by_text {
            Some(u) => UnitOf::Known(u),
            None => match (p.unit_code.as_deref(), text) {
                (Some(code), _) => UnitOf::Unknown(code.to_string()),
                (None, "") => UnitOf::Known(units::by_ours("pcs")),
                (None, t) => UnitOf::Unknown(t.to_string()),
            },
        }
    }

    fn finish_offer(&mut self, o: OfferDraft) {
        if o.id.is_empty() {
            let name = o.name.trim().to_string();
            self.reject(&name, "у предложения нет Ид".into());
            return;
        }
        if o.deleted {
            self.findings.counts.deleted += 1;
            self.pending.push(Change::ItemDelete(o.id));
            return;
        }
        if self.offers_full {
            self.findings.offer_ids.insert(o.id.clone());
        }
        // `товар#характеристика`: a characteristic sold as its own item.
        if let Some((product, characteristic)) = o.id.split_once('#')
            && !product.is_empty()
            && !characteristic.is_empty()
            && (!o.name.trim().is_empty() || !o.characteristics.is_empty() || !o.barcodes.is_empty())
        {
            self.findings.counts.variants += 1;
            self.pending.push(Change::ItemVariant(ItemVariant {
                id: o.id.clone(),
                product: product.to_string(),
                name: Some(o.name.trim().to_string()).filter(|n| !n.is_empty()),
                characteristics: o.characteristics.clone(),
                barcodes: o.barcodes.clone(),
                sku: Some(o.sku.clone()).filter(|s| !s.is_empty()),
            }));
        }
        if let Some(reason) = &o.bad_price {
            self.reject(&o.id, reason.clone());
        }
        if !o.prices.is_empty() {
            self.findings.counts.prices += 1;
            self.pending.push(Change::ItemPrices {
                item: o.id.clone(),
                prices: o.prices.clone(),
            });
        }
        if o.has_stock {
            match self.stock_of(&o) {
                Ok(Some(qty)) => {
                    self.findings.counts.stock += 1;
                    self.pending.push(Change::ItemStock { item: o.id, qty });
                }
                Ok(None) => {}
                Err(raw) => self.reject(&o.id, format!("непонятный остаток «{raw}»")),
            }
        }
    }

    /// A `Цена` closed: map it to the item's price key now, so nothing of it is kept.
    fn close_price(&mut self) {
        let type_id = self.price.type_id.as_str();
        if !self.findings.price_types_used.contains(type_id) {
            self.findings.price_types_used.insert(type_id.to_string());
        }
        let Some(offer) = self.offer.as_mut() else { return };
        match unit_price(&self.price.value, &self.price.coefficient) {
            Some(price) => {
                if let Pass::Apply(r) = &self.pass
                    && let Some(key) = r.price_keys.get(type_id)
                {
                    offer.prices.insert(key.clone(), price);
                }
            }
            None => {
                offer.bad_price = Some(format!(
                    "непонятная цена «{}» (коэффициент «{}»)",
                    self.price.value.trim(),
                    self.price.coefficient.trim()
                ));
            }
        }
    }

    /// One warehouse's amount in an offer (2.07's attributes or 3.x's `Остаток/Склад`),
    /// summed as read. The check pass only notes the warehouse.
    fn add_stock(&mut self, warehouse: &str, qty: &str) {
        if !self.findings.warehouses_used.contains(warehouse) {
            self.findings.warehouses_used.insert(warehouse.to_string());
        }
        let wanted = match &self.pass {
            Pass::Apply(r) => r.warehouse.as_deref(),
            Pass::Check => return,
        };
        let Some(offer) = self.offer.as_mut() else { return };
        offer.has_stock = true;
        match number(qty) {
            Some(q) => {
                offer.by_warehouse = true;
                offer.warehouses_sum += q;
                if wanted == Some(warehouse) {
                    offer.wanted_sum += q;
                }
            }
            None => offer.bad_qty = Some(qty.trim().to_string()),
        }
    }

    /// The shop's stock in an offer: the configured warehouse's amount (0 when the offer lists
    /// other warehouses only — 1C leaves out warehouses with nothing), else the total, else
    /// the sum over the warehouses.
    fn stock_of(&self, o: &OfferDraft) -> Result<Option<Decimal>, String> {
        if let Some(raw) = &o.bad_qty {
            return Err(raw.clone());
        }
        let total = match &o.total {
            Some(t) => Some(number(t).ok_or_else(|| t.trim().to_string())?),
            None => None,
        };
        if !o.by_warehouse && total.is_none() && o.rests {
            return Ok(Some(Decimal::ZERO));
        }
        let wanted = match &self.pass {
            Pass::Apply(r) => r.warehouse.as_deref(),
            Pass::Check => None,
        };
        Ok(match wanted {
            // An offer without a breakdown (2.03–2.04) has only the total.
            Some(_) if !o.by_warehouse => total,
            Some(_) => Some(o.wanted_sum),
            None => total.or_else(|| o.by_warehouse.then_some(o.warehouses_sum)),
        })
    }

    fn finish_client(&mut self, c: ClientDraft) {
        // The seller in a document is the shop's own organisation, not a client.
        if c.role.trim() == "Продавец" {
            return;
        }
        let name = [&c.name, &c.full_name, &c.official_name]
            .iter()
            .map(|n| n.trim())
            .find(|n| !n.is_empty())
            .unwrap_or_default()
            .to_string();
        if c.id.is_empty() || name.is_empty() {
            return;
        }
        self.findings.counts.clients += 1;
        self.pending.push(Change::ClientUpsert(Client {
            id: c.id,
            name,
            phones: c.phones,
            debt: None,
            overdue: None,
            credit_limit: None,
            stop_list: false,
            segment: None,
            manager: None,
            loyalty_cards: Vec::new(),
            last_activity: None,
        }));
    }

    fn finish_file(&mut self) -> Result<(), CmlError> {
        if let Some((settings, known)) = &self.single {
            // The check a separate check pass makes before applying, made at the end.
            let mut directory = known.clone();
            directory.merge(&self.findings.directory);
            let used = (&self.findings.price_types_used, &self.findings.warehouses_used);
            Resolution::decide(settings, &directory, Some(used))?;
        }
        if self.findings.kind.catalog && !self.catalog_full {
            self.findings.catalog_ids.clear();
        }
        if self.findings.kind.offers && !self.offers_full {
            self.findings.offer_ids.clear();
        }
        Ok(())
    }
}

enum UnitOf {
    Known(&'static units::Unit),
    Unknown(String),
}

fn set<T>(draft: &mut Option<T>, f: impl FnOnce(&mut T)) {
    if let Some(d) = draft.as_mut() {
        f(d);
    }
}

fn tag_name(tag: Tag) -> String {
    format!("{tag:?}")
}

fn only_changes(attr: Option<String>) -> Option<bool> {
    attr.map(|v| is_true(&v))
}

fn is_true(text: &str) -> bool {
    match text.trim() {
        "true" => true,
        "false" | "" => false,
        t => matches!(t.to_lowercase().as_str(), "true" | "1" | "да" | "истина" | "yes"),
    }
}

/// A name folded for comparison: letters and digits only, Latin and Cyrillic lower-cased
/// ("Код PLU" → "кодplu", "Вид_Маркировки" → "видмаркировки"). 1C's requisite names are
/// typed by people, with spaces and case as they please; this covers the alphabets they use
/// without the cost of full Unicode case tables on every requisite of every item.
fn fold(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    fold_into(&mut out, name);
    out
}

/// [`fold`] into a reused buffer.
fn fold_into(out: &mut String, name: &str) {
    out.clear();
    for c in name.chars() {
        match c {
            'A'..='Z' => out.push(c.to_ascii_lowercase()),
            'a'..='z' | '0'..='9' | 'а'..='я' | 'ё' => out.push(c),
            'А'..='Я' => out.push(char::from_u32(c as u32 + 0x20).unwrap_or(c)),
            'Ё' => out.push('ё'),
            c if c.is_ascii() || c.is_whitespace() => {}
            c => out.extend(c.to_lowercase()),
        }
    }
}

/// `Статус` = `Удален` (2.04+ marks a deleted product so instead of `ПометкаУдаления`).
fn is_deleted_status(text: &str) -> bool {
    text.trim().to_lowercase().starts_with("удал")
}

fn is_phone_kind(kind: &str) -> bool {
    let k = kind.to_lowercase();
    k.contains("телефон") || k.contains("phone")
}

/// Barcodes: one per element, or several in one value separated by commas, semicolons or
/// spaces (as 1C prints a list in `ЗначенияРеквизитов`); duplicates dropped.
fn push_codes(codes: &mut Vec<String>, text: &str) {
    for code in text.split(|c: char| c == ',' || c == ';' || c.is_whitespace()) {
        if !code.is_empty() && !codes.iter().any(|c| c == code) {
            codes.push(code.to_string());
        }
    }
}

/// A number as 1C writes it: a dot (or, by hand, a comma) for decimals, spaces (also the
/// no-break space 1C puts into formatted numbers) ignored.
pub(crate) fn number(text: &str) -> Option<Decimal> {
    let cleaned: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{a0}')
        .map(|c| if c == ',' { '.' } else { c })
        .collect();
    if cleaned.is_empty() {
        return None;
    }
    Decimal::from_str(&cleaned).ok()
}

/// A price per the item's base unit, in kopecks. A price given per a package of `Коэффициент`
/// base units is divided by it.
fn unit_price(value: &str, coefficient: &str) -> Option<Decimal> {
    let price = number(value)?;
    if price < Decimal::ZERO {
        return None;
    }
    let k = if coefficient.trim().is_empty() {
        Decimal::ONE
    } else {
        number(coefficient)?
    };
    if k <= Decimal::ZERO {
        return None;
    }
    Some(money::to_money(price.checked_div(k)?))
}

/// VAT as storeterm writes it (`"20"`, `"10"`, `"0"`, `"none"`) from what 1C prints:
/// `20`, `20%`, `НДС 20%`, `20/120` (the calculated rate of an advance: the rate is 20),
/// `Без налога`, `Без НДС`. `Ok(None)` for an empty value; `Err` for anything else.
pub(crate) fn vat_rate(text: &str) -> Result<Option<String>, ()> {
    // The usual case first: a bare number.
    if let Ok(rate) = Decimal::from_str(text.trim()) {
        return if rate >= Decimal::ZERO && rate < Decimal::ONE_HUNDRED {
            Ok(Some(rate.normalize().to_string()))
        } else {
            Err(())
        };
    }
    let t = text.trim().to_lowercase();
    if t.is_empty() {
        return Ok(None);
    }
    if t.starts_with("без") || t == "none" || t == "безндс" {
        return Ok(Some("none".into()));
    }
    let t = t.replace("ндс", "");
    let t = t.split('/').next().unwrap_or_default().trim().trim_end_matches('%').trim();
    match number(t) {
        Some(rate) if rate >= Decimal::ZERO && rate < Decimal::ONE_HUNDRED => Ok(Some(rate.normalize().to_string())),
        _ => Err(()),
    }
}

/// Marking categories as 1C names them (`ОсобенностьУчета`, `ВидМаркировки`) → storeterm's
/// `mark_group`; `None` when the value says the goods are not marked.
fn mark_group(value: &str) -> Option<String> {
    let v = fold(value);
    if v.is_empty() || v.starts_with("не") || v.starts_with("нет") || v == "false" || v.starts_with("обычн") || v.starts_with("без")
    {
        return None;
    }
    const GROUPS: &[(&str, &str)] = &[
        ("табач", "tobacco"),
        ("никотин", "nicotine"),
        ("обув", "shoes"),
        ("легкойпромышленности", "textile"),
        ("одежд", "textile"),
        ("текстил", "textile"),
        ("молоч", "milk"),
        ("вод", "water"),
        ("шин", "tires"),
        ("дух", "perfume"),
        ("парфюм", "perfume"),
        ("фото", "cameras"),
        ("велосипед", "bicycles"),
        ("кресл", "wheelchairs"),
        ("лекарств", "drugs"),
        ("пив", "beer"),
        ("антисепт", "antiseptics"),
        ("бад", "supplements"),
        ("биологическиактивн", "supplements"),
        ("медицинск", "medical"),
        ("икр", "caviar"),
        ("масл", "oils"),
        ("консерв", "canned"),
        ("кормдляживотных", "pet_food"),
        ("корма", "pet_food"),
        ("ветеринар", "vet_drugs"),
        ("безалкогол", "soft_drinks"),
        ("соки", "soft_drinks"),
        ("игрушк", "toys"),
        ("радиоэлектрон", "electronics"),
        ("бытовойхимии", "household_chemicals"),
        ("косметик", "cosmetics"),
    ];
    Some(
        GROUPS
            .iter()
            .find(|(stem, _)| v.contains(stem))
            .map(|(_, g)| g.to_string())
            .unwrap_or_else(|| value.trim().to_string()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn apply(doc: &str, settings: &Settings, resolution: Resolution) -> Result<(Vec<Change>, Findings), CmlError> {
        let mut parser = Parser::new(doc.as_bytes(), settings, Pass::Apply(resolution))?;
        let mut out = Vec::new();
        while parser.fill(&mut out, 7)? {}
        Ok((out, parser.into_findings()))
    }

    fn catalog(goods: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><КоммерческаяИнформация><Каталог><Товары>{goods}</Товары></Каталог></КоммерческаяИнформация>"
        )
    }

    #[test]
    fn element_names_are_recognised_by_their_bytes() {
        for (name, tag) in [
            ("КоммерческаяИнформация", Tag::Root),
            ("Ид", Tag::Id),
            ("Товар", Tag::Good),
            ("Товары", Tag::Goods),
            ("ЗначениеРеквизита", Tag::Requisite),
            ("ЗначенияРеквизитов", Tag::Requisites),
            ("НаименованиеКраткое", Tag::ShortName),
            ("Склад", Tag::Warehouse),
        ] {
            assert_eq!(Tag::of(name.as_bytes()), tag, "{name}");
        }
        assert_eq!(Tag::of("Ида".as_bytes()), Tag::Other);
        assert_eq!(Tag::of(b"Id"), Tag::Other);
        assert_eq!(Tag::of(&[0xD0]), Tag::Other);
    }

    #[test]
    fn vat_as_1c_prints_it() {
        for (text, vat) in [
            ("20", "20"),
            ("20%", "20"),
            (" 10 % ", "10"),
            ("НДС 20%", "20"),
            ("20/120", "20"),
            ("0", "0"),
            ("0%", "0"),
            ("22", "22"),
            ("Без налога", "none"),
            ("без НДС", "none"),
            ("БезНДС", "none"),
        ] {
            assert_eq!(vat_rate(text), Ok(Some(vat.to_string())), "{text}");
        }
        assert_eq!(vat_rate(""), Ok(None));
        assert_eq!(vat_rate("сто"), Err(()));
        assert_eq!(vat_rate("120"), Err(()));
    }

    #[test]
    fn numbers_as_1c_writes_them() {
        assert_eq!(number("1719"), Some(dec!(1719)));
        assert_eq!(number(" 1\u{a0}719,50 "), Some(dec!(1719.50)));
        assert_eq!(number("231.7400"), Some(dec!(231.74)));
        assert_eq!(number("-3"), Some(dec!(-3)));
        assert_eq!(number(""), None);
        assert_eq!(number("12 руб"), None);
        assert_eq!(unit_price("1150", "10"), Some(dec!(115.00)));
        assert_eq!(unit_price("100", "0"), None);
        assert_eq!(unit_price("-1", ""), None);
    }

    #[test]
    fn marking_categories() {
        assert_eq!(mark_group("Табачная продукция").as_deref(), Some("tobacco"));
        assert_eq!(mark_group("ОбувнаяПродукция").as_deref(), Some("shoes"));
        assert_eq!(mark_group("Продукция легкой промышленности").as_deref(), Some("textile"));
        assert_eq!(mark_group("Упакованная вода").as_deref(), Some("water"));
        assert_eq!(mark_group("Не маркируется"), None);
        assert_eq!(mark_group(""), None);
        assert_eq!(mark_group("Обычный товар"), None);
        assert_eq!(mark_group("Новая категория").as_deref(), Some("Новая категория"));
    }

    #[test]
    fn an_item_with_an_unreadable_vat_is_refused_alone_and_kept_sellable() {
        let doc = catalog(
            "<Товар><Ид>A</Ид><Наименование>Хлеб</Наименование><СтавкиНалогов><СтавкаНалога><Наименование>НДС</Наименование><Ставка>много</Ставка></СтавкаНалога></СтавкиНалогов></Товар>\
             <Товар><Ид>B</Ид><Наименование>Соль</Наименование><Статус>Удален</Статус></Товар>\
             <Товар><Наименование>Без Ид</Наименование></Товар>\
             <Товар><Ид>C</Ид><Наименование>Сахар &amp; песок</Наименование><БазоваяЕдиница>ящ</БазоваяЕдиница></Товар>",
        );
        let (changes, f) = apply(&doc, &Settings::retail("x", None), Resolution::default()).unwrap();
        assert_eq!(f.rejected_total, 2);
        assert_eq!(f.rejected[0].reason, "непонятная ставка НДС «много»");
        assert_eq!(f.rejected[1].what, "Без Ид");
        // A refused item is still "seen": a full unload does not stop selling it.
        assert!(f.catalog_ids.contains("A") && f.catalog_ids.contains("C") && !f.catalog_ids.contains("B"));
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0], Change::ItemDelete("B".into()));
        let Change::ItemDetails { item, .. } = &changes[1] else {
            panic!("{:?}", changes[1])
        };
        assert_eq!(
            (item.name.as_str(), item.unit.as_str(), item.vat.as_str()),
            ("Сахар & песок", "ящ", "none")
        );
    }

    #[test]
    fn an_empty_file_and_a_foreign_root_are_refused() {
        assert!(matches!(
            apply("", &Settings::retail("x", None), Resolution::default()),
            Err(CmlError::Empty)
        ));
        assert!(matches!(
            apply("  \n", &Settings::retail("x", None), Resolution::default()),
            Err(CmlError::Empty)
        ));
        assert!(matches!(
            apply("<html/>", &Settings::retail("x", None), Resolution::default()),
            Err(CmlError::NotCommerceMl { .. })
        ));
        let two_roots = "<КоммерческаяИнформация/><КоммерческаяИнформация/>";
        assert!(matches!(
            apply(two_roots, &Settings::retail("x", None), Resolution::default()),
            Err(CmlError::Malformed { .. })
        ));
    }

    #[test]
    fn nesting_and_value_lengths_are_bounded() {
        let deep = format!("<КоммерческаяИнформация>{}", "<a>".repeat(200));
        assert!(matches!(
            apply(&deep, &Settings::retail("x", None), Resolution::default()),
            Err(CmlError::TooDeep(_))
        ));
        let long = catalog(&format!(
            "<Товар><Ид>A</Ид><Наименование>{}</Наименование></Товар>",
            "я".repeat(MAX_TEXT)
        ));
        assert!(matches!(
            apply(&long, &Settings::retail("x", None), Resolution::default()),
            Err(CmlError::TooLong { .. })
        ));
    }

    #[test]
    fn stock_from_every_shape_1c_writes() {
        let doc = "<КоммерческаяИнформация><ПакетПредложений><Предложения>\
            <Предложение><Ид>A</Ид><Остатки/></Предложение>\
            <Предложение><Ид>B</Ид><Остатки><Остаток><Количество>7</Количество></Остаток></Остатки></Предложение>\
            <Предложение><Ид>C</Ид><Количество>5</Количество></Предложение>\
            <Предложение><Ид>D</Ид><Склад ИдСклада=\"W1\" КоличествоНаСкладе=\"2,5\"/><Склад ИдСклада=\"W2\" КоличествоНаСкладе=\"1\"/></Предложение>\
            <Предложение><Ид>E</Ид><Остатки><Остаток><Склад><Ид>W2</Ид><Количество>-1</Количество></Склад></Остаток></Остатки></Предложение>\
            <Предложение><Ид>F</Ид><Цены/></Предложение>\
            </Предложения></ПакетПредложений></КоммерческаяИнформация>";
        let stock = |warehouse: Option<&str>| -> Vec<(String, Decimal)> {
            let resolution = Resolution {
                warehouse: warehouse.map(String::from),
                ..Resolution::default()
            };
            let (changes, _) = apply(doc, &Settings::retail("x", None), resolution).unwrap();
            changes
                .into_iter()
                .filter_map(|c| match c {
                    Change::ItemStock { item, qty } => Some((item, qty)),
                    _ => None,
                })
                .collect()
        };
        let s = |v: &[(&str, Decimal)]| v.iter().map(|(i, q)| (i.to_string(), *q)).collect::<Vec<_>>();
        assert_eq!(
            stock(None),
            s(&[("A", dec!(0)), ("B", dec!(7)), ("C", dec!(5)), ("D", dec!(3.5)), ("E", dec!(-1))])
        );
        assert_eq!(
            stock(Some("W1")),
            s(&[("A", dec!(0)), ("B", dec!(7)), ("C", dec!(5)), ("D", dec!(2.5)), ("E", dec!(0))])
        );
    }

    #[test]
    fn a_broken_attribute_fails_the_check_pass_not_the_apply() {
        for goods in [
            "<Товар Статус=\"&nope;\"><Ид>A</Ид><Наименование>Хлеб</Наименование></Товар>",
            "<Товар><Ид>A</Ид><Наименование>Хлеб</Наименование><БазоваяЕдиница Код=\"&nope;\"/></Товар>",
        ] {
            let doc = catalog(goods);
            let mut check = Parser::new(doc.as_bytes(), &Settings::retail("x", None), Pass::Check).unwrap();
            let mut sink = Vec::new();
            let checked = loop {
                match check.fill(&mut sink, 1) {
                    Ok(true) => continue,
                    other => break other,
                }
            };
            assert!(matches!(checked, Err(CmlError::Malformed { .. })), "{goods}: {checked:?}");
        }
    }

    #[test]
    fn character_references_and_cdata_are_text() {
        let doc = catalog("<Товар><Ид>A</Ид><Наименование><![CDATA[Чай <зелёный>]]> &#8470;1 &#x20BD;</Наименование></Товар>");
        let (changes, _) = apply(&doc, &Settings::retail("x", None), Resolution::default()).unwrap();
        assert!(matches!(&changes[..], [Change::ItemDetails { item, .. }] if item.name == "Чай <зелёный> №1 ₽"));
        let bad = catalog("<Товар><Ид>A</Ид><Наименование>&nbsp;</Наименование></Товар>");
        assert!(matches!(
            apply(&bad, &Settings::retail("x", None), Resolution::default()),
            Err(CmlError::Malformed { .. })
        ));
    }

    fn generated(names: &[String]) -> String {
        let goods: String = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let escaped = n.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
                format!("<Товар><Ид>id-{i}</Ид><Штрихкод>46{i:011}</Штрихкод><Наименование>{escaped}</Наименование><БазоваяЕдиница Код=\"796\"/></Товар>")
            })
            .collect();
        catalog(&goods)
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            if let Ok(mut p) = Parser::new(bytes.as_slice(), &Settings::retail("x", None), Pass::Apply(Resolution::default())) {
                let mut out = Vec::new();
                while let Ok(true) = p.fill(&mut out, 3) {}
            }
        }

        /// Every item comes out once, named as written, in batches never larger than asked.
        #[test]
        fn items_come_out_as_written(names in proptest::collection::vec("[^\\p{C}]{1,30}", 1..20), want in 1usize..6) {
            let names: Vec<String> = names.into_iter().filter(|n| !n.trim().is_empty()).collect();
            let doc = generated(&names);
            let mut parser = Parser::new(doc.as_bytes(), &Settings::retail("x", None), Pass::Apply(Resolution::default())).unwrap();
            let mut all = Vec::new();
            loop {
                let mut batch = Vec::new();
                let more = parser.fill(&mut batch, want).unwrap();
                prop_assert!(batch.len() <= want);
                all.extend(batch);
                if !more { break; }
            }
            prop_assert_eq!(all.len(), names.len());
            for (i, (change, name)) in all.iter().zip(&names).enumerate() {
                let Change::ItemDetails { item, .. } = change else { panic!("{change:?}") };
                prop_assert_eq!(&item.id, &format!("id-{i}"));
                prop_assert_eq!(item.name.as_str(), name.trim());
            }
        }

        /// A file cut anywhere is never taken for a complete one.
        #[test]
        fn any_prefix_of_a_file_fails(names in proptest::collection::vec("[а-я ]{1,10}", 1..5), cut in 0.0f64..1.0) {
            let doc = generated(&names);
            let at = ((doc.len() as f64) * cut) as usize;
            let at = (0..=at).rev().find(|i| doc.is_char_boundary(*i)).unwrap_or(0);
            let prefix = &doc[..at];
            let mut parser = match Parser::new(prefix.as_bytes(), &Settings::retail("x", None), Pass::Check) {
                Ok(p) => p,
                Err(_) => return Ok(()),
            };
            let mut sink = Vec::new();
            let result = loop {
                match parser.fill(&mut sink, 1) {
                    Ok(true) => continue,
                    other => break other,
                }
            };
            prop_assert!(result.is_err(), "a prefix of {} bytes out of {} parsed", at, doc.len());
        }
    }
}
