//! Importing one CommerceML file: check it all, then apply it in batches; and the import job
//! behind 1C's `mode=import` calls.
//!
//! **All or nothing.** A file is read twice. The [`survey`] reads it to the end without
//! building or yielding anything: a file cut short by a dropped upload, badly formed XML, an
//! encoding we cannot read, a value over the bounds, or a price type or warehouse that does
//! not exist fails here, before the store has seen a single change. Only then [`Batches`]
//! reads it again and yields the changes in batches of N, so a 100 000-item file goes into the
//! store in several transactions without ever being held whole. Both passes run the same
//! tokenizer and checks over the same bytes, and what only the apply pass looks at (a VAT rate,
//! a price) refuses that one item, never the file — so the second pass cannot fail where the
//! first passed; [`Batches`] still compares what it read with the survey and fails if the file
//! changed in between.
//!
//! **Progress.** 1C waits for each `mode=import` answer with a timeout, then asks again while
//! the answer is `progress`. [`ImportJobs`] is the pure state behind those answers: the HTTP
//! handler asks it what to answer, runs the import (off the runtime's workers) when told to
//! start, and reports progress and the outcome back into it.

use super::CmlError;
use super::parse::{Counts, Directory, FileKind, Findings, Parser, Pass, Rejected, Resolution, Settings};

use crate::domain::feed::Change;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

use std::io::BufRead;

/// Changes per batch when the caller has no better idea: one store transaction each.
pub const DEFAULT_BATCH: usize = 2_000;

/// What the check pass learnt about a file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Survey {
    pub findings: Findings,
    /// Bytes of the file (as UTF-8) read.
    pub bytes: u64,
}

/// Read a whole file and check it; yields nothing. `on_bytes` is told how far it got, for
/// progress answers.
pub fn survey<R: BufRead>(input: R, settings: &Settings, on_bytes: &mut dyn FnMut(u64)) -> Result<Survey, CmlError> {
    let mut parser = Parser::new(input, settings, Pass::Check)?;
    let mut sink = Vec::new();
    let mut last = 0u64;
    while parser.fill(&mut sink, 1)? {
        let at = parser.position();
        // A progress note every 4 MiB is plenty for an answer given every few seconds.
        if at - last >= 4 << 20 {
            on_bytes(at);
            last = at;
        }
    }
    let bytes = parser.position();
    on_bytes(bytes);
    Ok(Survey {
        findings: parser.into_findings(),
        bytes,
    })
}

/// Decide how this file's prices and stock map onto the shop, from the settings, what earlier
/// files of the exchange (and earlier exchanges) taught (`known`) and what this file defines.
///
/// A configured price type that cannot be found is an error only when the file carries
/// prices: an `offers.xml` with prices of unknown types would otherwise leave every item
/// without a price, silently. The same holds for the warehouse.
pub fn resolve(survey: &Survey, known: &Directory, settings: &Settings) -> Result<Resolution, CmlError> {
    let mut directory = known.clone();
    directory.merge(&survey.findings.directory);
    Resolution::decide(
        settings,
        &directory,
        Some((&survey.findings.price_types_used, &survey.findings.warehouses_used)),
    )
}

/// The apply pass: the file's changes, `size` at a time.
pub struct Batches<R: BufRead> {
    parser: Parser<R>,
    size: usize,
    /// Elements and bytes the check pass read; `None` for a single pass.
    expected: Option<(u64, u64)>,
    done: bool,
}

impl<R: BufRead> Batches<R> {
    /// Read `input` again (the same bytes the survey checked) with the mapping from
    /// [`resolve`].
    pub fn new(input: R, settings: &Settings, resolution: Resolution, survey: &Survey, size: usize) -> Result<Batches<R>, CmlError> {
        Ok(Batches {
            parser: Parser::new(input, settings, Pass::Apply(resolution))?,
            size: size.max(1),
            expected: Some((survey.findings.elements, survey.bytes)),
            done: false,
        })
    }

    /// The check and the apply in one pass (see [`run_single_pass`]).
    pub fn single_pass(input: R, settings: &Settings, known: &Directory, size: usize) -> Result<Batches<R>, CmlError> {
        Ok(Batches {
            parser: Parser::single_pass(input, settings, known)?,
            size: size.max(1),
            expected: None,
            done: false,
        })
    }

    /// Bytes read so far.
    pub fn position(&self) -> u64 {
        self.parser.position()
    }

    fn next_batch(&mut self) -> Result<Option<Vec<Change>>, CmlError> {
        let mut batch = Vec::with_capacity(self.size);
        let more = self.parser.fill(&mut batch, self.size)?;
        if !more {
            self.done = true;
            let read = (self.parser.findings().elements, self.parser.position());
            if self.expected.is_some_and(|expected| read != expected) {
                return Err(CmlError::ChangedUnderfoot);
            }
        }
        Ok((!batch.is_empty()).then_some(batch))
    }

    /// What the apply pass found: counts, the full unload's ids, rejections.
    pub fn findings(&self) -> &Findings {
        self.parser.findings()
    }
}

impl<R: BufRead> Iterator for Batches<R> {
    type Item = Result<Vec<Change>, CmlError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_batch() {
            Ok(Some(batch)) => Some(Ok(batch)),
            Ok(None) => None,
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// What an import did, for the log, `/admin`, and the end of the exchange.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportSummary {
    pub kind: FileKind,
    pub schema_version: Option<String>,
    pub counts: Counts,
    /// Price types, warehouses and units this file defined: merge them into the exchange's
    /// [`Directory`] (and keep it for the next exchange).
    pub directory: Directory,
    /// `Some(true)`: the catalog was a full unload and `catalog_ids` is every product in it.
    pub catalog_full: Option<bool>,
    pub catalog_ids: BTreeSet<String>,
    /// `Some(true)`: the offers package was complete and `offer_ids` is every offer in it.
    pub offers_full: Option<bool>,
    pub offer_ids: BTreeSet<String>,
    pub rejected: Vec<Rejected>,
    pub rejected_total: u64,
}

impl ImportSummary {
    fn from_apply(f: Findings) -> ImportSummary {
        ImportSummary {
            kind: f.kind,
            schema_version: f.schema_version,
            counts: f.counts,
            directory: f.directory,
            catalog_full: f.catalog_full,
            catalog_ids: f.catalog_ids,
            offers_full: f.offers_full,
            offer_ids: f.offer_ids,
            rejected: f.rejected,
            rejected_total: f.rejected_total,
        }
    }

    /// One line for 1C's log and `/admin`: what was loaded, what was refused.
    pub fn describe(&self) -> String {
        let c = &self.counts;
        let mut s = format!(
            "товаров {}, характеристик {}, цен {}, остатков {}, удалено {}, групп {}, контрагентов {}",
            c.items, c.variants, c.prices, c.stock, c.deleted, c.groups, c.clients
        );
        if self.rejected_total > 0 {
            s.push_str(&format!("; не загружено {}", self.rejected_total));
            if let Some(first) = self.rejected.first() {
                s.push_str(&format!(" (например, {}: {})", first.what, first.reason));
            }
        }
        s
    }
}

/// Why [`run`] stopped: the file (nothing was applied) or the store (some batches were).
#[derive(Debug, thiserror::Error)]
pub enum RunError<E: std::error::Error + 'static> {
    #[error(transparent)]
    File(#[from] CmlError),
    #[error("не удалось записать загруженные данные: {0}")]
    Apply(#[source] E),
}

/// The whole import of one file, for a worker thread: survey, resolve, then apply in batches.
///
/// `open` opens the file afresh for each pass. `apply` gets each batch (one store
/// transaction); `progress` hears how far the import got. If the survey fails nothing reaches
/// `apply`. If `apply` fails the batches before it stay applied: each change is an idempotent
/// upsert or delete, so importing the same file again converges.
pub fn run<R, E>(
    mut open: impl FnMut() -> std::io::Result<R>,
    settings: &Settings,
    known: &Directory,
    batch_size: usize,
    progress: &mut dyn FnMut(Progress),
    apply: &mut dyn FnMut(Vec<Change>) -> Result<(), E>,
) -> Result<ImportSummary, RunError<E>>
where
    R: BufRead,
    E: std::error::Error + 'static,
{
    let input = open().map_err(CmlError::Read)?;
    let checked = survey(input, settings, &mut |bytes| progress(Progress::Checking { bytes }))?;
    let resolution = resolve(&checked, known, settings)?;
    let total = checked.findings.elements;
    let input = open().map_err(CmlError::Read)?;
    let batches = Batches::new(input, settings, resolution, &checked, batch_size)?;
    progress(Progress::Applying { done: 0, total });
    apply_all(batches, total, progress, apply)
}

/// The import of one file in a single pass, for a store that makes it all or nothing itself.
///
/// Batches reach `apply` while the file is still being read, so a file found broken at its
/// end (cut short, badly formed, a price type that does not exist) has already handed out
/// some changes. Use this only with a store that **stages** the batches of an import and
/// makes them visible in one step when this returns `Ok` (and drops them on `Err`). It reads
/// the file once instead of twice: about half the parsing time of [`run`], which matters for
/// a 100 000-item catalog (see `benches/commerceml_import.rs`).
pub fn run_single_pass<R, E>(
    input: R,
    settings: &Settings,
    known: &Directory,
    batch_size: usize,
    progress: &mut dyn FnMut(Progress),
    apply: &mut dyn FnMut(Vec<Change>) -> Result<(), E>,
) -> Result<ImportSummary, RunError<E>>
where
    R: BufRead,
    E: std::error::Error + 'static,
{
    let batches = Batches::single_pass(input, settings, known, batch_size)?;
    // The total is not known before the single pass ends.
    apply_all(batches, 0, progress, apply)
}

/// Hand every batch to `apply`, reporting progress after each.
fn apply_all<R, E>(
    mut batches: Batches<R>,
    total: u64,
    progress: &mut dyn FnMut(Progress),
    apply: &mut dyn FnMut(Vec<Change>) -> Result<(), E>,
) -> Result<ImportSummary, RunError<E>>
where
    R: BufRead,
    E: std::error::Error + 'static,
{
    let mut done = 0u64;
    for batch in &mut batches {
        let batch = batch?;
        done += batch.len() as u64;
        apply(batch).map_err(RunError::Apply)?;
        progress(Progress::Applying { done, total });
    }
    Ok(ImportSummary::from_apply(batches.parser.into_findings()))
}

/// How far an import got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Progress {
    /// Accepted, not started yet.
    Queued,
    /// Unpacking a zip upload.
    Unpacking,
    /// The check pass; bytes read.
    Checking { bytes: u64 },
    /// The apply pass: changes applied so far; `total` is the number of elements in the file,
    /// a scale for the admin screen, not a count of changes.
    Applying { done: u64, total: u64 },
}

impl Progress {
    /// The second line of a `progress` answer, for 1C's log.
    pub fn describe(&self, file: &str) -> String {
        match self {
            Progress::Queued => format!("Файл {file} принят, загрузка начинается"),
            Progress::Unpacking => format!("Распаковка архива для {file}"),
            Progress::Checking { bytes } => format!("Проверка файла {file}: прочитано {} КБ", bytes / 1024),
            Progress::Applying { done, .. } => format!("Загрузка файла {file}: записано изменений {done}"),
        }
    }
}

/// How an import ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ImportOutcome {
    Done(Box<ImportSummary>),
    /// The reason, in words for a 1C administrator.
    Failed(String),
}

/// What to answer a `mode=import` call, and whether to start the work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobAnswer {
    /// Start the import of this file now (in the background), then answer `progress`.
    Start(String),
    /// Still working.
    Progress(String),
    Success,
    Failure(String),
}

impl JobAnswer {
    /// The answer's body as 1C reads it.
    pub fn body(&self) -> String {
        match self {
            JobAnswer::Start(text) | JobAnswer::Progress(text) => format!("progress\n{text}"),
            JobAnswer::Success => "success".into(),
            JobAnswer::Failure(reason) => format!("failure\n{reason}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Job {
    Running(Progress),
    Finished(ImportOutcome),
}

/// The import jobs of one exchange session, by file name.
///
/// 1C calls `mode=import&filename=X` and repeats the call while the answer is `progress`.
/// The first call starts the job ([`JobAnswer::Start`]); later calls report its progress;
/// the call after it ended gets `success` or `failure` once, and the job is forgotten — so if
/// 1C sends the same file again later in the session, it is imported again.
#[derive(Debug, Default)]
pub struct ImportJobs {
    jobs: BTreeMap<String, Job>,
}

impl ImportJobs {
    pub fn new() -> ImportJobs {
        ImportJobs::default()
    }

    /// 1C asked to import `file`.
    pub fn on_import(&mut self, file: &str) -> JobAnswer {
        match self.jobs.get(file) {
            None => {
                self.jobs.insert(file.to_string(), Job::Running(Progress::Queued));
                JobAnswer::Start(Progress::Queued.describe(file))
            }
            Some(Job::Running(p)) => JobAnswer::Progress(p.describe(file)),
            Some(Job::Finished(_)) => match self.jobs.remove(file) {
                Some(Job::Finished(ImportOutcome::Done(_))) => JobAnswer::Success,
                Some(Job::Finished(ImportOutcome::Failed(reason))) => JobAnswer::Failure(reason),
                _ => JobAnswer::Failure(format!("загрузка файла {file} в неизвестном состоянии; повторите обмен")),
            },
        }
    }

    /// The worker got further.
    pub fn on_progress(&mut self, file: &str, progress: Progress) {
        if let Some(job @ Job::Running(_)) = self.jobs.get_mut(file) {
            *job = Job::Running(progress);
        }
    }

    /// The worker finished.
    pub fn on_finished(&mut self, file: &str, outcome: ImportOutcome) {
        self.jobs.insert(file.to_string(), Job::Finished(outcome));
    }

    /// Whether any import is still running (a new session must wait for it, or be refused).
    pub fn busy(&self) -> bool {
        self.jobs.values().any(|j| matches!(j, Job::Running(_)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::feed::Change;
    use rust_decimal_macros::dec;

    const CATALOG: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<КоммерческаяИнформация ВерсияСхемы="2.04">
  <Каталог СодержитТолькоИзменения="false">
    <Товары>
      <Товар><Ид>A</Ид><Наименование>Молоко</Наименование><БазоваяЕдиница Код="796"/></Товар>
      <Товар><Ид>B</Ид><Наименование>Сыр</Наименование><БазоваяЕдиница Код="166"/></Товар>
      <Товар><Ид>C</Ид><Наименование>Хлеб</Наименование></Товар>
    </Товары>
  </Каталог>
</КоммерческаяИнформация>"#;

    const OFFERS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<КоммерческаяИнформация ВерсияСхемы="2.04">
  <ПакетПредложений>
    <ТипыЦен><ТипЦены><Ид>T1</Ид><Наименование>Розничная</Наименование></ТипЦены></ТипыЦен>
    <Предложения>
      <Предложение><Ид>A</Ид><Цены><Цена><ИдТипаЦены>T1</ИдТипаЦены><ЦенаЗаЕдиницу>89.9</ЦенаЗаЕдиницу></Цена></Цены><Количество>5</Количество></Предложение>
    </Предложения>
  </ПакетПредложений>
</КоммерческаяИнформация>"#;

    fn collect(
        text: &str,
        settings: &Settings,
        batch: usize,
    ) -> Result<(Vec<Vec<Change>>, ImportSummary), RunError<std::convert::Infallible>> {
        let mut batches = Vec::new();
        let summary = run(
            || Ok(text.as_bytes()),
            settings,
            &Directory::default(),
            batch,
            &mut |_| {},
            &mut |b| {
                batches.push(b);
                Ok(())
            },
        )?;
        Ok((batches, summary))
    }

    #[test]
    fn changes_come_in_batches_of_the_asked_size() {
        let (batches, summary) = collect(CATALOG, &Settings::retail("Розничная", None), 2).unwrap();
        assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 1]);
        assert_eq!(summary.counts.items, 3);
        assert_eq!(summary.catalog_full, Some(true));
        assert_eq!(
            summary.catalog_ids.iter().map(String::as_str).collect::<Vec<_>>(),
            vec!["A", "B", "C"]
        );
    }

    #[test]
    fn a_truncated_file_applies_nothing() {
        let cut = &CATALOG[..CATALOG.find("<Ид>C").unwrap()];
        let mut applied = 0;
        let err = run(
            || Ok(cut.as_bytes()),
            &Settings::retail("Розничная", None),
            &Directory::default(),
            1,
            &mut |_| {},
            &mut |b: Vec<Change>| -> Result<(), std::convert::Infallible> {
                applied += b.len();
                Ok(())
            },
        )
        .unwrap_err();
        assert_eq!(applied, 0);
        assert!(matches!(err, RunError::File(CmlError::Truncated { .. })), "{err}");
        assert!(err.to_string().contains("оборван"));
    }

    #[test]
    fn a_price_type_is_found_by_name_and_an_unknown_one_fails_the_file() {
        let (batches, _) = collect(OFFERS, &Settings::retail(" розничная ", None), 100).unwrap();
        let changes: Vec<Change> = batches.into_iter().flatten().collect();
        assert!(changes.contains(&Change::ItemPrices {
            item: "A".into(),
            prices: BTreeMap::from([("retail".to_string(), dec!(89.90))]),
        }));
        assert!(changes.contains(&Change::ItemStock {
            item: "A".into(),
            qty: dec!(5)
        }));
        let err = collect(OFFERS, &Settings::retail("Оптовая", None), 100).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("«Оптовая»") && text.contains("«Розничная» (Ид T1)"), "{text}");
    }

    #[test]
    fn price_type_names_learnt_from_an_earlier_file_resolve_a_later_one() {
        let prices_only = OFFERS.replace(
            "<ТипыЦен><ТипЦены><Ид>T1</Ид><Наименование>Розничная</Наименование></ТипЦены></ТипыЦен>",
            "",
        );
        let settings = Settings::retail("Розничная", None);
        assert!(collect(&prices_only, &settings, 10).is_err());
        let known = Directory {
            price_types: BTreeMap::from([("T1".to_string(), "Розничная".to_string())]),
            ..Directory::default()
        };
        let mut got = Vec::new();
        run(
            || Ok(prices_only.as_bytes()),
            &settings,
            &known,
            10,
            &mut |_| {},
            &mut |b: Vec<Change>| -> Result<(), std::convert::Infallible> {
                got.extend(b);
                Ok(())
            },
        )
        .unwrap();
        assert!(got.iter().any(|c| matches!(c, Change::ItemPrices { item, .. } if item == "A")));
    }

    #[test]
    fn a_file_that_changes_between_the_passes_is_refused() {
        let settings = Settings::retail("Розничная", None);
        let checked = survey(CATALOG.as_bytes(), &settings, &mut |_| {}).unwrap();
        let other = CATALOG.replace("<Товар><Ид>C</Ид><Наименование>Хлеб</Наименование></Товар>", "");
        let resolution = resolve(&checked, &Directory::default(), &settings).unwrap();
        let results: Vec<_> = Batches::new(other.as_bytes(), &settings, resolution, &checked, 100)
            .unwrap()
            .collect();
        assert!(matches!(results.last(), Some(Err(CmlError::ChangedUnderfoot))));
    }

    #[test]
    fn a_single_pass_yields_what_two_passes_do_and_fails_the_same_files() {
        for (doc, settings) in [
            (CATALOG.to_string(), Settings::retail("Розничная", None)),
            (OFFERS.to_string(), Settings::retail("Розничная", None)),
            (OFFERS.to_string(), Settings::retail("T1", None)),
        ] {
            let (two, summary) = collect(&doc, &settings, 2).unwrap();
            let mut one = Vec::new();
            let single = run_single_pass(
                doc.as_bytes(),
                &settings,
                &Directory::default(),
                2,
                &mut |_| {},
                &mut |b: Vec<Change>| -> Result<(), std::convert::Infallible> {
                    one.push(b);
                    Ok(())
                },
            )
            .unwrap();
            assert_eq!(one, two);
            assert_eq!(single, summary);
        }
        let wrong = run_single_pass(
            OFFERS.as_bytes(),
            &Settings::retail("Оптовая", None),
            &Directory::default(),
            2,
            &mut |_| {},
            &mut |_: Vec<Change>| -> Result<(), std::convert::Infallible> { Ok(()) },
        );
        assert!(matches!(wrong, Err(RunError::File(CmlError::PriceTypeNotFound { .. }))));
    }

    proptest::proptest! {
        /// Damage a file anywhere: the check pass either refuses it, or the apply pass reads
        /// it to the end without an error (nothing is half applied), and the single pass
        /// accepts exactly the same files.
        #[test]
        fn damage_is_caught_by_the_check_or_not_at_all(
            at in 0.0f64..1.0,
            len in 0usize..12,
            with in "[<>/&;=\"a-zЁёИдТоварНаименование #0-9]{0,8}",
            offers in proptest::bool::ANY,
        ) {
            let doc = if offers { OFFERS } else { CATALOG };
            let cut = ((doc.len() as f64) * at) as usize;
            let start = (0..=cut).rev().find(|i| doc.is_char_boundary(*i)).unwrap_or(0);
            let end = (start + len..=doc.len()).find(|i| doc.is_char_boundary(*i)).unwrap_or(doc.len());
            let damaged = format!("{}{}{}", &doc[..start], with, &doc[end..]);
            let settings = Settings::retail("Розничная", None);
            let two = survey(damaged.as_bytes(), &settings, &mut |_| {})
                .and_then(|checked| resolve(&checked, &Directory::default(), &settings).map(|r| (checked, r)));
            let two_ok = match two {
                Ok((checked, resolution)) => {
                    for batch in Batches::new(damaged.as_bytes(), &settings, resolution, &checked, 2).unwrap() {
                        proptest::prop_assert!(batch.is_ok(), "apply failed after the check passed: {:?}", batch.err());
                    }
                    true
                }
                Err(_) => false,
            };
            let one = run_single_pass(damaged.as_bytes(), &settings, &Directory::default(), 2, &mut |_| {}, &mut |_: Vec<Change>| -> Result<(), std::convert::Infallible> { Ok(()) });
            proptest::prop_assert_eq!(one.is_ok(), two_ok);
        }
    }

    #[test]
    fn import_jobs_answer_progress_then_the_outcome_once() {
        let mut jobs = ImportJobs::new();
        assert!(matches!(jobs.on_import("import.xml"), JobAnswer::Start(_)));
        assert!(jobs.busy());
        let again = jobs.on_import("import.xml");
        assert!(again.body().starts_with("progress\n"), "{}", again.body());
        jobs.on_progress("import.xml", Progress::Applying { done: 2000, total: 5000 });
        assert_eq!(
            jobs.on_import("import.xml").body(),
            "progress\nЗагрузка файла import.xml: записано изменений 2000"
        );
        jobs.on_finished("import.xml", ImportOutcome::Failed("файл обмена оборван".into()));
        assert!(!jobs.busy());
        assert_eq!(jobs.on_import("import.xml").body(), "failure\nфайл обмена оборван");
        // Forgotten after the answer: the same name later starts a new import.
        assert!(matches!(jobs.on_import("import.xml"), JobAnswer::Start(_)));
        jobs.on_finished(
            "import.xml",
            ImportOutcome::Done(Box::new(collect(CATALOG, &Settings::retail("x", None), 9).unwrap().1)),
        );
        assert_eq!(jobs.on_import("import.xml"), JobAnswer::Success);
    }
}
