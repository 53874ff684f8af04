//! storeterm as the "site" of 1C's «Обмен с сайтом»: CommerceML 2 files in, the shop's sales
//! out — the pure parts (no store, no HTTP, no clock).
//!
//! Every stock 1C (УТ 11, УНФ, ERP, КА, Розница) can push its catalog, prices and stock to a
//! web site and pull the site's orders back: 1C is the HTTP client and walks a fixed dialogue
//! (`checkauth` → `init` → `file`… → `import`… / `query` → `success`), swapping CommerceML
//! files. This module is everything of that which can be decided from bytes alone:
//!
//! - [`encoding`]: UTF-8 (with or without a BOM) or windows-1251, sniffed from the
//!   declaration and decoded as a stream;
//! - [`parse`]: one streaming parser for every CommerceML shape 1C writes — `import.xml` and
//!   `offers.xml` of versions 2.03–2.10, the split `import___*`, `offers___*`, `prices___*`,
//!   `rests___*` files of УТ 11's 3.x exchange, and documents with `Контрагенты` — read by
//!   element presence, never by the version stamp, into the domain's
//!   [`Change`](crate::domain::feed::Change)s;
//! - [`import`]: the all-or-nothing import of one file (one checked read spooled to disk, then
//!   applied in batches) and the import job's state machine behind `mode=import`'s
//!   `progress` answers;
//! - [`sales`]: the shop's closed sales and returns as the `КоммерческаяИнформация` that
//!   `type=sale&mode=query` answers;
//! - [`exchange`]: the dialogue itself — the query, the answers, safe file names and the
//!   chunk rule that makes a retried upload harmless; [`archive`]: zip uploads with limits.
//!
//! A file is never held as a tree: a 50 MB offers file streams through quick-xml with a few
//! kilobytes of state per item.

pub mod archive;
pub mod encoding;
pub mod exchange;
pub mod import;
pub mod parse;
pub mod sales;
mod units;

pub use import::{Batches, ImportJobs, ImportOutcome, ImportSummary, JobAnswer, Progress, Survey, survey};
pub use parse::{Directory, FileKind, Settings};

/// Why a CommerceML file cannot be imported. The messages are read by a 1C administrator in
/// 1C's exchange log (they travel in the `failure` answer), so they are in Russian and say
/// what to do.
#[derive(Debug, thiserror::Error)]
pub enum CmlError {
    #[error("не удалось прочитать файл обмена: {0}")]
    Read(#[source] std::io::Error),
    #[error("файл обмена в кодировке «{0}»; storeterm принимает CommerceML в UTF-8 или windows-1251 — проверьте настройки выгрузки в 1С")]
    Encoding(String),
    #[error("файл обмена повреждён (байт {position}): {detail}. Повторите выгрузку из 1С")]
    Malformed { position: u64, detail: String },
    #[error("в файле есть байты, которые не являются текстом UTF-8 (байт {position}), хотя в заголовке указана кодировка UTF-8")]
    NotUtf8 { position: u64 },
    #[error("файл обмена оборван: элемент <{open}> не закрыт. Вероятно, передача прервалась — повторите обмен")]
    Truncated { open: String },
    #[error("файл обмена пуст")]
    Empty,
    #[error("это не файл CommerceML: корневой элемент <{root}> вместо <КоммерческаяИнформация>")]
    NotCommerceMl { root: String },
    #[error("слишком глубокая вложенность элементов (больше {0}) — это не похоже на выгрузку 1С")]
    TooDeep(usize),
    #[error("значение элемента <{element}> длиннее {limit} байт — это не похоже на выгрузку 1С")]
    TooLong { element: String, limit: usize },
    #[error(
        "тип цен «{wanted}» из настроек storeterm ([onec] price_type) не найден. В обмене есть типы цен: {known}. \
         Укажите в настройках наименование или Ид одного из них"
    )]
    PriceTypeNotFound { wanted: String, known: String },
    #[error(
        "склад «{wanted}» из настроек storeterm ([onec] warehouse) не найден. В обмене есть склады: {known}. \
         Укажите в настройках наименование или Ид одного из них"
    )]
    WarehouseNotFound { wanted: String, known: String },
    #[error("файл обмена изменился между проверкой и загрузкой; повторите обмен")]
    ChangedUnderfoot,
}

impl CmlError {
    /// A stable code for logs and the admin screen.
    pub fn code(&self) -> &'static str {
        match self {
            CmlError::Read(_) => "read_failed",
            CmlError::Encoding(_) => "unsupported_encoding",
            CmlError::Malformed { .. } => "malformed_xml",
            CmlError::NotUtf8 { .. } => "not_utf8",
            CmlError::Truncated { .. } => "truncated",
            CmlError::Empty => "empty_file",
            CmlError::NotCommerceMl { .. } => "not_commerceml",
            CmlError::TooDeep(_) => "too_deep",
            CmlError::TooLong { .. } => "value_too_long",
            CmlError::PriceTypeNotFound { .. } => "price_type_not_found",
            CmlError::WarehouseNotFound { .. } => "warehouse_not_found",
            CmlError::ChangedUnderfoot => "file_changed",
        }
    }
}
