//! The one writer: a dedicated thread that owns every write transaction and group-commits.
//!
//! Callers hand it a job (a closure over a write transaction) and wait for the answer. The
//! thread takes the first job waiting, drains everything queued behind it, applies each job in
//! turn inside **one** transaction, makes the batch durable once and then answers every
//! waiter. Twenty lanes and forty handhelds acknowledging at the same moment therefore share
//! one fsync instead of queueing behind forty.
//!
//! Isolation inside a batch: every job reads and decides first and writes only after it has
//! decided (validate, then apply). A refusal therefore leaves no trace and the batch goes on;
//! a failure *while writing* (disk full, an I/O error) aborts the whole batch, and every job in
//! it is answered with that failure — none of them was acknowledged, so nothing is lost.
//!
//! How a batch becomes durable ([`Durability`]):
//! - **Power-loss jobs alone** go through the redo log ([`super::redo`]): their writes are
//!   recorded as they are applied, the record is written to the log file and `fdatasync`ed —
//!   the batch is durable now, and the waiters hear "done" — then the database commits
//!   *without* an fsync. One sync of a few sequential blocks instead of a durable B-tree commit
//!   of fourteen scattered pages or more, and the commit (writing those pages to the page
//!   cache) is off the waiters' time. The log is written before the commit so that no reader
//!   (the outbox sender) can see a document that a power cut could still take back; a reader
//!   arriving between the answer and the commit waits for the commit ([`CommitGate`]), so
//!   nobody told "done" reads a store without it. Should that commit fail, the record stays in
//!   the log and the writer reopens the database, which replays it.
//! - **A checkpoint** — a durable commit of the database file itself — then makes the log's
//!   records redundant, and the log starts again at its front. The writer takes one in a quiet
//!   moment (nothing queued for [`CHECKPOINT_IDLE`]) once [`LOGGED_BEFORE_IDLE_CHECKPOINT`]
//!   records have gathered or the oldest is [`LOG_MAX_AGE`] old, and right after answering a
//!   batch once [`LOGGED_PER_CHECKPOINT`] records or half the log have piled up: never on a
//!   waiter's time unless the load never pauses.
//! - **Lazy jobs** (feed pages, retention) commit without an fsync and without the log; they
//!   become durable with the next checkpoint, which the writer makes itself when lazy commits
//!   have waited [`LAZY_FLUSH`]. A crash loses a lazy commit whole, never half of it. A batch
//!   mixing lazy and other jobs, and a checkpoint job (a restore, [`super::Store::sync`]),
//!   commit the database durably: a checkpoint.
//!
//! Opening the store replays the log's records the database does not hold yet (see
//! [`super::redo::replay`]), so a crash — `kill -9` or a power cut — between checkpoints loses
//! nothing acknowledged.
//!
//! After an I/O error redb refuses further writes until the database is reopened (its repair
//! runs on open, then the log is replayed). The writer then closes and reopens it, retrying
//! until the disk has room again, and reports its state through [`StoreHealth`] meanwhile.

use super::StoreError;
use super::redo::{self, Txn};
use super::redo_log::{self, RedoLog};
use redb::{Database, ReadTransaction, ReadableDatabase};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::{oneshot, watch};

/// What a write must survive before its caller is told "done".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Durable on disk before the answer — a record in the redo log, `fdatasync`ed: a closed
    /// sale, a payment, a shift open or close, a cash operation, a warehouse operation, a call
    /// or lead document, an outbox delivery mark, a print job about to be sent.
    PowerLoss,
    /// Committed atomically but synced later (by the next checkpoint, at the latest within
    /// [`LAZY_FLUSH`]): data the shop can fetch again, such as feed pages with their cursor,
    /// and retention deletes. A crash rolls such a commit back whole.
    Lazy,
    /// A durable commit of the database file itself, which also makes every earlier lazy
    /// commit durable: for bulk writes too large for the log (a restore), and for callers that
    /// need lazy commits synced.
    Checkpoint,
}

/// How long lazy commits may stay un-synced when nothing else asks for an fsync.
pub const LAZY_FLUSH: Duration = Duration::from_secs(2);

/// How long the writer waits for more work before it checkpoints logged batches.
#[cfg(not(test))]
pub const CHECKPOINT_IDLE: Duration = Duration::from_millis(50);
/// Unit tests copy a live store to see what a crash leaves; an idle checkpoint racing the copy
/// would leave the log nothing to prove.
#[cfg(test)]
pub const CHECKPOINT_IDLE: Duration = Duration::from_secs(3600);

/// Lazy commits in a row before one is made durable anyway: redb frees the pages a commit
/// replaced only at a durable commit, so a long first sync made only of lazy commits would
/// grow the file by every page it ever rewrote.
const LAZY_COMMITS_PER_SYNC: u32 = 8;

/// Logged batches before a checkpoint is taken even under a load that never pauses (for the
/// same reason as [`LAZY_COMMITS_PER_SYNC`]; a payment rewrites about sixteen pages).
const LOGGED_PER_CHECKPOINT: u32 = 256;

/// Logged batches an idle moment must have gathered before it is spent on a checkpoint. A
/// checkpoint costs about one durable commit whatever it covers, and a payment arriving while
/// it runs waits for it: taken after every few payments it would stand in their way about as
/// often as the durable commits the log replaced.
const LOGGED_BEFORE_IDLE_CHECKPOINT: u32 = 64;

/// A quiet shop still checkpoints this long after its first logged batch, so the log never
/// holds much to replay.
const LOG_MAX_AGE: Duration = Duration::from_secs(30);

/// Jobs taken into one transaction at most, so one batch cannot hold every waiter for long.
const MAX_BATCH: usize = 256;

/// The room a probe asks for before the store reports it can write again.
const PROBE_BYTES: usize = 256 * 1024;

/// How often the writer retries reopening a database that failed with an I/O error.
const REOPEN_RETRY: Duration = Duration::from_millis(500);

/// Whether the store can take writes, for `/healthz` and `/admin`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum StoreHealth {
    Ok,
    /// Writes fail (disk full, I/O error); the writer keeps trying and recovers by itself.
    CannotWrite {
        reason: String,
    },
}

/// One unit of work for the writer.
pub(super) trait Job: Send {
    fn durability(&self) -> Durability;
    /// Apply inside the batch's transaction. `Err` means a write failed and the whole batch
    /// must be rolled back; a refusal is not an error here (the job keeps it for its answer).
    fn apply(&mut self, tx: &Txn<'_>) -> Result<(), StoreError>;
    /// Answer the caller once the batch is durable (a logged batch: its record synced, its
    /// database commit still to come) or failed.
    fn finish(self: Box<Self>, committed: Result<(), StoreError>);
}

/// A closure job answering through a oneshot channel.
struct ClosureJob<F, T, E> {
    durability: Durability,
    op: Option<F>,
    result: Option<Result<T, E>>,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<F, T, E> Job for ClosureJob<F, T, E>
where
    F: FnOnce(&Txn<'_>) -> Result<Result<T, E>, StoreError> + Send,
    T: Send,
    E: From<StoreError> + Send,
{
    fn durability(&self) -> Durability {
        self.durability
    }

    fn apply(&mut self, tx: &Txn<'_>) -> Result<(), StoreError> {
        let op = self.op.take().ok_or_else(|| StoreError::Storage("a write job ran twice".into()))?;
        self.result = Some(op(tx)?);
        Ok(())
    }

    fn finish(self: Box<Self>, committed: Result<(), StoreError>) {
        let answer = match (committed, self.result) {
            // A refusal computed inside a batch that failed may rest on writes that were rolled
            // back: the caller gets the failure, not a refusal that might be wrong.
            (Err(e), _) => Err(E::from(e)),
            (Ok(()), Some(result)) => result,
            (Ok(()), None) => Err(E::from(StoreError::Storage("a write job was not applied".into()))),
        };
        // A caller that stopped waiting (a dropped connection) just misses the answer; what it
        // asked for is committed all the same.
        let _ = self.reply.send(answer);
    }
}

/// Opens the database file and replays the redo log into it; the writer calls it again to
/// reopen after an I/O error.
pub(super) type Opener = Box<dyn Fn(&Path) -> Result<Database, StoreError> + Send + Sync>;

/// The database handle shared by readers and the writer.
struct Shared {
    /// `None` while the writer reopens the database after an I/O error.
    db: RwLock<Option<Arc<Database>>>,
    path: PathBuf,
    opener: Opener,
    health: watch::Sender<StoreHealth>,
    /// Why the last reopen failed, while the database is closed: callers are told that
    /// (a full disk), not just "unavailable".
    closed_because: Mutex<Option<StoreError>>,
    /// See [`Engine::activity`].
    activity: AtomicU64,
    gate: CommitGate,
    /// Runs once on the writer between the answers and the commit of the next logged batch;
    /// `false` makes that commit fail as a full disk would.
    #[cfg(test)]
    before_commit: Mutex<Option<Box<dyn FnOnce() -> bool + Send>>>,
}

/// Holds readers back while a batch its waiters were already told of is being committed.
///
/// Between the answer and the end of the database commit, a new read transaction would still
/// see the store without that batch: a cashier's next request, or the outbox sender woken by
/// the sale, would miss what was just acknowledged. The window is one non-durable commit
/// (about a tenth of a millisecond), so waiting out the rare reader that meets it is cheaper
/// than making every waiter wait for the commit.
#[derive(Default)]
struct CommitGate {
    /// Mirrors `held` for the readers' fast path: no lock when no commit is pending.
    pending: AtomicBool,
    held: Mutex<bool>,
    released: Condvar,
    /// Readers that found the gate held and are waiting (for tests to see one arrive).
    #[cfg(test)]
    waiting: AtomicU64,
}

impl CommitGate {
    /// Called before the answers go out.
    fn hold(&self) {
        *self.held.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.pending.store(true, Ordering::SeqCst);
    }

    /// Called once the commit is done (or the database closed after it failed).
    fn release(&self) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        *held = false;
        self.pending.store(false, Ordering::SeqCst);
        self.released.notify_all();
    }

    /// Return once no answered batch is waiting for its commit.
    fn pass(&self) {
        if !self.pending.load(Ordering::SeqCst) {
            return;
        }
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        #[cfg(test)]
        self.waiting.fetch_add(1, Ordering::SeqCst);
        drop(self.released.wait_while(held, |held| *held).unwrap_or_else(|e| e.into_inner()));
    }
}

impl Shared {
    fn current(&self) -> Option<Arc<Database>> {
        self.db.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The error for a caller who finds the database closed.
    fn closed_error(&self) -> StoreError {
        let reason = self.closed_because.lock().unwrap_or_else(|e| e.into_inner());
        reason.clone().unwrap_or_else(unavailable)
    }

    fn set_closed_because(&self, reason: Option<StoreError>) {
        *self.closed_because.lock().unwrap_or_else(|e| e.into_inner()) = reason;
    }

    /// See [`Engine::read`].
    fn read(&self) -> Result<ReadTransaction, StoreError> {
        self.gate.pass();
        let db = self.current().ok_or_else(|| self.closed_error())?;
        db.begin_read().map_err(StoreError::from_engine)
    }

    fn set(&self, db: Option<Arc<Database>>) {
        *self.db.write().unwrap_or_else(|e| e.into_inner()) = db;
    }

    fn report(&self, health: StoreHealth) {
        self.health.send_if_modified(|h| {
            let changed = *h != health;
            *h = health;
            changed
        });
    }
}

/// The writer thread and the handle readers use.
pub(super) struct Engine {
    shared: Arc<Shared>,
    jobs: Mutex<Option<mpsc::Sender<Work>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Engine {
    pub(super) fn start(db: Database, path: &Path, opener: Opener, log: RedoLog) -> Result<Engine, StoreError> {
        let shared = Arc::new(Shared {
            db: RwLock::new(Some(Arc::new(db))),
            path: path.to_path_buf(),
            opener,
            health: watch::channel(StoreHealth::Ok).0,
            closed_because: Mutex::new(None),
            activity: AtomicU64::new(0),
            gate: CommitGate::default(),
            #[cfg(test)]
            before_commit: Mutex::new(None),
        });
        let (jobs, queue) = mpsc::channel();
        let writer = Writer {
            shared: shared.clone(),
            log,
            undurable: false,
            lazy_commits: 0,
            logged_commits: 0,
            first_logged: None,
        };
        let thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer.run(queue))
            .map_err(|e| StoreError::Storage(format!("cannot start the store's writer thread: {e}")))?;
        Ok(Engine {
            shared,
            jobs: Mutex::new(Some(jobs)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Whether the writer thread still runs. It ends only when the store is closed, or when a
    /// bug panicked it; then every write would hang, so the daemon must say so and restart.
    pub(super) fn writer_alive(&self) -> bool {
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner());
        thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// A read transaction on the last committed state, which holds every write answered so far.
    pub(super) fn read(&self) -> Result<ReadTransaction, StoreError> {
        self.shared.read()
    }

    /// Run `op` in the writer's next batch and wait until the batch is as durable as
    /// `durability` asks. The outer `Result` of `op` is a storage failure (aborts the batch);
    /// the inner one is the operation's own answer, a refusal included.
    pub(super) async fn write<T, E>(
        &self,
        durability: Durability,
        op: impl FnOnce(&Txn<'_>) -> Result<Result<T, E>, StoreError> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.submit(durability, op).await
    }

    /// Queue `op` now and return the wait for its answer, so a caller can prepare the next
    /// write (parse the next feed page) while this one is applied.
    pub(super) fn submit<T, E>(
        &self,
        durability: Durability,
        op: impl FnOnce(&Txn<'_>) -> Result<Result<T, E>, StoreError> + Send + 'static,
    ) -> impl Future<Output = Result<T, E>> + Send + 'static
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        if durability == Durability::PowerLoss {
            self.note_activity();
        }
        let (reply, answer) = oneshot::channel();
        let job = Box::new(ClosureJob {
            durability,
            op: Some(op),
            result: None,
            reply,
        });
        let sent = self.send(Work::Job(job));
        async move {
            sent.map_err(E::from)?;
            answer
                .await
                .map_err(|_| E::from(StoreError::Storage("the store's writer stopped".into())))?
        }
    }

    fn send(&self, work: Work) -> Result<(), StoreError> {
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        let sender = jobs.as_ref().ok_or_else(|| StoreError::Storage("the store is closed".into()))?;
        sender
            .send(work)
            .map_err(|_| StoreError::Storage("the store's writer stopped".into()))
    }

    /// A counter of the writes people cause: every power-loss job (a sale, a warehouse
    /// operation, a call) and whatever else [`Engine::note_activity`] is told of. Feed pages,
    /// pruning and checkpoints do not move it; when it stands still, nobody is using the shop.
    pub(super) fn activity(&self) -> u64 {
        self.shared.activity.load(Ordering::Relaxed)
    }

    /// Count one write a person caused outside the database (an open receipt's edit).
    pub(super) fn note_activity(&self) {
        self.shared.activity.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn health(&self) -> watch::Receiver<StoreHealth> {
        self.shared.health.subscribe()
    }

    /// A write outside the database (the lane journal) failed: report it, and let the writer
    /// find out when writing works again.
    pub(super) fn write_failed(&self, e: &StoreError) {
        self.shared.report(StoreHealth::CannotWrite { reason: e.to_string() });
        // The writer may be waiting without a timeout; it must start probing.
        let _ = self.send(Work::Wake);
    }

    /// Let the writer finish what is queued, make lazy commits durable and close the file.
    pub(super) fn close(&self) {
        drop(self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take());
        if let Some(thread) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = thread.join();
        }
        self.shared.set(None);
    }

    /// Run `f` with the database to itself — no batch and no reader holds it meanwhile —
    /// after everything queued before it. Used to compact the file in a quiet moment.
    pub(super) async fn alone<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Database) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        let work = Work::Alone(Box::new(move |db: Option<&mut Database>| -> Answer {
            let result = match db {
                Some(db) => f(db),
                None => Err(unavailable()),
            };
            Box::new(move || {
                let _ = reply.send(result);
            })
        }));
        self.send(work)?;
        answer.await.map_err(|_| StoreError::Storage("the store's writer stopped".into()))?
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.close();
    }
}

fn unavailable() -> StoreError {
    StoreError::Unavailable("хранилище на секунду занято (сжатие файла или переоткрытие после ошибки записи); повторите".into())
}

/// A job that needs the database to itself; it gets `None` when the database is unavailable.
/// It returns its answer to the caller, which the writer sends once the database is back in
/// place for readers: a caller who reads right after must not find it missing.
type AloneFn = Box<dyn FnOnce(Option<&mut Database>) -> Answer + Send>;

/// Sends a caller its answer.
type Answer = Box<dyn FnOnce() + Send>;

/// What the writer's queue carries.
enum Work {
    Job(Box<dyn Job>),
    Alone(AloneFn),
    /// Nothing to do but look at the store's health again.
    Wake,
}

/// Wait (briefly) until no reader holds a clone of the handle.
fn wait_until_unique(mut db: Arc<Database>) -> Result<Database, Arc<Database>> {
    for _ in 0..2000 {
        match Arc::try_unwrap(db) {
            Ok(db) => return Ok(db),
            Err(shared) => {
                db = shared;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    Err(db)
}

struct Writer {
    shared: Arc<Shared>,
    log: RedoLog,
    /// A commit since the last checkpoint was not itself durable (lazy, or logged).
    undurable: bool,
    /// Lazy commits since the last checkpoint.
    lazy_commits: u32,
    /// Logged batches since the last checkpoint.
    logged_commits: u32,
    /// When the first of them was committed.
    first_logged: Option<tokio::time::Instant>,
}

impl Writer {
    fn run(mut self, queue: mpsc::Receiver<Work>) {
        let mut next: Option<Work> = None;
        loop {
            let first = match next.take() {
                Some(work) => work,
                None => {
                    let troubled = self.shared.current().is_none() || *self.shared.health.borrow() != StoreHealth::Ok;
                    let received = if troubled {
                        queue.recv_timeout(REOPEN_RETRY)
                    } else if self.logged_commits > 0 {
                        queue.recv_timeout(CHECKPOINT_IDLE)
                    } else if self.undurable {
                        queue.recv_timeout(LAZY_FLUSH)
                    } else {
                        queue.recv().map_err(|_| RecvTimeoutError::Disconnected)
                    };
                    match received {
                        Ok(work) => work,
                        Err(RecvTimeoutError::Timeout) => {
                            self.idle();
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
            };
            let mut batch = match first {
                Work::Job(job) => vec![job],
                Work::Alone(f) => {
                    self.alone(f);
                    continue;
                }
                Work::Wake => continue,
            };
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(Work::Job(job)) => batch.push(job),
                    Ok(Work::Wake) => {}
                    Ok(alone) => {
                        // Runs after this batch, as queued.
                        next = Some(alone);
                        break;
                    }
                    Err(_) => break,
                }
            }
            self.commit(batch);
            if self.logged_commits >= LOGGED_PER_CHECKPOINT || self.log.used() >= redo_log::CAPACITY / 2 {
                self.sync();
            }
        }
        if self.undurable {
            self.sync();
        }
    }

    /// Give the database to `f` alone: out of the shared slot, once readers let go of it.
    fn alone(&mut self, f: AloneFn) {
        if self.undurable {
            self.sync();
        }
        let Some(db) = self.shared.current().or_else(|| self.reopen()) else {
            f(None)();
            return;
        };
        self.shared.set(None);
        match wait_until_unique(db) {
            Ok(mut db) => {
                let answer = f(Some(&mut db));
                self.shared.set(Some(Arc::new(db)));
                answer();
            }
            Err(db) => {
                tracing::warn!("readers held the store too long; a maintenance step was skipped");
                self.shared.set(Some(db));
                f(None)();
            }
        }
    }

    /// Nothing queued: checkpoint, or retry a reopen.
    fn idle(&mut self) {
        if self.shared.current().is_none() {
            self.reopen();
        } else if *self.shared.health.borrow() != StoreHealth::Ok {
            self.probe();
        } else if self.undurable && self.checkpoint_due_when_idle() {
            self.sync();
        }
    }

    fn checkpoint_due_when_idle(&self) -> bool {
        self.lazy_commits > 0
            || self.logged_commits >= LOGGED_BEFORE_IDLE_CHECKPOINT
            || self.first_logged.is_some_and(|at| at.elapsed() >= LOG_MAX_AGE)
    }

    /// After a failed write (here or in the lane journal): is there room again? A small file
    /// written and synced in the store's directory says so without touching the database.
    fn probe(&mut self) {
        let dir = self.shared.path.parent().unwrap_or(&self.shared.path);
        let probe = dir.join(".space-probe");
        let written = std::fs::write(&probe, [0u8; PROBE_BYTES]).and_then(|()| std::fs::File::open(&probe)?.sync_all());
        let _ = std::fs::remove_file(&probe);
        if written.is_ok() {
            self.sync();
            if self.shared.current().is_some() {
                self.shared.report(StoreHealth::Ok);
                tracing::info!("the store can write again");
            }
        }
    }

    /// A checkpoint: an empty fsync'd commit, which makes every earlier commit durable in the
    /// database file and so every record of the log redundant.
    fn sync(&mut self) {
        let Some(db) = self.shared.current() else { return };
        let result = db.begin_write().map_err(StoreError::from_engine).and_then(|mut tx| {
            tx.set_durability(redb::Durability::Immediate).map_err(StoreError::from_engine)?;
            tx.commit().map_err(StoreError::from_engine)
        });
        match result {
            Ok(()) => self.checkpointed(),
            Err(e) => self.failed(db, &e),
        }
    }

    fn checkpointed(&mut self) {
        self.undurable = false;
        self.lazy_commits = 0;
        self.logged_commits = 0;
        self.first_logged = None;
        self.log.checkpointed();
    }

    fn commit(&mut self, mut batch: Vec<Box<dyn Job>>) {
        let Some(db) = self.shared.current().or_else(|| self.reopen()) else {
            let e = self.shared.closed_error();
            for job in batch {
                job.finish(Err(e.clone()));
            }
            return;
        };
        let logged = batch.iter().all(|j| j.durability() == Durability::PowerLoss);
        let lazy_only = batch.iter().all(|j| j.durability() == Durability::Lazy);
        let mut durable = !logged && (!lazy_only || self.lazy_commits + 1 >= LAZY_COMMITS_PER_SYNC);
        let mut record_at = None;
        let log = &mut self.log;
        let prepared = (|| {
            let mut tx = db.begin_write().map_err(StoreError::from_engine)?;
            let level = if durable {
                redb::Durability::Immediate
            } else {
                redb::Durability::None
            };
            tx.set_durability(level).map_err(StoreError::from_engine)?;
            let record = {
                let txn = if logged { Txn::recording(&tx) } else { Txn::unrecorded(&tx) };
                for job in batch.iter_mut() {
                    // An error drops the transaction, which rolls the whole batch back.
                    job.apply(&txn)?;
                }
                txn.into_redo()
            };
            if !record.is_empty() {
                let lsn = redo::applied_lsn(&tx)? + 1;
                redo::set_applied_lsn(&tx, lsn)?;
                let tail = log.used();
                match log.append(lsn, &record) {
                    Ok(Some(at)) => record_at = Some(at),
                    // No room before the next checkpoint: this batch is the checkpoint.
                    Ok(None) => {
                        tx.set_durability(redb::Durability::Immediate).map_err(StoreError::from_engine)?;
                        durable = true;
                    }
                    Err(e) => {
                        // The record may be on disk in part, or whole but unsynced: unmake it,
                        // since its batch is rolled back.
                        if let Err(e) = log.retract(tail) {
                            tracing::error!(error = %e, "a redo record of a failed batch could not be retracted");
                        }
                        return Err(StoreError::Storage(format!("журнал записей ({}): {e}", log.path().display())));
                    }
                }
            }
            Ok(tx)
        })();
        let tx = match prepared {
            Ok(tx) => tx,
            Err(e) => {
                self.failed(db, &e);
                for job in batch {
                    job.finish(Err(e.clone()));
                }
                return;
            }
        };
        if record_at.is_some() {
            // The synced record makes the batch durable: answer now, commit after.
            self.shared.gate.hold();
            for job in batch {
                job.finish(Ok(()));
            }
            match self.commit_answered(tx) {
                Ok(()) => {
                    self.shared.gate.release();
                    self.logged();
                }
                Err(e) => {
                    // The record stays in the log: what its waiters were told of comes back
                    // when the database is reopened and the log replayed.
                    tracing::error!(error = %e, "the database commit of an answered batch failed; the redo log holds it");
                    self.reopen_after(db, &e);
                }
            }
            return;
        }
        let result = tx.commit().map_err(StoreError::from_engine);
        match &result {
            Ok(()) if durable => {
                self.checkpointed();
                self.shared.report(StoreHealth::Ok);
            }
            Ok(()) => {
                self.undurable = true;
                if lazy_only {
                    self.lazy_commits += 1;
                }
                self.shared.report(StoreHealth::Ok);
            }
            Err(e) => self.failed(db, e),
        }
        for job in batch {
            job.finish(result.clone());
        }
    }

    /// The database commit of a batch whose waiters were answered already.
    fn commit_answered(&self, tx: redb::WriteTransaction) -> Result<(), StoreError> {
        #[cfg(test)]
        if let Some(hook) = self.shared.before_commit.lock().unwrap_or_else(|e| e.into_inner()).take() {
            if !hook() {
                drop(tx);
                return Err(StoreError::from_engine(std::io::Error::from(std::io::ErrorKind::StorageFull)));
            }
        }
        tx.commit().map_err(StoreError::from_engine)
    }

    /// A logged batch is committed to the database (not yet durably: the log holds it).
    fn logged(&mut self) {
        self.undurable = true;
        self.logged_commits += 1;
        self.first_logged.get_or_insert_with(tokio::time::Instant::now);
        self.shared.report(StoreHealth::Ok);
    }

    /// A write failed: after an I/O error redb must be reopened before it writes again.
    fn failed(&mut self, db: Arc<Database>, e: &StoreError) {
        tracing::error!(error = %e, "store write failed");
        if e.needs_reopen() {
            self.reopen_after(db, e);
        }
    }

    /// Close the database and open it again, which repairs it and replays the redo log.
    fn reopen_after(&mut self, db: Arc<Database>, e: &StoreError) {
        self.shared.report(StoreHealth::CannotWrite { reason: e.to_string() });
        // Callers meeting the closed database meanwhile hear why (a full disk).
        self.shared.set_closed_because(Some(e.clone()));
        self.shared.set(None);
        // Readers held for an answered batch now meet the closed database, not the old one.
        self.shared.gate.release();
        drop(db);
        // Lazy commits are lost with the handle; logged ones come back from the log.
        self.undurable = false;
        self.lazy_commits = 0;
        self.logged_commits = 0;
        self.first_logged = None;
        self.reopen();
    }

    fn reopen(&mut self) -> Option<Arc<Database>> {
        if let Some(db) = self.shared.current() {
            return Some(db);
        }
        match (self.shared.opener)(&self.shared.path) {
            Ok(db) => {
                let db = Arc::new(db);
                self.shared.set(Some(db.clone()));
                // The opener replayed the log into the database and committed it durably.
                self.log.checkpointed();
                self.shared.set_closed_because(None);
                // Open is not write: the health turns back to Ok with the next commit or probe.
                tracing::info!("store reopened after a write failure");
                Some(db)
            }
            Err(e) => {
                self.shared.report(StoreHealth::CannotWrite { reason: e.to_string() });
                self.shared.set_closed_because(Some(e));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tables::META;
    use crate::store::test_support::temp_store;
    use redb::ReadableTable;

    /// A power-loss write of one `meta` key, as a sale's would be.
    async fn put(engine: &Engine, key: &'static str, value: u8) -> Result<(), StoreError> {
        engine
            .write(Durability::PowerLoss, move |tx| {
                tx.open_table(META)?.insert(key, [value].as_slice())?;
                Ok(Ok::<(), StoreError>(()))
            })
            .await
    }

    /// A reader who starts after a logged batch was answered, but before the writer committed
    /// it, waits for the commit and sees the batch.
    #[tokio::test]
    async fn a_reader_after_the_answer_sees_the_answered_batch() {
        let (store, _dir) = temp_store();
        let shared = store.inner.engine.shared.clone();
        let (seen_tx, seen) = std::sync::mpsc::channel();
        let in_window = shared.clone();
        *shared.before_commit.lock().unwrap() = Some(Box::new(move || {
            let reader = in_window.clone();
            let done = Arc::new(AtomicBool::new(false));
            let finished = done.clone();
            std::thread::spawn(move || {
                let seen = reader.read().and_then(|tx| Ok(tx.open_table(META)?.get("gate-test")?.is_some()));
                finished.store(true, Ordering::SeqCst);
                let _ = seen_tx.send(seen);
            });
            // Commit only once the reader is held at the gate (or, were the gate broken, has
            // read already): no timing decides the outcome.
            while in_window.gate.waiting.load(Ordering::SeqCst) == 0 && !done.load(Ordering::SeqCst) {
                std::thread::yield_now();
            }
            true
        }));
        put(&store.inner.engine, "gate-test", 1).await.unwrap();
        let seen = tokio::task::spawn_blocking(move || seen.recv().unwrap()).await.unwrap();
        assert!(seen.unwrap(), "the reader saw the store without the batch it was told of");
    }

    /// The database commit of an answered batch fails (a full disk): the batch is not lost,
    /// since the writer reopens the database and the redo log gives it back.
    #[tokio::test]
    async fn an_answered_batch_whose_commit_fails_comes_back_from_the_log() {
        let (store, _dir) = temp_store();
        let engine = &store.inner.engine;
        *engine.shared.before_commit.lock().unwrap() = Some(Box::new(|| false));
        put(engine, "answered", 7).await.expect("answered once the log holds it");
        // Queued behind the reopen, so it runs on the reopened database.
        put(engine, "after", 8).await.expect("the store writes again after the reopen");
        let tx = engine.read().unwrap();
        let meta = tx.open_table(META).unwrap();
        assert_eq!(meta.get("answered").unwrap().map(|v| v.value().to_vec()), Some(vec![7u8]));
        assert_eq!(meta.get("after").unwrap().map(|v| v.value().to_vec()), Some(vec![8u8]));
    }
}
