//! Importing one CommerceML file: read and check it once, spooling its changes, then apply
//! them in batches; and the import job behind 1C's `mode=import` calls.
//!
//! **All or nothing.** A file cut short by a dropped upload, badly formed XML, an encoding we
//! cannot read, a value over the bounds, or a price type or warehouse that does not exist
//! fails the file before the store has seen a single change. [`run`] reads the file once; the
//! changes it yields go to a spool on disk (never held whole in memory) and reach the store,
//! in batches of N, only after the file was read to its end without a fault. What only the
//! apply looks at (a VAT rate, a price) refuses that one item, never the file.
//!
//! [`survey`] and [`Batches::new`] are the same checks as two separate passes (check the file
//! to the end without yielding anything, then read it again for the changes): the property
//! tests and the fuzz target hold the one-pass import to accepting exactly the files the check
//! pass accepts.
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

/// Why [`run`] stopped: the file (nothing was applied), the spool (nothing was applied) or
/// the store (some batches were).
#[derive(Debug, thiserror::Error)]
pub enum RunError<E: std::error::Error + 'static> {
    #[error(transparent)]
    File(#[from] CmlError),
    #[error("не удалось записать или прочитать временный файл загрузки: {0}")]
    Spool(#[source] std::io::Error),
    #[error("не удалось записать загруженные данные: {0}")]
    Apply(#[source] E),
}

/// The whole import of one file, for a worker thread: read and check it once, then apply it
/// in batches.
///
/// The one pass over the file spools its changes to an unnamed temporary file in
/// `spool_dir` while it checks the file to its end; only a file that passed reaches `apply`,
/// batch by batch, read back from the spool. So a file cut short, badly formed, or naming a
/// price type that does not exist changes nothing, yet the file is parsed once and never held
/// whole: the spool costs a fraction of a second pass over the XML (see
/// `benches/commerceml_import.rs`). The spool is unlinked as soon as it is created, so a crash
/// leaves nothing behind.
///
/// `progress` hears how far the import got. If `apply` fails the batches before it stay
/// applied: each change is an idempotent upsert or delete, so importing the same file again
/// converges.
pub fn run<R, E>(
    input: R,
    settings: &Settings,
    known: &Directory,
    batch_size: usize,
    spool_dir: &std::path::Path,
    progress: &mut dyn FnMut(Progress),
    apply: &mut dyn FnMut(Vec<Change>) -> Result<(), E>,
) -> Result<ImportSummary, RunError<E>>
where
    R: BufRead,
    E: std::error::Error + 'static,
{
    let spool = Spool::create(spool_dir).map_err(RunError::Spool)?;
    let (summary, spool) = check_and_spool(input, settings, known, batch_size, spool, progress)?;
    apply_spooled(spool, progress, apply)?;
    Ok(summary)
}

/// Bytes read between two `Checking` reports.
const CHECKING_REPORT_EVERY: u64 = 4 << 20;

/// The one pass over the file: every batch goes to the spool, encoded on a second thread so
/// the encoding overlaps the parse (the channel holds two batches, so memory stays bounded).
fn check_and_spool<R, E>(
    input: R,
    settings: &Settings,
    known: &Directory,
    batch_size: usize,
    spool: Spool,
    progress: &mut dyn FnMut(Progress),
) -> Result<(ImportSummary, Spool), RunError<E>>
where
    R: BufRead,
    E: std::error::Error + 'static,
{
    std::thread::scope(|scope| {
        let (to_spool, spooled) = std::sync::mpsc::sync_channel::<Vec<Change>>(2);
        let writer = scope.spawn(move || -> std::io::Result<Spool> {
            let mut spool = spool;
            for batch in spooled {
                spool.push(&batch)?;
            }
            Ok(spool)
        });
        let read = (|| -> Result<ImportSummary, RunError<E>> {
            let mut batches = Batches::single_pass(input, settings, known, batch_size)?;
            let mut reported = 0u64;
            while let Some(batch) = batches.next() {
                if to_spool.send(batch?).is_err() {
                    break; // the writer stopped on an error, which its join reports
                }
                let at = batches.position();
                if at - reported >= CHECKING_REPORT_EVERY {
                    progress(Progress::Checking { bytes: at });
                    reported = at;
                }
            }
            Ok(ImportSummary::from_apply(batches.parser.into_findings()))
        })();
        drop(to_spool);
        let spool = writer.join().expect("the spool writer does not panic");
        // A fault in the file says more than the spool's error it may have caused.
        Ok((read?, spool.map_err(RunError::Spool)?))
    })
}

/// The checked file's changes, read back from the spool on a second thread (overlapping the
/// store's apply) and handed to `apply` batch by batch.
fn apply_spooled<E>(
    spool: Spool,
    progress: &mut dyn FnMut(Progress),
    apply: &mut dyn FnMut(Vec<Change>) -> Result<(), E>,
) -> Result<(), RunError<E>>
where
    E: std::error::Error + 'static,
{
    let total = spool.changes;
    let mut done = 0u64;
    progress(Progress::Applying { done, total });
    let mut replay = spool.replay().map_err(RunError::Spool)?;
    std::thread::scope(|scope| {
        let (to_apply, replayed) = std::sync::mpsc::sync_channel(2);
        let reader = scope.spawn(move || -> std::io::Result<()> {
            while let Some(batch) = replay.next_batch()? {
                if to_apply.send(batch).is_err() {
                    break; // the apply failed and stopped listening
                }
            }
            Ok(())
        });
        for batch in replayed.iter() {
            done += batch.len() as u64;
            if let Err(e) = apply(batch) {
                drop(replayed);
                let _ = reader.join();
                return Err(RunError::Apply(e));
            }
            progress(Progress::Applying { done, total });
        }
        reader.join().expect("the spool reader does not panic").map_err(RunError::Spool)
    })
}

/// The import of one file in a single pass, without a spool: batches reach `apply` while the
/// file is still being read, so a file found broken at its end has already handed out some
/// changes. For callers that make the import all or nothing themselves (and for checking that
/// one pass accepts exactly the files the check pass does).
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
    let mut batches = Batches::single_pass(input, settings, known, batch_size)?;
    let mut done = 0u64;
    for batch in &mut batches {
        let batch = batch?;
        done += batch.len() as u64;
        apply(batch).map_err(RunError::Apply)?;
        // The total is not known before the single pass ends.
        progress(Progress::Applying { done, total: 0 });
    }
    Ok(ImportSummary::from_apply(batches.parser.into_findings()))
}

/// Batches of changes parked on disk between the pass that checks a file and their apply.
///
/// Each batch is a little-endian `u32` length and the batch as JSON: the domain's types are
/// serialised for JSON (optional fields left out, decimals as text), so a self-describing
/// format is the one that reads every [`Change`] back as it was.
struct Spool {
    file: std::io::BufWriter<std::fs::File>,
    changes: u64,
    scratch: Vec<u8>,
}

impl Spool {
    fn create(dir: &std::path::Path) -> std::io::Result<Spool> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!(".import-spool-{}-{:x}", std::process::id(), next_spool_number()));
        let file = std::fs::OpenOptions::new().create_new(true).read(true).write(true).open(&path)?;
        // Unlinked at once: the open handle keeps the data, nothing survives a crash.
        std::fs::remove_file(&path)?;
        Ok(Spool {
            file: std::io::BufWriter::with_capacity(1 << 20, file),
            changes: 0,
            scratch: Vec::new(),
        })
    }

    fn push(&mut self, batch: &[Change]) -> std::io::Result<()> {
        use std::io::Write;
        self.scratch.clear();
        serde_json::to_writer(&mut self.scratch, batch)?;
        let len = u32::try_from(self.scratch.len()).map_err(|_| std::io::Error::other("batch over 4 GiB"))?;
        self.file.write_all(&len.to_le_bytes())?;
        self.file.write_all(&self.scratch)?;
        self.changes += batch.len() as u64;
        Ok(())
    }

    fn replay(self) -> std::io::Result<Replay> {
        use std::io::Seek;
        let mut file = self.file.into_inner().map_err(|e| e.into_error())?;
        file.rewind()?;
        Ok(Replay {
            file: std::io::BufReader::with_capacity(1 << 20, file),
            buf: self.scratch,
        })
    }
}

/// Reading a [`Spool`] back, batch by batch.
struct Replay {
    file: std::io::BufReader<std::fs::File>,
    buf: Vec<u8>,
}

impl Replay {
    fn next_batch(&mut self) -> std::io::Result<Option<Vec<Change>>> {
        use std::io::Read;
        let mut len = [0u8; 4];
        match self.file.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        self.buf.resize(u32::from_le_bytes(len) as usize, 0);
        self.file.read_exact(&mut self.buf)?;
        Ok(Some(serde_json::from_slice(&self.buf)?))
    }
}

/// Keeps two imports of one process apart in the same folder.
fn next_spool_number() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// How far an import got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Progress {
    /// Accepted, not started yet.
    Queued,
    /// Unpacking a zip upload.
    Unpacking,
    /// Reading and checking the file; bytes read.
    Checking { bytes: u64 },
    /// Applying the checked file's changes: applied so far of `total` (0 when the total is not
    /// known, as in [`run_single_pass`]).
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
        let spool = tempfile::tempdir().unwrap();
        let summary = run(
            text.as_bytes(),
            settings,
            &Directory::default(),
            batch,
            spool.path(),
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
        let spool = tempfile::tempdir().unwrap();
        let err = run(
            cut.as_bytes(),
            &Settings::retail("Розничная", None),
            &Directory::default(),
            1,
            spool.path(),
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

    #[derive(Debug, thiserror::Error)]
    #[error("диск полон")]
    struct StoreFull;

    #[test]
    fn a_refused_batch_stops_the_replay_and_the_spool_leaves_nothing_behind() {
        let spool = tempfile::tempdir().unwrap();
        let mut calls = 0;
        let err = run(
            CATALOG.as_bytes(),
            &Settings::retail("Розничная", None),
            &Directory::default(),
            1,
            spool.path(),
            &mut |_| {},
            &mut |_: Vec<Change>| {
                calls += 1;
                if calls == 2 { Err(StoreFull) } else { Ok(()) }
            },
        )
        .unwrap_err();
        assert!(matches!(err, RunError::Apply(StoreFull)), "{err}");
        assert_eq!(calls, 2, "no batch is offered after the refused one");
        assert_eq!(std::fs::read_dir(spool.path()).unwrap().count(), 0);
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
        let spool = tempfile::tempdir().unwrap();
        run(
            prices_only.as_bytes(),
            &settings,
            &known,
            10,
            spool.path(),
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
