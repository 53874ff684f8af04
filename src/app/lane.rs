//! The lane actor: one task per checkout lane that owns the lane's state and applies commands
//! one at a time — from the cashier's screen (HTTP) and from the lane's scanner alike, so a
//! hardware scan and a click can never race each other.
//!
//! Every change is written to the store before the caller hears "done" — power-loss durable
//! when it produced anything for the outside world (a sale, a shift, a document), through the
//! lane journal when it only edited the open receipt (see `store::lanes`) — and then the new
//! receipt is broadcast to the screens.
//!
//! On a lane with a fiscal register a sale is paid only when the register's document exists;
//! that path lives in [`fiscal`].

pub mod fiscal;

use super::supervisor::{Importance, Supervisor};
use crate::config::RetailConfig;
use crate::devices::scanner::{Frame, ScanEvent};
use crate::domain::Ctx;
use crate::domain::barcode::{self, BarcodeError, Code, EmbeddedValue, ScanRules};
use crate::domain::catalog::Item;
use crate::domain::client::Client;
use crate::domain::drawer::{CashDirection, CashMovement};
use crate::domain::fiscal::Held;
use crate::domain::lane::{Changes, Lane, LaneError, Paid, ParkedSummary};
use crate::domain::money::{self, QtyError};
use crate::domain::pricing::{DiscountValue, Offers};
use crate::domain::promotion::Promotion;
use crate::domain::receipt::{ClosedReceipt, LineMark, PayTerms, PaymentMethod, Receipt, ReceiptError, Scanned, Tender};
use crate::domain::returns::{ClosedReturn, RefundTo, ReturnRequest};
use crate::domain::shift::Shift;
use crate::domain::text::shown;
use crate::store::{ItemLookup, LaneCommit, Store, StoreError};
use jiff::Timestamp;
use rust_decimal::Decimal;
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Why a lane command failed. The lane is unchanged whenever one is returned.
#[derive(Debug, thiserror::Error)]
pub enum LaneFailure {
    #[error("штрихкод не читается: {0}")]
    InvalidBarcode(#[from] BarcodeError),
    #[error("штрихкода {} нет в каталоге: проверьте товар или найдите его по названию", shown(.0))]
    UnknownItem(String),
    #[error("весовая этикетка {}: в каталоге нет товара с PLU {plu} (сверьте PLU весов с CRM)", shown(.label))]
    UnknownPlu { label: String, plu: String },
    #[error("{} — этикетка ячейки склада, а не товар: её сканируют на терминале кладовщика", shown(.0))]
    NotAnItem(String),
    #[error(transparent)]
    Lane(#[from] LaneError),
    #[error("{0}")]
    Storage(#[from] StoreError),
    #[error("касса останавливается: повторите через минуту")]
    Stopped,
    /// The fiscal register (or its driver) refused or could not be asked; the message says
    /// what to do.
    #[error("{message}")]
    Fiscal { code: &'static str, message: String },
    #[error(
        "чек продажи «{0}» не найден: отсканируйте код с чека или введите его номер — «7» в текущей смене или «смена/чек», например «3/7»"
    )]
    UnknownSale(String),
    #[error("клиент с картой или телефоном «{0}» не найден")]
    UnknownClient(String),
    #[error("товара с кодом «{0}» нет в каталоге")]
    UnknownReturnItem(String),
    #[error("на этикетке {0} уже есть вес или цена: количество перед сканированием для неё не вводят")]
    QtyOnLabel(String),
}

impl LaneFailure {
    /// The stable error code for the API and screens.
    pub fn code(&self) -> &'static str {
        match self {
            LaneFailure::InvalidBarcode(_) => "invalid_barcode",
            LaneFailure::UnknownItem(_) | LaneFailure::UnknownPlu { .. } => "unknown_item",
            LaneFailure::NotAnItem(_) => "not_an_item",
            LaneFailure::Lane(e) => e.code(),
            LaneFailure::UnknownSale(_) => "unknown_sale",
            LaneFailure::UnknownClient(_) => "unknown_client",
            LaneFailure::UnknownReturnItem(_) => "unknown_item",
            LaneFailure::QtyOnLabel(_) => "invalid_qty",
            LaneFailure::Storage(StoreError::Ledger(e)) => e.code(),
            LaneFailure::Storage(StoreError::Return(e)) => e.code(),
            LaneFailure::Storage(StoreError::DiskFull) => "disk_full",
            LaneFailure::Storage(StoreError::Unavailable(_)) => "storage_unavailable",
            LaneFailure::Storage(StoreError::AwaitingSeqBase) => "awaiting_crm_numbering",
            LaneFailure::Storage(_) => "storage_error",
            LaneFailure::Stopped => "unavailable",
            LaneFailure::Fiscal { code, .. } => code,
        }
    }
}

impl From<QtyError> for LaneFailure {
    fn from(e: QtyError) -> Self {
        LaneFailure::Lane(LaneError::Receipt(ReceiptError::InvalidQty(e)))
    }
}

/// What the screens of a lane are told.
#[derive(Debug, Clone)]
pub enum LaneEvent {
    /// The open receipt changed (`None`: no receipt open).
    Receipt(Option<Receipt>),
    /// A scan was refused; the receipt is unchanged.
    Refused { scan: String, code: &'static str, message: String },
    /// A receipt was paid in full.
    Closed(Box<ClosedReceipt>),
    /// The shift was opened or closed.
    Shift(Shift),
}

type Reply<T> = oneshot::Sender<Result<T, LaneFailure>>;

enum Command {
    Scan {
        code: String,
        cashier: String,
        reply: Reply<Option<Receipt>>,
    },
    SetQty {
        no: u32,
        qty: String,
        reply: Reply<Option<Receipt>>,
    },
    Void {
        no: u32,
        reply: Reply<Option<Receipt>>,
    },
    Cancel {
        reply: Reply<Option<Receipt>>,
    },
    Pay {
        tender: Tender,
        cashier: String,
        reply: Reply<Paid>,
    },
    Discount {
        line: Option<u32>,
        value: Option<DiscountValue>,
        max_percent: Decimal,
        cashier: String,
        reply: Reply<Option<Receipt>>,
    },
    AttachClient {
        client: Option<ClientKey>,
        cashier: String,
        reply: Reply<Option<Receipt>>,
    },
    Return {
        what: ReturnOf,
        refund: RefundTo,
        cashier: String,
        reply: Reply<ClosedReturn>,
    },
    Cash {
        direction: CashDirection,
        amount: Decimal,
        reason: String,
        cashier: String,
        reply: Reply<CashMovement>,
    },
    XReport {
        cashier: String,
        reply: Reply<Shift>,
    },
    Park {
        cashier: String,
        reply: Reply<ParkedSummary>,
    },
    Resume {
        id: Uuid,
        cashier: String,
        reply: Reply<Option<Receipt>>,
    },
    LastClosed {
        reply: Reply<Option<ClosedReceipt>>,
    },
    OpenShift {
        cashier: String,
        reply: Reply<Shift>,
    },
    CloseShift {
        cashier: String,
        reply: Reply<Shift>,
    },
    Snapshot {
        reply: Reply<Lane>,
    },
    SignIn {
        cashier: String,
    },
    /// Send an operation held for the fiscal register again, after the cause was removed.
    FiscalRetry {
        reply: Reply<Held>,
    },
}

/// How a client is found for a receipt.
#[derive(Debug, Clone)]
pub enum ClientKey {
    Card(String),
    Phone(String),
}

/// What a return takes back.
#[derive(Debug, Clone)]
pub enum ReturnOf {
    /// Lines of a sale, found by its id (the code printed on its receipt) or its number in
    /// the lane's current shift.
    Sale { receipt: String, lines: Vec<ReturnRequest> },
    /// Goods without their receipt (scanned codes and quantities); `allowed` says the
    /// acting role may.
    NoReceipt { items: Vec<(String, Decimal)>, allowed: bool },
}

/// The till's rules a lane works by: money limits, the loyalty program, the shop's clock.
#[derive(Debug, Clone)]
pub struct TillSettings {
    pub retail: RetailConfig,
    /// The shop's wall clock, for promotions' weekdays and hours.
    pub zone: jiff::tz::TimeZone,
}

impl TillSettings {
    pub fn from_config(config: &crate::config::Config) -> TillSettings {
        TillSettings {
            retail: config.retail.clone(),
            zone: config
                .shop
                .timezone
                .as_deref()
                .and_then(|name| jiff::tz::TimeZone::get(name).ok())
                .unwrap_or_else(jiff::tz::TimeZone::system),
        }
    }
}

impl Default for TillSettings {
    fn default() -> Self {
        TillSettings {
            retail: RetailConfig::default(),
            zone: jiff::tz::TimeZone::system(),
        }
    }
}

/// What a lane has done since start, for `/metrics`.
#[derive(Debug, Default)]
pub struct LaneCounters {
    /// Scans taken (scanner or API), refused ones included.
    pub scans: std::sync::atomic::AtomicU64,
    /// Receipts paid in full.
    pub sales: std::sync::atomic::AtomicU64,
}

/// How the rest of storeterm talks to a lane.
#[derive(Clone)]
pub struct LaneHandle {
    pub id: String,
    commands: mpsc::Sender<Command>,
    scans: mpsc::Sender<ScanEvent>,
    events: broadcast::Sender<LaneEvent>,
    counters: Arc<LaneCounters>,
}

impl LaneHandle {
    async fn request<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, LaneFailure> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(make(reply)).await.map_err(|_| LaneFailure::Stopped)?;
        answer.await.map_err(|_| LaneFailure::Stopped)?
    }

    /// A scan typed or sent through the API, on behalf of `cashier`.
    pub async fn scan(&self, code: String, cashier: String) -> Result<Option<Receipt>, LaneFailure> {
        self.request(|reply| Command::Scan { code, cashier, reply }).await
    }

    pub async fn set_qty(&self, no: u32, qty: String) -> Result<Option<Receipt>, LaneFailure> {
        self.request(|reply| Command::SetQty { no, qty, reply }).await
    }

    pub async fn void_line(&self, no: u32) -> Result<Option<Receipt>, LaneFailure> {
        self.request(|reply| Command::Void { no, reply }).await
    }

    pub async fn cancel_receipt(&self) -> Result<Option<Receipt>, LaneFailure> {
        self.request(|reply| Command::Cancel { reply }).await
    }

    pub async fn pay(&self, method: PaymentMethod, amount: Decimal, cashier: String) -> Result<Paid, LaneFailure> {
        self.pay_tender(Tender::new(method, amount), cashier).await
    }

    /// Take a payment with its RRN and confirmation, under the lane's loyalty and cash rules.
    pub async fn pay_tender(&self, tender: Tender, cashier: String) -> Result<Paid, LaneFailure> {
        self.request(|reply| Command::Pay { tender, cashier, reply }).await
    }

    /// Set (`Some`) or remove (`None`) a manual discount on line `line` or on the receipt.
    pub async fn discount(
        &self,
        line: Option<u32>,
        value: Option<DiscountValue>,
        max_percent: Decimal,
        cashier: String,
    ) -> Result<Option<Receipt>, LaneFailure> {
        self.request(|reply| Command::Discount {
            line,
            value,
            max_percent,
            cashier,
            reply,
        })
        .await
    }

    /// Sell the receipt to the client with this card or phone (`None`: to nobody again).
    pub async fn attach_client(&self, client: Option<ClientKey>, cashier: String) -> Result<Option<Receipt>, LaneFailure> {
        self.request(|reply| Command::AttachClient { client, cashier, reply }).await
    }

    pub async fn return_goods(&self, what: ReturnOf, refund: RefundTo, cashier: String) -> Result<ClosedReturn, LaneFailure> {
        self.request(|reply| Command::Return {
            what,
            refund,
            cashier,
            reply,
        })
        .await
    }

    pub async fn cash(
        &self,
        direction: CashDirection,
        amount: Decimal,
        reason: String,
        cashier: String,
    ) -> Result<CashMovement, LaneFailure> {
        self.request(|reply| Command::Cash {
            direction,
            amount,
            reason,
            cashier,
            reply,
        })
        .await
    }

    pub async fn x_report(&self, cashier: String) -> Result<Shift, LaneFailure> {
        self.request(|reply| Command::XReport { cashier, reply }).await
    }

    pub async fn park(&self, cashier: String) -> Result<ParkedSummary, LaneFailure> {
        self.request(|reply| Command::Park { cashier, reply }).await
    }

    pub async fn resume(&self, id: Uuid, cashier: String) -> Result<Option<Receipt>, LaneFailure> {
        self.request(|reply| Command::Resume { id, cashier, reply }).await
    }

    /// The last receipt closed in the open shift while no new receipt was started: what the
    /// screen shows after a reconnect so the change due is not lost with the answer.
    pub async fn last_closed(&self) -> Result<Option<ClosedReceipt>, LaneFailure> {
        self.request(|reply| Command::LastClosed { reply }).await
    }

    pub async fn open_shift(&self, cashier: String) -> Result<Shift, LaneFailure> {
        self.request(|reply| Command::OpenShift { cashier, reply }).await
    }

    pub async fn close_shift(&self, cashier: String) -> Result<Shift, LaneFailure> {
        self.request(|reply| Command::CloseShift { cashier, reply }).await
    }

    /// The lane's current state.
    pub async fn snapshot(&self) -> Result<Lane, LaneFailure> {
        self.request(|reply| Command::Snapshot { reply }).await
    }

    /// A cashier opened this lane's screen: scans from the lane's scanner are rung up in their
    /// name from now on.
    pub async fn sign_in(&self, cashier: String) {
        let _ = self.commands.send(Command::SignIn { cashier }).await;
    }

    /// Try again to fiscalise the sale the lane holds for its register (after the cashier
    /// loaded paper, closed the cover…). Recovers first; never registers a sale twice.
    pub async fn fiscal_retry(&self) -> Result<Held, LaneFailure> {
        self.request(|reply| Command::FiscalRetry { reply }).await
    }

    /// Where the lane's bound scanner sends its scans.
    pub fn scan_sink(&self) -> mpsc::Sender<ScanEvent> {
        self.scans.clone()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LaneEvent> {
        self.events.subscribe()
    }

    pub fn counters(&self) -> &LaneCounters {
        &self.counters
    }
}

/// The actor's own state.
struct LaneActor {
    lane: Lane,
    store: Store,
    printer: Option<String>,
    /// The shop's barcode conventions (scale labels, cells, loyalty cards).
    rules: ScanRules,
    /// Who is working the lane, for scans from the hardware scanner.
    cashier: Option<String>,
    events: broadcast::Sender<LaneEvent>,
    /// Shared with the handle, and kept across restarts of the actor.
    counters: Arc<LaneCounters>,
    /// The lane's fiscal register; `None`: non-fiscal receipts.
    register: Option<fiscal::Register>,
    /// When to ask again about a held sale whose outcome is not known.
    fiscal_wake: Option<tokio::time::Instant>,
    settings: TillSettings,
    /// The last receipt closed, until the next one is started.
    last_closed: Option<ClosedReceipt>,
}

/// How one lane is set up: its printer, its fiscal register, the scan rules and the till's
/// money rules. Kept by the supervisor to load the lane again after a crash.
#[derive(Clone)]
pub struct LaneSetup {
    pub printer: Option<String>,
    /// `None`: non-fiscal receipts.
    pub register: Option<fiscal::Register>,
    pub rules: ScanRules,
    pub settings: TillSettings,
}

/// Load a lane's state from the store and start its actor under `supervisor`. A sale held for
/// the register, if any, is recovered before the lane takes its first command (after a
/// restart of the actor too).
pub fn spawn(id: &str, setup: LaneSetup, store: Store, supervisor: &mut Supervisor) -> Result<LaneHandle, StoreError> {
    // Loaded once here so a store that cannot read the lane stops the start, with its error.
    let mut first = Some(LaneActor::load(id, &store, setup.clone())?);
    let (commands, command_rx) = mpsc::channel(64);
    let (scans, scan_rx) = mpsc::channel(64);
    let (events, _) = broadcast::channel(64);
    // The inbox outlives a crashed actor: callers keep their handle, and what they sent while
    // the lane restarted is served by the new actor, which reloads the lane (and its open
    // receipt) from the store.
    let inbox = Arc::new(tokio::sync::Mutex::new((command_rx, scan_rx)));
    let shutdown = supervisor.shutdown_token();
    let counters = Arc::new(LaneCounters::default());
    let (lane_id, ev, count) = (id.to_string(), events.clone(), counters.clone());
    supervisor.spawn(format!("lane {id}"), Importance::Critical, move || {
        let loaded = match first.take() {
            Some(actor) => Ok(actor),
            None => LaneActor::load(&lane_id, &store, setup.clone()),
        };
        let (inbox, shutdown, events, counters) = (inbox.clone(), shutdown.clone(), ev.clone(), count.clone());
        async move {
            let mut actor = match loaded {
                Ok(actor) => actor,
                // Ending makes the supervisor try again after its back-off.
                Err(e) => return tracing::error!(error = %e, "cannot load the lane from the store"),
            };
            actor.events = events;
            actor.counters = counters;
            let mut inbox = inbox.lock().await;
            let (commands, scans) = &mut *inbox;
            actor.run(commands, scans, shutdown).await
        }
    });
    Ok(LaneHandle {
        id: id.to_string(),
        commands,
        scans,
        events,
        counters,
    })
}

fn new_id() -> Uuid {
    Uuid::now_v7()
}

impl LaneActor {
    /// The lane as the store has it. A new or restored store may have to number shifts past
    /// what the CRM holds; the change is committed with the lane's next commit, and made again
    /// on every load until then.
    fn load(id: &str, store: &Store, setup: LaneSetup) -> Result<LaneActor, StoreError> {
        let mut lane = store.lane(id)?.unwrap_or_else(|| Lane::new(id));
        lane.continue_after(store.shift_floor());
        // A payment whose answer was lost (a restart) still shows with its change due.
        let last_closed = match (&lane.shift, &lane.receipt) {
            (Some(shift), None) => store.shift_receipts(shift)?.pop(),
            _ => None,
        };
        Ok(LaneActor {
            cashier: lane.shift.as_ref().map(|s| s.cashier.clone()),
            lane,
            store: store.clone(),
            printer: setup.printer,
            rules: setup.rules,
            events: broadcast::channel(1).0,
            register: setup.register,
            fiscal_wake: None,
            settings: setup.settings,
            last_closed,
            counters: Default::default(),
        })
    }

    #[tracing::instrument(name = "lane", skip_all, fields(lane = %self.lane.id))]
    async fn run(mut self, commands: &mut mpsc::Receiver<Command>, scans: &mut mpsc::Receiver<ScanEvent>, shutdown: CancellationToken) {
        // A sale held for the register when storeterm (or this actor) stopped is recovered
        // before anything new.
        self.fiscal_start().await;
        loop {
            let fiscal_wake = self.fiscal_wake;
            tokio::select! {
                _ = shutdown.cancelled() => return,
                Some(command) = commands.recv() => self.handle(command).await,
                Some(scan) = scans.recv() => self.device_scan(scan).await,
                () = fiscal::wake_at(fiscal_wake) => self.fiscal_recheck().await,
                else => return,
            }
        }
    }

    async fn handle(&mut self, command: Command) {
        // The CRM may have told the store its numbers since the last command (see
        // `store::numbering`); the adjusted lane goes out with this command's commit.
        self.lane.continue_after(self.store.shift_floor());
        // A caller that gave up (closed connection) just doesn't get the answer; the change,
        // if any, is committed all the same.
        match command {
            Command::Scan { code, cashier, reply } => {
                self.cashier = Some(cashier.clone());
                let result = self.scan(&code, &cashier).await;
                if let Err(e) = &result {
                    self.refused(&code, e);
                }
                let _ = reply.send(result.map(|()| self.lane.receipt.clone()));
            }
            Command::SetQty { no, qty, reply } => {
                let result = self.edit(|lane| {
                    let weighted = lane.receipt.as_ref().and_then(|r| r.line(no)).is_some_and(|l| l.weighted);
                    let qty = money::parse_qty(&qty, weighted)?;
                    Ok(lane.set_qty(no, qty)?)
                });
                let _ = reply.send(self.commit_edit(result).await);
            }
            Command::Void { no, reply } => {
                let result = self.edit(|lane| Ok(lane.void_line(no)?));
                let _ = reply.send(self.commit_edit(result).await);
            }
            Command::Cancel { reply } => {
                // Points and credit the receipt held go back to the client's ledger in the
                // same commit.
                let mut next = self.lane.clone();
                let result = match next.cancel() {
                    Ok(changes) => self.commit_as(next, changes, false).await.map(|()| self.lane.receipt.clone()),
                    Err(e) => Err(e.into()),
                };
                if result.is_ok() {
                    let _ = self.events.send(LaneEvent::Receipt(None));
                }
                let _ = reply.send(result);
            }
            Command::Pay { tender, cashier, reply } => {
                self.cashier = Some(cashier.clone());
                let _ = reply.send(self.pay(tender, &cashier).await);
            }
            Command::Discount {
                line,
                value,
                max_percent,
                cashier,
                reply,
            } => {
                let result = self.discount(line, value, max_percent, &cashier);
                let _ = reply.send(self.commit_edit(result).await);
            }
            Command::AttachClient { client, cashier, reply } => {
                let result = self.attach_client(client, &cashier).await;
                let _ = reply.send(result);
            }
            Command::Return {
                what,
                refund,
                cashier,
                reply,
            } => {
                let _ = reply.send(self.return_goods(what, &refund, &cashier).await);
            }
            Command::Cash {
                direction,
                amount,
                reason,
                cashier,
                reply,
            } => {
                let mut next = self.lane.clone();
                let mut ids = new_id;
                let mut ctx = Ctx::new(Timestamp::now(), &cashier, &mut ids);
                let moved = match direction {
                    CashDirection::In => next.cash_in(&mut ctx, amount, &reason),
                    CashDirection::Out => next.cash_out(&mut ctx, amount, &reason),
                };
                let result = match (moved, self.register.clone()) {
                    // On a lane with a register the register carries it out first, exactly once.
                    (Ok((_, changes)), Some(register)) => match self.hold_and_register(register, next, changes).await {
                        Ok(Held::Cash(movement)) => Ok(movement),
                        Ok(_) => Err(LaneFailure::Lane(LaneError::NoReceipt)),
                        Err(e) => Err(e),
                    },
                    (Ok((movement, changes)), None) => self.commit_as(next, changes, true).await.map(|()| movement),
                    (Err(e), _) => Err(e.into()),
                };
                self.shift_changed(&result);
                let _ = reply.send(result);
            }
            Command::XReport { cashier, reply } => {
                let next = self.lane.clone();
                let mut ids = new_id;
                let result = match next.x_report(&mut Ctx::new(Timestamp::now(), &cashier, &mut ids)) {
                    // The register prints its own X report first (not a fiscal document, so
                    // no exactly-once is needed); storeterm's report then prints as before.
                    Ok((shift, changes)) => match self.register.clone() {
                        Some(register) => match register.report_x(&cashier).await {
                            Ok(()) => self.commit(next, changes).await.map(|()| shift),
                            Err(e) => Err(e),
                        },
                        None => self.commit(next, changes).await.map(|()| shift),
                    },
                    Err(e) => Err(e.into()),
                };
                let _ = reply.send(result);
            }
            Command::Park { cashier, reply } => {
                let mut next = self.lane.clone();
                let mut ids = new_id;
                let result = match next.park(&Ctx::new(Timestamp::now(), &cashier, &mut ids)) {
                    // Durable: a parked basket must not come back as the open receipt.
                    Ok(summary) => self.commit_as(next, Changes::default(), true).await.map(|()| summary),
                    Err(e) => Err(e.into()),
                };
                if result.is_ok() {
                    let _ = self.events.send(LaneEvent::Receipt(None));
                }
                let _ = reply.send(result);
            }
            Command::Resume { id, cashier, reply } => {
                let result = self.resume(id, &cashier);
                let result = match result {
                    Ok(next) => self
                        .commit_as(next, Changes::default(), true)
                        .await
                        .map(|()| self.lane.receipt.clone()),
                    Err(e) => Err(e),
                };
                if result.is_ok() {
                    self.last_closed = None;
                    let _ = self.events.send(LaneEvent::Receipt(self.lane.receipt.clone()));
                }
                let _ = reply.send(result);
            }
            Command::LastClosed { reply } => {
                let shown = if self.lane.receipt.is_none() {
                    self.last_closed.clone()
                } else {
                    None
                };
                let _ = reply.send(Ok(shown));
            }
            Command::OpenShift { cashier, reply } => {
                self.cashier = Some(cashier.clone());
                if let Some(register) = self.register.clone().filter(|_| self.lane.shift.is_none()) {
                    if let Err(e) = register.open_shift(&cashier).await {
                        let _ = reply.send(Err(e));
                        return;
                    }
                }
                let mut next = self.lane.clone();
                let mut ids = new_id;
                let (shift, changes) = next.open_shift(&mut Ctx::new(Timestamp::now(), &cashier, &mut ids));
                let result = self.commit(next, changes).await.map(|()| shift);
                if let Ok(shift) = &result {
                    let _ = self.events.send(LaneEvent::Shift(shift.clone()));
                }
                let _ = reply.send(result);
            }
            Command::CloseShift { cashier, reply } => {
                let mut next = self.lane.clone();
                let mut ids = new_id;
                let closed = next.close_shift(&mut Ctx::new(Timestamp::now(), &cashier, &mut ids));
                let result = match closed {
                    // The register's Z report first: storeterm's shift closes only with it.
                    Ok((shift, changes)) => match &self.register {
                        Some(register) => match register.close_shift(&cashier).await {
                            Ok(_) => self.commit(next, changes).await.map(|()| shift),
                            Err(e) => Err(e),
                        },
                        None => self.commit(next, changes).await.map(|()| shift),
                    },
                    Err(e) => Err(e.into()),
                };
                if let Ok(shift) = &result {
                    let _ = self.events.send(LaneEvent::Shift(shift.clone()));
                    let _ = self.events.send(LaneEvent::Receipt(None));
                }
                let _ = reply.send(result);
            }
            Command::Snapshot { reply } => {
                let _ = reply.send(Ok(self.lane.clone()));
            }
            Command::SignIn { cashier } => self.cashier = Some(cashier),
            Command::FiscalRetry { reply } => {
                let _ = reply.send(self.fiscal_retry().await);
            }
        }
    }

    /// A scan from the lane's own scanner: same path as an API scan; refusals go to the screen.
    async fn device_scan(&mut self, event: ScanEvent) {
        let cashier = self.current_cashier();
        match event.frame {
            Frame::Code(code) => {
                if let Err(e) = self.scan(&code, &cashier).await {
                    self.refused(&code, &e);
                }
            }
            Frame::Garbage(e) => {
                let _ = self.events.send(LaneEvent::Refused {
                    scan: String::new(),
                    code: "invalid_barcode",
                    message: format!("scanner {}: {e}", event.device),
                });
            }
        }
    }

    fn current_cashier(&self) -> String {
        self.cashier
            .clone()
            .or_else(|| self.lane.shift.as_ref().map(|s| s.cashier.clone()))
            .unwrap_or_else(|| format!("Касса {}", self.lane.id))
    }

    fn refused(&self, scan: &str, e: &LaneFailure) {
        tracing::info!(lane = %self.lane.id, scan = %scan.escape_debug(), reason = %e, "scan refused");
        let _ = self.events.send(LaneEvent::Refused {
            scan: scan.to_string(),
            code: e.code(),
            message: e.to_string(),
        });
    }

    async fn scan(&mut self, text: &str, cashier: &str) -> Result<(), LaneFailure> {
        self.counters.scans.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // `3*4601234567893`: the quantity typed before the scan, as 1C's till takes it.
        let prefix = money::split_qty_prefix(text)?;
        let code = barcode::parse_with(prefix.code, &self.rules)?;
        let mut next = self.lane.clone();
        let mut ids = new_id;
        let (promotions, now, local) = self.offers()?;
        let mut ctx = Ctx::new(now, cashier, &mut ids).with_offers(Offers {
            promotions: &promotions,
            local,
        });
        let changes = match code {
            Code::Cell(label) => return Err(LaneFailure::NotAnItem(label)),
            Code::Loyalty(card) => match self.store.client_by_card(&card)? {
                // A card the CRM knows sells the receipt to its client, balance and all.
                Some(client) => {
                    let account = self.store.client_account(&client.id)?.unwrap_or_default();
                    let mut changes = next.attach_client(&mut ctx, &client, &account)?;
                    let more = next.attach_card(&mut ctx, &card)?;
                    changes.documents.extend(more.documents);
                    changes.shift_record = changes.shift_record.or(more.shift_record);
                    changes
                }
                None => next.attach_card(&mut ctx, &card)?,
            },
            code => {
                let (item, mut scanned) = self.find(&code, prefix.code)?;
                if let Some(qty) = prefix.qty {
                    if scanned.qty != Decimal::ONE || scanned.price.is_some() {
                        // A weight or price from the label is the quantity already.
                        return Err(LaneFailure::QtyOnLabel(prefix.code.to_string()));
                    }
                    scanned.qty = money::check_qty(qty, item.weighted)?;
                }
                scanned.group = self.store.item_group(&item.id)?;
                next.sell_scanned(&mut ctx, &item, scanned)?.1
            }
        };
        self.last_closed = None;
        if let Some(shift) = &changes.shift_record {
            let _ = self.events.send(LaneEvent::Shift(shift.clone()));
        }
        self.commit(next, changes).await?;
        let _ = self.events.send(LaneEvent::Receipt(self.lane.receipt.clone()));
        Ok(())
    }

    /// The item a code stands for and what the scan adds: quantity from a scale label or a
    /// GS1 net weight, price from a price label, the marking code of a marked pack.
    fn find(&self, code: &Code, text: &str) -> Result<(Item, Scanned), LaneFailure> {
        let shown = code.display();
        // The catalog may know any code verbatim, scale-label range included ("not claimed by
        // the catalog" is what makes a 2x code a scale label).
        if let Some(item) = self.store.item_by_code(&code.catalog_key())? {
            let mut scanned = Scanned::plain(&shown, Decimal::ONE);
            match code {
                Code::Mark(mark) => {
                    scanned.mark = item.marked.then(|| LineMark {
                        gtin: mark.gtin.key(),
                        serial: mark.serial.clone(),
                        code: mark.code.clone(),
                    });
                }
                Code::Gs1(es) if item.weighted => {
                    if let Some(kg) = es.net_weight_kg() {
                        scanned.qty = kg;
                    }
                }
                _ => {}
            }
            return Ok((item, scanned));
        }
        let Code::Embedded(label) = code else {
            return Err(LaneFailure::UnknownItem(text.trim().to_string()));
        };
        // Scales print the PLU zero-padded; the CRM may send it with or without the zeros.
        let bare = label.plu.trim_start_matches('0');
        let item = match self.store.item_by_plu(&label.plu)? {
            Some(item) => Some(item),
            None if !bare.is_empty() && bare != label.plu => self.store.item_by_plu(bare)?,
            None => None,
        };
        let item = item.ok_or_else(|| LaneFailure::UnknownPlu {
            label: shown.clone(),
            plu: label.plu.clone(),
        })?;
        let scanned = match label.value {
            EmbeddedValue::Weight => Scanned::plain(&shown, label.amount),
            EmbeddedValue::Price => Scanned {
                price: Some(label.amount),
                ..Scanned::plain(&shown, Decimal::ONE)
            },
        };
        Ok((item, scanned))
    }

    /// The promotions in force and the time they are judged at, in UTC and on the shop's clock.
    fn offers(&self) -> Result<(Vec<Promotion>, Timestamp, jiff::civil::DateTime), LaneFailure> {
        let now = Timestamp::now();
        let local = now.to_zoned(self.settings.zone.clone()).datetime();
        Ok((self.store.promotions()?, now, local))
    }

    async fn pay(&mut self, tender: Tender, cashier: &str) -> Result<Paid, LaneFailure> {
        let mut next = self.lane.clone();
        let mut ids = new_id;
        // The client's ledger as the store has it now: points another lane spent count.
        let ledger = match next.receipt.as_ref().and_then(|r| r.client.as_ref()) {
            Some(client) => self.store.client_ledger(&client.id)?,
            None => None,
        };
        let terms = PayTerms {
            loyalty: self.settings.retail.loyalty,
            ledger: ledger.as_ref(),
            confirm_cash_above: Some(self.settings.retail.confirm_cash_above),
        };
        let (paid, changes) = next.pay_tender(&mut Ctx::new(Timestamp::now(), cashier, &mut ids), &tender, &terms)?;
        if let (Some(register), Paid::Closed { .. }) = (self.register.clone(), &paid) {
            return self.pay_fiscal(register, next, changes).await;
        }
        self.commit_as(next, changes, true).await?;
        if let Paid::Closed { receipt } = &paid {
            self.last_closed = Some((**receipt).clone());
            self.counters.sales.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let _ = self.events.send(LaneEvent::Closed(receipt.clone()));
            if let Some(shift) = &self.lane.shift {
                let _ = self.events.send(LaneEvent::Shift(shift.clone()));
            }
        }
        let _ = self.events.send(LaneEvent::Receipt(self.lane.receipt.clone()));
        Ok(paid)
    }

    fn discount(&self, line: Option<u32>, value: Option<DiscountValue>, max_percent: Decimal, cashier: &str) -> Result<Lane, LaneFailure> {
        let (promotions, now, local) = self.offers()?;
        let mut ids = new_id;
        let ctx = Ctx::new(now, cashier, &mut ids).with_offers(Offers {
            promotions: &promotions,
            local,
        });
        let mut next = self.lane.clone();
        match line {
            Some(no) => next.discount_line(&ctx, no, value, max_percent)?,
            None => next.discount_receipt(&ctx, value, max_percent)?,
        }
        Ok(next)
    }

    fn find_client(&self, key: &ClientKey) -> Result<Client, LaneFailure> {
        match key {
            ClientKey::Card(card) => self
                .store
                .client_by_card(card)?
                .ok_or_else(|| LaneFailure::UnknownClient(card.clone())),
            ClientKey::Phone(text) => {
                let country = self.store.phone_country();
                let e164 = crate::domain::phone::normalize(text, country)
                    .map(|n| n.e164)
                    .map_err(|_| LaneFailure::UnknownClient(text.clone()))?;
                self.store
                    .clients_by_phone(&e164, None)?
                    .into_iter()
                    .next()
                    .map(|m| m.client)
                    .ok_or_else(|| LaneFailure::UnknownClient(text.clone()))
            }
        }
    }

    async fn attach_client(&mut self, key: Option<ClientKey>, cashier: &str) -> Result<Option<Receipt>, LaneFailure> {
        let mut next = self.lane.clone();
        let changes = match key {
            None => {
                let (promotions, now, local) = self.offers()?;
                let mut ids = new_id;
                let mut ctx = Ctx::new(now, cashier, &mut ids).with_offers(Offers {
                    promotions: &promotions,
                    local,
                });
                next.detach_client(&mut ctx)?;
                Changes::default()
            }
            Some(key) => {
                let client = self.find_client(&key)?;
                let account = self.store.client_account(&client.id)?.unwrap_or_default();
                let (promotions, now, local) = self.offers()?;
                let mut ids = new_id;
                let mut ctx = Ctx::new(now, cashier, &mut ids).with_offers(Offers {
                    promotions: &promotions,
                    local,
                });
                let mut changes = next.attach_client(&mut ctx, &client, &account)?;
                if let ClientKey::Card(card) = &key {
                    let more = next.attach_card(&mut ctx, card)?;
                    changes.documents.extend(more.documents);
                }
                changes
            }
        };
        if let Some(shift) = &changes.shift_record {
            let _ = self.events.send(LaneEvent::Shift(shift.clone()));
        }
        self.last_closed = None;
        self.commit(next, changes).await?;
        let _ = self.events.send(LaneEvent::Receipt(self.lane.receipt.clone()));
        Ok(self.lane.receipt.clone())
    }

    fn resume(&self, id: Uuid, cashier: &str) -> Result<Lane, LaneFailure> {
        let (promotions, now, local) = self.offers()?;
        let mut ids = new_id;
        let ctx = Ctx::new(now, cashier, &mut ids).with_offers(Offers {
            promotions: &promotions,
            local,
        });
        let mut next = self.lane.clone();
        next.resume(&ctx, id)?;
        Ok(next)
    }

    /// The sale a cashier names: its id (the code on its receipt) or its number in this
    /// lane's open shift.
    fn find_sale(&self, text: &str) -> Result<ClosedReceipt, LaneFailure> {
        let t = text.trim();
        let unknown = || LaneFailure::UnknownSale(t.to_string());
        if let Ok(id) = Uuid::parse_str(t) {
            return self.store.receipt(id)?.ok_or_else(unknown);
        }
        // "7" is receipt 7 of the open shift; "3/7" receipt 7 of shift 3 (both are printed on
        // the receipt: «Смена № 3», «ТОВАРНЫЙ ЧЕК № 7»).
        let number = |s: &str| s.trim().trim_start_matches('№').trim().parse::<u32>().map_err(|_| unknown());
        let (shift, receipt) = match t.split_once(['/', '-']) {
            Some((shift, receipt)) => {
                let shift = self.store.lane_shift(&self.lane.id, number(shift)?)?.ok_or_else(unknown)?;
                (shift, number(receipt)?)
            }
            None => (self.lane.shift.clone().ok_or_else(unknown)?, number(t)?),
        };
        self.store
            .shift_receipts(&shift)?
            .into_iter()
            .find(|r| r.receipt.number == receipt && r.receipt.lane == self.lane.id)
            .ok_or_else(unknown)
    }

    async fn return_goods(&mut self, what: ReturnOf, refund: &RefundTo, cashier: &str) -> Result<ClosedReturn, LaneFailure> {
        let mut next = self.lane.clone();
        let mut ids = new_id;
        let mut ctx = Ctx::new(Timestamp::now(), cashier, &mut ids);
        let (ret, changes) = match what {
            ReturnOf::Sale { receipt, lines } => {
                let sale = self.find_sale(&receipt)?;
                let earlier = self.store.returns_of_sale(sale.receipt.id)?;
                next.return_sale(&mut ctx, &sale, &earlier, &lines, refund)?
            }
            ReturnOf::NoReceipt { items, allowed } => {
                if !allowed {
                    return Err(LaneError::Return(crate::domain::returns::ReturnError::NotAllowed).into());
                }
                let mut found = Vec::new();
                for (code, qty) in items {
                    let parsed = barcode::parse_with(&code, &self.rules)?;
                    let item = self
                        .store
                        .item_by_code(&parsed.catalog_key())?
                        .ok_or_else(|| LaneFailure::UnknownReturnItem(code.clone()))?;
                    found.push((item, qty));
                }
                next.return_without_receipt(&mut ctx, &found, refund, allowed)?
            }
        };
        if let Some(shift) = &changes.shift_record {
            let _ = self.events.send(LaneEvent::Shift(shift.clone()));
        }
        if let Some(register) = self.register.clone() {
            // The register's return receipt first, exactly once; the return is made with it.
            return match self.hold_and_register(register, next, changes).await? {
                Held::Return(ret) => Ok(*ret),
                _ => Err(LaneFailure::Lane(LaneError::NoReceipt)),
            };
        }
        self.commit_as(next, changes, true).await?;
        if let Some(shift) = &self.lane.shift {
            let _ = self.events.send(LaneEvent::Shift(shift.clone()));
        }
        Ok(ret)
    }

    fn shift_changed<T>(&self, result: &Result<T, LaneFailure>) {
        if let (Ok(_), Some(shift)) = (result, &self.lane.shift) {
            let _ = self.events.send(LaneEvent::Shift(shift.clone()));
        }
    }

    /// Apply an edit that produces no documents to a copy of the lane.
    fn edit(&self, apply: impl FnOnce(&mut Lane) -> Result<(), LaneFailure>) -> Result<Lane, LaneFailure> {
        let mut next = self.lane.clone();
        apply(&mut next)?;
        Ok(next)
    }

    async fn commit_edit(&mut self, edited: Result<Lane, LaneFailure>) -> Result<Option<Receipt>, LaneFailure> {
        self.commit(edited?, Changes::default()).await?;
        let _ = self.events.send(LaneEvent::Receipt(self.lane.receipt.clone()));
        Ok(self.lane.receipt.clone())
    }

    /// Make `next` the lane's state: durably first, in memory second.
    async fn commit(&mut self, next: Lane, changes: Changes) -> Result<(), LaneFailure> {
        self.commit_as(next, changes, false).await
    }

    /// [`Self::commit`] for a change that took money: power-loss durable even when the receipt
    /// stays open.
    async fn commit_as(&mut self, next: Lane, changes: Changes, money: bool) -> Result<(), LaneFailure> {
        self.store
            .commit_lane(LaneCommit {
                lane: &next,
                changes: &changes,
                printer: self.printer.as_deref(),
                money,
            })
            .await?;
        self.lane = next;
        Ok(())
    }
}
