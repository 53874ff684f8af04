//! storeterm as the "site" of 1C's «Обмен с сайтом»: the dialogue behind `/1c/exchange`, with
//! the store and the files (the pure parts are in [`super::commerceml`]).
//!
//! - `checkauth` checks HTTP Basic against `[onec] login`/`password` and opens an exchange
//!   session; its cookie must come with every later call. A wrong password is answered
//!   `failure` and logged with the login and the peer, never the password.
//! - `file` appends chunks to `<store>/onec/<session>/<name>` through a [`ChunkLedger`], so a
//!   chunk 1C sends again after a timeout is harmless.
//! - `import` starts the file's import on a blocking thread (zips are unpacked first) and
//!   answers `progress` until it is done; the tills' commits interleave with its batches in
//!   the store's writer. Each file is read once and checked to its end, its changes spooled to
//!   disk, before its first change is applied (`import::run`), so a malformed file changes
//!   nothing. Imported files are removed.
//! - Full unloads (`СодержитТолькоИзменения="false"`): the `Ид`s of every catalog file of the
//!   session are united; items missing from them are removed at `deactivate`/`complete`, never
//!   per file (1C splits one unload into several files).
//! - `type=sale&mode=query` hands out the closed sales 1C has not acknowledged and records
//!   (durably) what it handed out; `mode=success` marks exactly that as sent.

use super::commerceml::archive::{self, ZipLimits};
use super::commerceml::exchange::{self, Answer, Chunk, ChunkLedger, ExchangeQuery, ExchangeType, Mode, SafeName};
use super::commerceml::import::{self, DEFAULT_BATCH, ImportJobs, ImportOutcome, ImportSummary, JobAnswer, Progress, RunError};
use super::commerceml::parse::{Directory, PriceBinding, Settings};
use super::commerceml::sales::{self, Counterparty, OutputEncoding, SaleDocument};
use crate::config::{OnecConfig, Secret};
use crate::domain::feed::Change;
use crate::store::{Store, StoreError};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::io::{BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;

/// The cookie 1C is told to send back.
pub const COOKIE_NAME: &str = "storeterm_1c";
/// The folder under the store directory that holds the sessions' files.
pub const FILES_DIR: &str = "onec";
/// The `Content-Type` of the sales answer.
pub const XML_CONTENT_TYPE: &str = "application/xml; charset=utf-8";
/// Sessions kept at once; the least recently used one goes (with its files) beyond this.
const MAX_SESSIONS: usize = 8;
/// Sales per `query` answer; the rest go in the next exchange.
const MAX_DOCUMENTS: usize = 1000;
/// Changes per store transaction while importing: small enough that a till's commit never
/// waits long behind one.
const IMPORT_BATCH: usize = DEFAULT_BATCH / 4;
/// How long a repeated `import` call waits for the job to finish before answering `progress`.
const PROGRESS_WAIT: Duration = Duration::from_millis(1500);
/// The store's name for the directory kept between exchanges.
const DIRECTORY_STATE: &str = "directory";

/// `[onec]` as the exchange uses it.
#[derive(Debug, Clone)]
pub struct OnecSettings {
    pub login: String,
    pub password: Secret,
    pub file_limit: u64,
    pub zip: bool,
    pub import: Settings,
}

impl OnecSettings {
    pub fn from_config(config: &OnecConfig) -> OnecSettings {
        OnecSettings {
            login: config.login.clone(),
            password: config.password.clone(),
            file_limit: config.file_limit,
            zip: config.zip,
            import: Settings {
                prices: vec![PriceBinding {
                    price_type: config.price_type.clone(),
                    key: crate::domain::catalog::RETAIL.to_string(),
                }],
                warehouse: config.warehouse.clone(),
                default_vat: config.default_vat.clone(),
            },
        }
    }
}

/// One call of the dialogue as the HTTP layer hands it over.
#[derive(Debug, Default)]
pub struct Call<'a> {
    /// The query string without `?`.
    pub query: &'a str,
    /// The `Authorization` header.
    pub authorization: Option<&'a str>,
    /// The `Cookie` header(s), joined with `; `.
    pub cookie: Option<&'a str>,
    /// The body (`mode=file`).
    pub body: &'a [u8],
    /// Who called, for the log.
    pub peer: Option<String>,
}

/// What to send back: always `200`, the first line of the text says how it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// The session cookie to set (`checkauth`).
    pub cookie: Option<(String, String)>,
}

impl Reply {
    fn text(answer: &Answer) -> Reply {
        Reply {
            content_type: exchange::CONTENT_TYPE,
            body: answer.body().into_bytes(),
            cookie: None,
        }
    }

    fn job(answer: &JobAnswer) -> Reply {
        Reply {
            content_type: exchange::CONTENT_TYPE,
            body: answer.body().into_bytes(),
            cookie: None,
        }
    }
}

/// The exchange as `/admin` shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OnecStatus {
    pub last_exchange: Option<jiff::Timestamp>,
    /// The last import's outcome, in words.
    pub last_import: Option<String>,
    pub last_import_ok: Option<bool>,
    /// Logins refused since the last good one: 1C (or someone) uses a wrong password.
    pub auth_failures: u64,
    pub last_auth_failure: Option<jiff::Timestamp>,
    /// An alarm for the admin, in Russian, while something needs a person.
    pub alarm: Option<String>,
    pub sales_handed_out: u64,
    pub sales_acknowledged: u64,
    pub items_deactivated: u64,
}

struct Session {
    dir: PathBuf,
    ledgers: HashMap<SafeName, ChunkLedger>,
    jobs: ImportJobs,
    /// The exchange's price types, warehouses and units: what was kept from earlier
    /// exchanges plus what this one's files taught.
    directory: Directory,
    /// The `Ид`s of this session's full-unload catalog files, united.
    full_ids: Option<BTreeSet<String>>,
    /// An import of this session failed: its full unload is not applied.
    failed: bool,
    used: tokio::time::Instant,
    /// Bumped when an import job ends.
    finished: watch::Sender<u64>,
}

type SharedSession = Arc<Mutex<Session>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain bookkeeping data: using it after a panic elsewhere is harmless.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The exchange service behind `/1c/exchange`. Cheap to share (`Arc`).
pub struct OnecExchange {
    settings: OnecSettings,
    store: Store,
    tz: jiff::tz::TimeZone,
    root: PathBuf,
    sessions: Mutex<HashMap<String, SharedSession>>,
    status: Arc<Mutex<OnecStatus>>,
}

impl OnecExchange {
    /// The exchange over `store`; files go under `<store dir>/onec/`, where leftovers of a
    /// previous run (an exchange cut by a restart) are removed now.
    pub fn new(settings: OnecSettings, store: Store, tz: jiff::tz::TimeZone) -> OnecExchange {
        let root = store.dir().join(FILES_DIR);
        if root.exists() {
            if let Err(e) = std::fs::remove_dir_all(&root) {
                tracing::warn!(error = %e, dir = %root.display(), "cannot remove the files of earlier 1C exchanges");
            }
        }
        OnecExchange {
            settings,
            store,
            tz,
            root,
            sessions: Mutex::new(HashMap::new()),
            status: Default::default(),
        }
    }

    /// The largest body a `mode=file` call may carry.
    pub fn file_limit(&self) -> u64 {
        self.settings.file_limit
    }

    pub fn status(&self) -> OnecStatus {
        lock(&self.status).clone()
    }

    /// Answer one call of the dialogue.
    pub async fn handle(&self, call: Call<'_>) -> Reply {
        let query = match exchange::parse_query(call.query) {
            Ok(q) => q,
            Err(e) => {
                tracing::warn!(code = e.code(), error = %e, "1C exchange call refused");
                return Reply::text(&Answer::Failure(e.to_string()));
            }
        };
        lock(&self.status).last_exchange = Some(jiff::Timestamp::now());
        if query.mode == Mode::CheckAuth {
            return self.checkauth(&call);
        }
        let Some((id, session)) = self.session(call.cookie) else {
            tracing::warn!(mode = ?query.mode, peer = call.peer.as_deref().unwrap_or("?"), "1C exchange call without a session cookie");
            return Reply::text(&Answer::no_session());
        };
        lock(&session).used = tokio::time::Instant::now();
        match (query.kind, query.mode) {
            (_, Mode::Init) => Reply::text(&Answer::Init {
                zip: self.settings.zip,
                file_limit: self.settings.file_limit,
            }),
            (ExchangeType::Catalog, Mode::File) => self.file(&session, &query, call.body).await,
            (ExchangeType::Sale, Mode::File) => self.order_file(&session, &query, call.body).await,
            (ExchangeType::Catalog, Mode::Import) => self.import(&session, &query).await,
            (ExchangeType::Sale, Mode::Query) => self.sales_query().await,
            (ExchangeType::Sale, Mode::Success) => self.sales_success().await,
            (ExchangeType::Catalog, Mode::Deactivate | Mode::Complete) => self.end_of_exchange(&id, &session).await,
            (ExchangeType::Sale, Mode::Deactivate | Mode::Complete) => Reply::text(&Answer::Success),
            (ExchangeType::Catalog, Mode::Query | Mode::Success) | (ExchangeType::Sale, Mode::Import) => {
                Reply::text(&Answer::Failure(format!(
                    "режим {:?} не поддерживается для type={}",
                    query.mode,
                    match query.kind {
                        ExchangeType::Catalog => "catalog",
                        ExchangeType::Sale => "sale",
                    }
                )))
            }
            // Answered above, before the session is looked up; a second one opens a new session.
            (_, Mode::CheckAuth) => self.checkauth(&call),
        }
    }

    fn checkauth(&self, call: &Call<'_>) -> Reply {
        let peer = call.peer.as_deref().unwrap_or("?");
        match basic_credentials(call.authorization) {
            Some((login, password)) if self.credentials_match(&login, &password) => {}
            Some((login, _)) => return self.auth_failed(peer, Some(&login)),
            None => return self.auth_failed(peer, None),
        }
        let id = new_session_id();
        let directory = self.known_directory();
        let session = Session {
            dir: self.root.join(&id),
            ledgers: HashMap::new(),
            jobs: ImportJobs::new(),
            directory,
            full_ids: None,
            failed: false,
            used: tokio::time::Instant::now(),
            finished: watch::Sender::new(0),
        };
        let evicted = {
            let mut sessions = lock(&self.sessions);
            let mut evicted = Vec::new();
            while sessions.len() >= MAX_SESSIONS {
                let oldest = sessions
                    .iter()
                    .filter(|(_, s)| !lock(s).jobs.busy())
                    .min_by_key(|(_, s)| lock(s).used)
                    .map(|(id, _)| id.clone());
                match oldest.and_then(|id| sessions.remove(&id)) {
                    Some(s) => evicted.push(s),
                    None => break,
                }
            }
            sessions.insert(id.clone(), Arc::new(Mutex::new(session)));
            evicted
        };
        for old in evicted {
            remove_dir(&lock(&old).dir);
        }
        {
            let mut status = lock(&self.status);
            status.auth_failures = 0;
            if status.alarm.as_deref().is_some_and(|a| a.starts_with(AUTH_ALARM)) {
                status.alarm = None;
            }
        }
        tracing::info!(peer, "1C exchange session opened");
        Reply {
            cookie: Some((COOKIE_NAME.to_string(), id.clone())),
            ..Reply::text(&Answer::Authorized {
                cookie_name: COOKIE_NAME.to_string(),
                cookie_value: id,
            })
        }
    }

    fn credentials_match(&self, login: &str, password: &str) -> bool {
        // Compared as digests, so the time taken says nothing about how much of it matched.
        let digest = |a: &str, b: &str| Sha256::new().chain_update(a).chain_update([0u8]).chain_update(b).finalize();
        digest(login, password) == digest(&self.settings.login, self.settings.password.expose())
    }

    fn auth_failed(&self, peer: &str, login: Option<&str>) -> Reply {
        let shown = login.map(|l| crate::domain::text::shown(l).to_string());
        tracing::warn!(
            peer,
            login = shown.as_deref().unwrap_or("(no HTTP Basic credentials)"),
            "1C exchange login refused: wrong login or password"
        );
        let mut status = lock(&self.status);
        status.auth_failures += 1;
        status.last_auth_failure = Some(jiff::Timestamp::now());
        status.alarm = Some(format!(
            "{AUTH_ALARM}: {} неудачных входов подряд, последний с {peer} (логин «{}»). Проверьте пользователя и пароль в узле обмена 1С и [onec] login/password",
            status.auth_failures,
            shown.as_deref().unwrap_or("не передан"),
        ));
        Reply::text(&Answer::wrong_credentials())
    }

    fn known_directory(&self) -> Directory {
        match self.store.onec_state(DIRECTORY_STATE) {
            Ok(Some(bytes)) => serde_json::from_slice(&bytes).unwrap_or_default(),
            Ok(None) => Directory::default(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the 1C exchange's directory; starting from the files alone");
                Directory::default()
            }
        }
    }

    fn session(&self, cookie: Option<&str>) -> Option<(String, SharedSession)> {
        let value = cookie_value(cookie?, COOKIE_NAME)?;
        let sessions = lock(&self.sessions);
        sessions.get(value).map(|s| (value.to_string(), s.clone()))
    }

    async fn file(&self, session: &SharedSession, query: &ExchangeQuery, body: &[u8]) -> Reply {
        let Some(name) = query.filename.clone() else {
            return Reply::text(&Answer::Failure("в запросе нет параметра filename".into()));
        };
        if body.len() as u64 > self.settings.file_limit {
            return Reply::text(&Answer::Failure(format!(
                "часть файла {name} больше file_limit ({} байт), объявленного в mode=init",
                self.settings.file_limit
            )));
        }
        let session = session.clone();
        let body = body.to_vec();
        let written = tokio::task::spawn_blocking(move || {
            let mut s = lock(&session);
            let path = s.dir.join(name.as_str());
            let ledger = s.ledgers.entry(name.clone()).or_default();
            append_chunk(&path, ledger, &body).map_err(|e| (name, e))
        })
        .await;
        match written {
            Ok(Ok(chunk)) => {
                if chunk != Chunk::Append {
                    tracing::info!(?chunk, "1C sent a chunk again; the file is kept whole");
                }
                Reply::text(&Answer::Success)
            }
            Ok(Err((name, e))) => {
                tracing::error!(file = %name, error = %e, "cannot store a file from 1C");
                Reply::text(&Answer::Failure(format!("не удалось сохранить файл {name} на кассе: {e}")))
            }
            Err(e) => Reply::text(&Answer::Failure(format!("сохранение файла прервано: {e}"))),
        }
    }

    /// `type=sale&mode=file`: 1C sends its orders back (statuses, often with the buyers). The
    /// shop keeps no orders to update, but the buyers' `Контрагенты` become clients the caller
    /// card and the till find, as from the catalog exchange. The file is checked whole before
    /// a client is written; a broken one is refused with the reason and changes nothing.
    async fn order_file(&self, session: &SharedSession, query: &ExchangeQuery, body: &[u8]) -> Reply {
        let name = query.filename.as_ref().map(SafeName::as_str).unwrap_or("orders.xml").to_string();
        let (dir, known) = {
            let s = lock(session);
            (s.dir.clone(), s.directory.clone())
        };
        let settings = self.settings.import.clone();
        let body = body.to_vec();
        let parsed = tokio::task::spawn_blocking(move || {
            let mut clients = Vec::new();
            import::run(
                body.as_slice(),
                &settings,
                &known,
                DEFAULT_BATCH,
                &dir,
                &mut |_| {},
                &mut |batch: Vec<Change>| {
                    clients.extend(batch.into_iter().filter(|c| matches!(c, Change::ClientUpsert(_))));
                    Ok::<_, std::convert::Infallible>(())
                },
            )
            .map(|_| clients)
        })
        .await;
        let clients = match parsed {
            Ok(Ok(clients)) => clients,
            Ok(Err(e)) => return Reply::text(&Answer::Failure(format!("{name}: {e}"))),
            Err(e) => return Reply::text(&Answer::Failure(format!("{name}: разбор прерван: {e}"))),
        };
        let count = clients.len();
        if count > 0 {
            let written = async {
                self.store.submit_onec_changes(clients).await?;
                self.store.sync().await
            };
            if let Err(e) = written.await {
                return Reply::text(&Answer::Failure(format!("{name}: не удалось записать покупателей: {e}")));
            }
        }
        tracing::info!(file = %name, clients = count, "1C sent its orders; their buyers are kept as clients");
        Reply::text(&Answer::Success)
    }

    async fn import(&self, session: &SharedSession, query: &ExchangeQuery) -> Reply {
        let Some(name) = query.filename.clone() else {
            return Reply::text(&Answer::Failure("в запросе нет параметра filename".into()));
        };
        let mut finished = lock(session).finished.subscribe();
        let mut answer = lock(session).jobs.on_import(name.as_str());
        if matches!(answer, JobAnswer::Progress(_)) {
            // 1C asks again at once; wait a little for the end instead of letting it spin.
            let _ = tokio::time::timeout(PROGRESS_WAIT, finished.changed()).await;
            answer = lock(session).jobs.on_import(name.as_str());
        }
        if matches!(answer, JobAnswer::Start(_)) {
            self.spawn_import(session.clone(), name);
        }
        Reply::job(&answer)
    }

    fn spawn_import(&self, session: SharedSession, name: SafeName) {
        let job = ImportJob {
            store: self.store.clone(),
            settings: self.settings.import.clone(),
            session: session.clone(),
            name: name.clone(),
            runtime: tokio::runtime::Handle::current(),
        };
        let status = self.status.clone();
        let blocking = tokio::task::spawn_blocking(move || job.run());
        tokio::spawn(async move {
            let outcome = match blocking.await {
                Ok(Ok(summary)) => {
                    let text = summary.describe();
                    tracing::info!(file = %name, summary = %text, "1C file imported");
                    let mut st = lock(&status);
                    st.last_import = Some(format!("{name}: {text}"));
                    st.last_import_ok = Some(true);
                    ImportOutcome::Done(Box::new(summary))
                }
                Ok(Err(reason)) => {
                    tracing::warn!(file = %name, %reason, "1C file not imported");
                    let mut st = lock(&status);
                    st.last_import = Some(format!("{name}: {reason}"));
                    st.last_import_ok = Some(false);
                    ImportOutcome::Failed(reason)
                }
                Err(e) => {
                    tracing::error!(file = %name, error = %e, "1C import job ended abnormally");
                    ImportOutcome::Failed(format!(
                        "загрузка файла {name} прервана внутренней ошибкой storeterm; повторите обмен"
                    ))
                }
            };
            let mut s = lock(&session);
            if matches!(outcome, ImportOutcome::Failed(_)) {
                s.failed = true;
            }
            s.jobs.on_finished(name.as_str(), outcome);
            s.finished.send_modify(|n| *n = n.wrapping_add(1));
        });
    }

    /// `deactivate`/`complete`: the exchange is over. A full unload removes what it left out;
    /// the session's files go.
    async fn end_of_exchange(&self, id: &str, session: &SharedSession) -> Reply {
        let (full, failed, busy) = {
            let s = lock(session);
            (s.full_ids.clone(), s.failed, s.jobs.busy())
        };
        if busy {
            return Reply::text(&Answer::Progress("загрузка файлов ещё идёт".into()));
        }
        if let Some(keep) = full {
            if failed {
                tracing::warn!("a file of the full unload was not imported: items missing from it are kept");
            } else {
                match self.deactivate_missing(keep).await {
                    Ok(n) => {
                        if n > 0 {
                            tracing::info!(items = n, "items missing from 1C's full unload removed from sale");
                        }
                        lock(&self.status).items_deactivated += n as u64;
                        lock(session).full_ids = None;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "cannot remove the items missing from 1C's full unload");
                        return Reply::text(&Answer::Failure(format!(
                            "не удалось снять с продажи товары, которых нет в полной выгрузке: {e}"
                        )));
                    }
                }
            }
        }
        let removed = lock(&self.sessions).remove(id);
        if let Some(s) = removed {
            let dir = lock(&s).dir.clone();
            let _ = tokio::task::spawn_blocking(move || remove_dir(&dir)).await;
        }
        Reply::text(&Answer::Success)
    }

    async fn deactivate_missing(&self, keep: BTreeSet<String>) -> Result<usize, StoreError> {
        let missing = self.store.onec_items_missing_from(&keep)?;
        let count = missing.len();
        for ids in missing.chunks(IMPORT_BATCH) {
            let changes = ids.iter().cloned().map(Change::ItemDelete).collect();
            self.store.submit_onec_changes(changes).await?;
        }
        self.store.sync().await?;
        Ok(count)
    }

    async fn sales_query(&self) -> Reply {
        let unsent = self.store.onec_unsent_sales(MAX_DOCUMENTS).and_then(|receipts| {
            let returns = self.store.onec_unsent_returns(MAX_DOCUMENTS - receipts.len())?;
            Ok((receipts, returns))
        });
        let (receipts, returns) = match unsent {
            Ok(r) => r,
            Err(e) => return Reply::text(&Answer::Failure(format!("не удалось прочитать продажи: {e}"))),
        };
        let counterparty = |id: &str, name: &str| Counterparty {
            id: id.to_string(),
            name: name.to_string(),
            phones: Vec::new(),
        };
        let mut documents: Vec<SaleDocument> = receipts
            .iter()
            .map(|r| {
                let mut doc = SaleDocument::from_receipt(r, &self.tz, "RUB");
                doc.client = r.receipt.client.as_ref().map(|c| counterparty(&c.id, &c.name));
                doc
            })
            .collect();
        for ret in &returns {
            let mut doc = SaleDocument::from_return(ret, &self.tz, "RUB");
            // A return keeps only its client's id; the name is the catalog's, or the id.
            doc.client = ret.client.as_ref().map(|id| {
                let name = self.store.client(id).ok().flatten().map(|c| c.name);
                counterparty(id, name.as_deref().unwrap_or(id))
            });
            documents.push(doc);
        }
        let now = jiff::Timestamp::now().to_zoned(self.tz.clone()).datetime();
        let xml = sales::render(&documents, now, OutputEncoding::Utf8);
        // Durable before 1C sees it: `success` marks exactly this set.
        let ids = receipts.iter().map(|r| r.receipt.id).chain(returns.iter().map(|r| r.id)).collect();
        if let Err(e) = self.store.onec_handed_out(ids).await {
            return Reply::text(&Answer::Failure(format!("не удалось записать выданные продажи: {e}")));
        }
        tracing::info!(sales = receipts.len(), returns = returns.len(), "sales handed out to 1C");
        lock(&self.status).sales_handed_out += documents.len() as u64;
        Reply {
            content_type: XML_CONTENT_TYPE,
            body: xml,
            cookie: None,
        }
    }

    async fn sales_success(&self) -> Reply {
        match self.store.onec_acknowledge().await {
            Ok(n) => {
                tracing::info!(sales = n, "1C acknowledged the sales handed out");
                lock(&self.status).sales_acknowledged += n as u64;
                Reply::text(&Answer::Success)
            }
            Err(e) => Reply::text(&Answer::Failure(format!("не удалось отметить продажи как переданные: {e}"))),
        }
    }
}

const AUTH_ALARM: &str = "1С не может войти в обмен";

/// The import of one `import&filename=` call, on a blocking thread.
struct ImportJob {
    store: Store,
    settings: Settings,
    session: SharedSession,
    name: SafeName,
    runtime: tokio::runtime::Handle,
}

impl ImportJob {
    fn run(self) -> Result<ImportSummary, String> {
        let dir = lock(&self.session).dir.clone();
        let files = self.files(&dir)?;
        let mut last = None;
        for file in &files {
            let summary = self.import_one(&dir, file);
            // Imported or refused, the file has done its part (1C sends it again next time).
            let _ = std::fs::remove_file(dir.join(file.as_str()));
            lock(&self.session).ledgers.remove(file);
            last = Some(summary?);
        }
        self.runtime
            .block_on(self.store.sync())
            .map_err(|e| format!("загруженные данные не записаны на диск: {e}"))?;
        last.ok_or_else(|| format!("в архиве {} нет файлов XML", self.name))
    }

    /// The XML files this call imports: the file itself, or what its zip held. Zips 1C
    /// uploaded are unpacked first (1C then names the files inside them).
    fn files(&self, dir: &Path) -> Result<Vec<SafeName>, String> {
        let set_progress = |p: Progress| lock(&self.session).jobs.on_progress(self.name.as_str(), p);
        if self.name.is_image() {
            return Err(format!("{} — картинка, загружать её не нужно", self.name));
        }
        let mut zips: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("zip")))
                    .collect()
            })
            .unwrap_or_default();
        zips.sort();
        let mut from_zip = Vec::new();
        for zip in &zips {
            set_progress(Progress::Unpacking);
            let unpacked = unpack(zip, dir)?;
            let _ = std::fs::remove_file(zip);
            if zip.file_name().and_then(|n| n.to_str()) == Some(self.name.as_str()) {
                from_zip = unpacked;
            }
        }
        if self.name.is_zip() {
            let mut xml: Vec<SafeName> = from_zip.into_iter().filter(|n| !n.is_image() && !n.is_zip()).collect();
            xml.sort_by_key(|n| (import_order(n.as_str()), n.clone()));
            if xml.is_empty() {
                return Err(format!(
                    "архив {} не получен или в нём нет файлов XML; 1С должна сначала передать его (mode=file)",
                    self.name
                ));
            }
            return Ok(xml);
        }
        if !dir.join(self.name.as_str()).is_file() {
            return Err(format!(
                "файл {} не получен: 1С должна сначала передать его (mode=file), повторите обмен",
                self.name
            ));
        }
        Ok(vec![self.name.clone()])
    }

    fn import_one(&self, dir: &Path, file: &SafeName) -> Result<ImportSummary, String> {
        let path = dir.join(file.as_str());
        let known = lock(&self.session).directory.clone();
        let store = &self.store;
        let runtime = &self.runtime;
        let session = &self.session;
        let name = self.name.as_str();
        let input = match std::fs::File::open(&path) {
            Ok(f) => BufReader::with_capacity(256 * 1024, f),
            Err(e) => return Err(format!("{file}: файл не читается: {e}")),
        };
        let result = import::run(
            input,
            &self.settings,
            &known,
            IMPORT_BATCH,
            dir,
            &mut |p| lock(session).jobs.on_progress(name, p),
            &mut |batch| runtime.block_on(store.submit_onec_changes(batch)).map(|_| ()),
        );
        let summary = match result {
            Ok(summary) => summary,
            Err(RunError::File(e)) => return Err(format!("{file}: {e}")),
            Err(e @ RunError::Spool(_)) => return Err(format!("{file}: {e}")),
            Err(RunError::Apply(e)) => return Err(format!("{file}: не удалось записать загруженные данные: {e}")),
        };
        let directory = {
            let mut s = lock(&self.session);
            s.directory.merge(&summary.directory);
            if summary.catalog_full == Some(true) {
                s.full_ids
                    .get_or_insert_with(BTreeSet::new)
                    .extend(summary.catalog_ids.iter().cloned());
            }
            s.directory.clone()
        };
        if let Ok(bytes) = serde_json::to_vec(&directory) {
            if let Err(e) = self.runtime.block_on(self.store.set_onec_state(DIRECTORY_STATE, bytes)) {
                tracing::warn!(error = %e, "cannot keep the 1C exchange's directory for the next exchange");
            }
        }
        Ok(summary)
    }
}

/// Catalog before offers before prices before stock: prices and variants need their items.
fn import_order(name: &str) -> u8 {
    let lower = name.to_ascii_lowercase();
    let base = lower.rsplit('/').next().unwrap_or(&lower);
    if base.starts_with("import") {
        0
    } else if base.starts_with("offers") {
        1
    } else if base.starts_with("prices") {
        2
    } else if base.starts_with("rests") {
        3
    } else {
        4
    }
}

/// Unpack a zip next to it; returns the names it held.
fn unpack(zip: &Path, dir: &Path) -> Result<Vec<SafeName>, String> {
    let shown = zip.file_name().and_then(|n| n.to_str()).unwrap_or("?").to_string();
    let file = std::fs::File::open(zip).map_err(|e| format!("архив {shown} не читается: {e}"))?;
    archive::unpack(BufReader::new(file), &ZipLimits::default(), &mut |name, reader| {
        let path = dir.join(name.as_str());
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut out = std::fs::File::create(&path)?;
        std::io::copy(reader, &mut out)
    })
    .map_err(|e| format!("{shown}: {e}"))
}

/// Append one `mode=file` chunk to `path` by the ledger's rule.
fn append_chunk(path: &Path, ledger: &mut ChunkLedger, chunk: &[u8]) -> std::io::Result<Chunk> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)?;
    let len = file.metadata()?.len();
    let plan = ledger.plan(len, chunk);
    let before = match plan {
        Chunk::Repeat => return Ok(plan),
        Chunk::Append => len,
        Chunk::Rewrite { truncate_to } => {
            file.set_len(truncate_to)?;
            truncate_to
        }
    };
    file.seek(SeekFrom::Start(before))?;
    file.write_all(chunk)?;
    ledger.written(before, chunk);
    Ok(plan)
}

fn remove_dir(dir: &Path) {
    if let Err(e) = std::fs::remove_dir_all(dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot remove a 1C exchange's files");
        }
    }
}

fn new_session_id() -> String {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&fastrand::u64(..).to_le_bytes());
    bytes[8..].copy_from_slice(uuid::Uuid::new_v4().as_bytes()[..8].try_into().unwrap_or([0; 8]).as_slice());
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `Authorization: Basic base64(login:password)`.
fn basic_credentials(header: Option<&str>) -> Option<(String, String)> {
    use base64::Engine;
    let (scheme, value) = header?.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(value.trim()).ok()?;
    // 1C sends UTF-8; a Cyrillic login in an older 1C may come as windows-1251.
    let text = match String::from_utf8(decoded) {
        Ok(t) => t,
        Err(e) => encoding_rs::WINDOWS_1251.decode(e.as_bytes()).0.into_owned(),
    };
    let (login, password) = text.split_once(':')?;
    Some((login.to_string(), password.to_string()))
}

/// The value of cookie `name` in a `Cookie` header.
fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| k.trim() == name)
        .map(|(_, v)| v.trim().trim_matches('"'))
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn read_all(path: &Path) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        std::fs::File::open(path)?.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn basic_credentials_and_cookies_as_1c_sends_them() {
        use base64::Engine;
        let header = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("1c:pa:ss"));
        assert_eq!(basic_credentials(Some(&header)), Some(("1c".into(), "pa:ss".into())));
        assert_eq!(basic_credentials(Some("Bearer x")), None);
        assert_eq!(basic_credentials(Some("Basic !!!")), None);
        assert_eq!(basic_credentials(None), None);
        assert_eq!(cookie_value("a=1; storeterm_1c=abc; b=2", COOKIE_NAME), Some("abc"));
        assert_eq!(cookie_value("storeterm_1c=", COOKIE_NAME), None);
        assert_eq!(cookie_value("x_storeterm_1c=abc", COOKIE_NAME), None);
    }

    #[test]
    fn chunks_append_and_a_retry_is_harmless() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/import.xml");
        let mut ledger = ChunkLedger::new();
        assert_eq!(append_chunk(&path, &mut ledger, b"<a>").unwrap(), Chunk::Append);
        assert_eq!(append_chunk(&path, &mut ledger, b"<a>").unwrap(), Chunk::Repeat);
        assert_eq!(append_chunk(&path, &mut ledger, b"</a>").unwrap(), Chunk::Append);
        assert_eq!(read_all(&path).unwrap(), b"<a></a>");
        // A cut write of the last chunk is redone.
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(5).unwrap();
        assert_eq!(
            append_chunk(&path, &mut ledger, b"</a>").unwrap(),
            Chunk::Rewrite { truncate_to: 3 }
        );
        assert_eq!(read_all(&path).unwrap(), b"<a></a>");
    }

    #[test]
    fn catalog_files_are_imported_before_offers_prices_and_stock() {
        let mut names = vec!["rests___1.xml", "offers.xml", "prices___1.xml", "import___1.xml"];
        names.sort_by_key(|n| import_order(n));
        assert_eq!(names, vec!["import___1.xml", "offers.xml", "prices___1.xml", "rests___1.xml"]);
    }
}
