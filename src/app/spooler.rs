//! The print spooler: one task per printer that takes its queued jobs from the store, oldest
//! first, renders them, hands the bytes to the printer's link and records each job's fate
//! durably. It lives in `app` because it persists; the printer side (encoder, status codec,
//! transports, the virtual printer) stays in `devices`, which never touches the store.

use crate::config::{DeviceConfig, ShopConfig, Transport};
use crate::devices::printer::layout::{self, Letterhead, SaleOptions};
use crate::devices::printer::link::{PrintedPaper, STATUS_TIMEOUT, VirtualPaper, query_status};
use crate::devices::printer::pages;
use crate::devices::printer::preview;
use crate::devices::printer::profile::PrinterProfile;
use crate::devices::printer::status::{self, PrinterStatus, StatusDecoder};
use crate::devices::transport::{self, DeviceError, DeviceErrorKind};
use crate::devices::{DeviceRegistry, DeviceState};
use crate::domain::lane::{PrintContent, PrintDocument};
use crate::domain::print_job::{JobState, PrintJob};
use crate::store::{Store, StoreError};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// A receipt is a few kilobytes; a printer that takes longer than this to accept it is stuck.
const WRITE_TIMEOUT: Duration = Duration::from_secs(15);
/// How soon to try an unreachable printer again.
const RETRY: Duration = Duration::from_secs(2);
/// After a job the printer is busy printing it; it still answers real-time requests, but the
/// answer may queue behind the bytes in a serial line or a network buffer.
const AFTER_JOB_TIMEOUT: Duration = Duration::from_secs(5);
/// How often an idle printer's status is refreshed for the screens.
const STATUS_POLL: Duration = Duration::from_secs(10);

/// The spooler of one printer.
#[derive(Clone)]
pub struct Spooler {
    pub device: DeviceConfig,
    pub profile: PrinterProfile,
    pub store: Store,
    pub shop: Arc<ShopConfig>,
    pub tz: TimeZone,
    pub registry: DeviceRegistry,
    pub paper: VirtualPaper,
}

/// Whether the printer took the job or must be tried again later.
enum Attempt {
    Finished,
    NotReached,
}

/// Why a job waits, as its error says it: the printer's words and the promise.
fn waiting_reason(words: &str) -> String {
    format!("принтер: {words}; чек напечатается, когда принтер будет готов")
}

/// How long `bytes` bytes take on a serial line at `baud` (8N1: ten bits a byte).
fn wire_time(bytes: usize, baud: u32) -> Duration {
    Duration::from_secs_f64(bytes as f64 * 10.0 / f64::from(baud.max(1)))
}

impl Spooler {
    #[tracing::instrument(name = "device", skip_all, fields(device = %self.device.id, kind = "printer"))]
    pub async fn run(self, shutdown: CancellationToken) {
        let id = self.device.id.clone();
        if self.device.transport == Transport::Virtual {
            self.registry
                .set(&id, DeviceState::Connected, Some("virtual: printouts appear on /admin".into()));
        }
        if let Err(e) = self.recover().await {
            tracing::error!(printer = %id, error = %e, "cannot recover print jobs");
        }
        let mut wake = self.store.watch_print_queue();
        let mut polled: Option<tokio::time::Instant> = None;
        // What the last idle status poll found blocking the printer (paper out, cover open),
        // so a receipt queued meanwhile says why it waits from the start.
        let mut blocked: Option<String> = None;
        loop {
            wake.borrow_and_update();
            let retry = match self.print_queued(blocked.as_deref()).await {
                Ok(retry) => retry,
                Err(e) => {
                    tracing::error!(printer = %id, error = %e, "print queue failure");
                    true
                }
            };
            // A virtual printer's status costs nothing: refresh it on every wake-up.
            let virtual_printer = self.device.transport == Transport::Virtual;
            if !retry && (virtual_printer || polled.is_none_or(|at| at.elapsed() >= STATUS_POLL)) {
                blocked = self.poll_status().await;
                polled = Some(tokio::time::Instant::now());
            }
            let idle = if retry { RETRY } else { STATUS_POLL };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = wake.changed() => {}
                _ = tokio::time::sleep(idle) => {}
            }
        }
    }

    /// Jobs left `sending` by a crash may be on paper already: mark them `unknown`.
    async fn recover(&self) -> Result<(), StoreError> {
        for mut job in self.store.open_print_jobs(&self.device.id)? {
            if job.recover() {
                tracing::warn!(printer = %self.device.id, job = %job.id, "job was being sent when storeterm stopped; marked unknown, not resent");
                self.store.save_print_job(&job).await?;
            }
        }
        Ok(())
    }

    /// Print every queued job in order; true when the printer was unreachable. `blocked`: what
    /// the last status poll found stopping the printer; a job that has no reason yet gets it
    /// before the attempt, so the cashier's panel never shows "нет бумаги" beside a receipt
    /// that does not say why it waits.
    async fn print_queued(&self, blocked: Option<&str>) -> Result<bool, StoreError> {
        for mut job in self.store.open_print_jobs(&self.device.id)? {
            if job.state != JobState::Queued {
                continue;
            }
            if let Some(words) = blocked
                && job.error.is_none()
            {
                self.keep_queued(&mut job, waiting_reason(words)).await?;
            }
            if let Attempt::NotReached = self.print(job).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The job's bytes for this printer, or why it cannot be rendered.
    fn render(&self, job: &PrintJob) -> Result<Result<Vec<u8>, String>, StoreError> {
        let head = Letterhead {
            shop: &self.shop,
            tz: &self.tz,
        };
        let kick_drawer = job.drawer_due(Timestamp::now());
        if job.kick_drawer && !kick_drawer {
            tracing::info!(printer = %self.device.id, job = %job.id, "the job waited too long; printing it without opening the drawer");
        }
        let options = SaleOptions {
            kick_drawer,
            copy: job.copy,
        };
        let missing = || Ok(Err(format!("print job {} carries nothing to print for {:?}", job.id, job.document)));
        match job.document {
            PrintDocument::Sale => {
                let Some(sale) = self.store.receipt(job.receipt)? else {
                    return Ok(Err(format!("receipt {} is not in the store", job.receipt)));
                };
                Ok(Ok(layout::sale_receipt(&sale, &head, &self.profile, options)))
            }
            PrintDocument::ZReport => {
                let Some(shift) = self.store.shift(job.receipt)? else {
                    return Ok(Err(format!("shift {} is not in the store", job.receipt)));
                };
                let receipts = self.store.shift_receipts(&shift)?;
                let report = pages::shift_report(pages::ShiftReport::Z, &shift, &receipts, &head, &self.profile, Timestamp::now());
                Ok(Ok(report))
            }
            PrintDocument::XReport => {
                let Some(PrintContent::XReport(shift)) = &job.content else {
                    return missing();
                };
                let receipts = self.store.shift_receipts(shift)?;
                let report = pages::shift_report(pages::ShiftReport::X, shift, &receipts, &head, &self.profile, job.requested_at);
                Ok(Ok(report))
            }
            PrintDocument::Return => match &job.content {
                Some(PrintContent::Return(ret)) => Ok(Ok(layout::return_receipt(ret, &head, &self.profile, options))),
                _ => missing(),
            },
            PrintDocument::CashSlip => match &job.content {
                Some(PrintContent::CashSlip(movement)) => Ok(Ok(layout::cash_slip(movement, &head, &self.profile, options))),
                _ => missing(),
            },
        }
    }

    async fn print(&self, mut job: PrintJob) -> Result<Attempt, StoreError> {
        let bytes = match self.render(&job)? {
            Ok(bytes) => bytes,
            Err(reason) => {
                job.failed(reason);
                self.store.save_print_job(&job).await?;
                return Ok(Attempt::Finished);
            }
        };
        let id = &self.device.id;
        match &self.device.transport {
            Transport::Virtual => {
                let status = self.paper.status(id);
                self.report(&status);
                if status.blocks_printing() {
                    let words = status.words(None).join(", ");
                    self.keep_queued(&mut job, waiting_reason(&words)).await?;
                    return Ok(Attempt::NotReached);
                }
                job.sending();
                self.store.save_print_job(&job).await?;
                self.paper.push(PrintedPaper {
                    printer: id.clone(),
                    job: job.id,
                    printed_at: Timestamp::now(),
                    lines: preview::render(&bytes, &self.profile),
                });
                job.printed();
                self.store.save_print_job(&job).await?;
                Ok(Attempt::Finished)
            }
            Transport::Tcp { address } => match transport::connect_tcp(address, CONNECT_TIMEOUT).await {
                Ok(stream) => self.send(job, stream, &bytes, true, Duration::ZERO).await,
                Err(e) => self.not_reached(job, e).await,
            },
            Transport::Serial { path, baud } => match self.open_serial(path, *baud).await {
                Ok(port) => self.send(job, port, &bytes, true, wire_time(bytes.len(), *baud)).await,
                Err(e) => self.not_reached(job, e).await,
            },
            Transport::Usblp { path } => match transport::open_usblp(path).await {
                Ok(file) => self.send(job, file, &bytes, false, Duration::ZERO).await,
                Err(e) => self.not_reached(job, e).await,
            },
            Transport::Usb { vid, pid } => match transport::open_usb_printer(*vid, *pid).await {
                Ok((link, duplex)) => self.send(job, link, &bytes, duplex, Duration::ZERO).await,
                Err(e) => self.not_reached(job, e).await,
            },
            // Scanner-only transports; the config refuses them for printers.
            Transport::Hid { .. } | Transport::Evdev { .. } => {
                let e = DeviceError::new(DeviceErrorKind::Other, "a printer cannot use a scanner transport (hid, evdev)");
                self.not_reached(job, e).await
            }
        }
    }

    /// Open the serial printer and drop whatever it sent while nobody listened: a stale
    /// status reply would otherwise be read as the answer to the next request.
    async fn open_serial(&self, path: &std::path::Path, baud: u32) -> Result<tokio_serial::SerialStream, DeviceError> {
        use tokio_serial::SerialPort;
        let port = transport::open_serial_printer(path, baud, self.device.flow_control).await?;
        let _ = port.clear(tokio_serial::ClearBuffer::Input);
        Ok(port)
    }

    async fn not_reached(&self, mut job: PrintJob, e: DeviceError) -> Result<Attempt, StoreError> {
        self.registry.set(&self.device.id, DeviceState::Disconnected, Some(e.to_string()));
        self.keep_queued(&mut job, e.to_string()).await?;
        Ok(Attempt::NotReached)
    }

    /// Nothing was sent: the job waits for the printer, its reason recorded once.
    async fn keep_queued(&self, job: &mut PrintJob, reason: String) -> Result<(), StoreError> {
        if job.error.as_deref() != Some(reason.as_str()) {
            tracing::warn!(printer = %self.device.id, job = %job.id, reason = %reason, "printer not ready; job stays queued");
            job.not_reached(reason);
            self.store.save_print_job(job).await?;
        }
        Ok(())
    }

    /// Show what the printer reported, in words, on `/admin` and the cashier's screen.
    fn report(&self, status: &PrinterStatus) {
        let words = status.words(self.profile.status.drawer_open_when_high()).join(", ");
        self.registry.set(&self.device.id, DeviceState::Connected, Some(words));
    }

    async fn query<L: AsyncRead + AsyncWrite + Unpin>(
        &self,
        port: &mut L,
        decoder: &mut StatusDecoder,
        timeout: Duration,
    ) -> Result<(), DeviceError> {
        query_status(port, decoder, timeout, self.profile.status.asb).await
    }

    /// Refresh an idle printer's status for the screens.
    /// Returns the words of a status that blocks printing, if the printer reported one.
    async fn poll_status(&self) -> Option<String> {
        if !self.profile.status.realtime {
            return None;
        }
        let result = match &self.device.transport {
            Transport::Tcp { address } => match transport::connect_tcp(address, CONNECT_TIMEOUT).await {
                Ok(mut stream) => {
                    let mut d = StatusDecoder::new();
                    let r = self.query(&mut stream, &mut d, STATUS_TIMEOUT).await;
                    let _ = stream.shutdown().await;
                    r.map(|()| d)
                }
                Err(e) => Err(e),
            },
            Transport::Serial { path, baud } => match self.open_serial(path, *baud).await {
                Ok(mut port) => {
                    let mut d = StatusDecoder::new();
                    self.query(&mut port, &mut d, STATUS_TIMEOUT).await.map(|()| d)
                }
                Err(e) => Err(e),
            },
            Transport::Usb { vid, pid } => match transport::open_usb_printer(*vid, *pid).await {
                Ok((mut link, true)) => {
                    let mut d = StatusDecoder::new();
                    self.query(&mut link, &mut d, STATUS_TIMEOUT).await.map(|()| d)
                }
                Ok((_, false)) => return None,
                Err(e) => Err(e),
            },
            Transport::Virtual => {
                let status = self.paper.status(&self.device.id);
                self.report(&status);
                return status.blocks_printing().then(|| status.words(None).join(", "));
            }
            _ => return None,
        };
        match result {
            Ok(d) if d.replies() > 0 => {
                self.report(d.status());
                let drawer = self.profile.status.drawer_open_when_high();
                d.status().blocks_printing().then(|| d.status().words(drawer).join(", "))
            }
            Ok(_) => {
                self.registry.set(
                    &self.device.id,
                    DeviceState::Connected,
                    Some("не отвечает на запрос состояния".into()),
                );
                None
            }
            Err(e) => {
                self.registry.set(&self.device.id, DeviceState::Disconnected, Some(e.to_string()));
                None
            }
        }
    }

    /// Send a job over an open connection. On a two-way link the printer is asked for its
    /// status first: out of paper, cover open or offline, the job is not sent (a printer that
    /// buffers while offline would print it later, unasked) and stays queued. `sending` is
    /// recorded durably before the first byte goes out, so a crash mid-job can never lead to
    /// an automatic second print. After the bytes the printer is asked again: its answer is
    /// the proof the link held to the end; a dropped link or paper that ran out mid-job
    /// makes the job `unknown`, for a person to decide.
    async fn send<L: AsyncRead + AsyncWrite + Unpin>(
        &self,
        mut job: PrintJob,
        mut port: L,
        bytes: &[u8],
        duplex: bool,
        wire: Duration,
    ) -> Result<Attempt, StoreError> {
        let id = &self.device.id;
        let ask = duplex && self.profile.status.realtime;
        let mut answered = false;
        if ask {
            let mut before = StatusDecoder::new();
            if let Err(e) = self.query(&mut port, &mut before, STATUS_TIMEOUT).await {
                return self.not_reached(job, e).await;
            }
            answered = before.replies() > 0;
            if answered {
                self.report(before.status());
                if before.status().blocks_printing() {
                    let words = before.status().words(self.profile.status.drawer_open_when_high()).join(", ");
                    self.keep_queued(&mut job, waiting_reason(&words)).await?;
                    return Ok(Attempt::NotReached);
                }
            }
        }
        if !answered {
            self.registry.set(id, DeviceState::Connected, None);
        }
        job.sending();
        self.store.save_print_job(&job).await?;
        let written = tokio::time::timeout(WRITE_TIMEOUT, async {
            port.write_all(bytes).await?;
            port.flush().await
        })
        .await;
        let outcome = match written {
            Ok(Ok(())) if answered => {
                let mut after = StatusDecoder::new();
                // On a slow serial line the reply queues behind the whole receipt.
                match self.query(&mut port, &mut after, AFTER_JOB_TIMEOUT + wire).await {
                    Err(e) => Err(format!("{e} right after the job")),
                    Ok(()) if after.replies() == 0 => Err("the printer stopped answering after the job".to_string()),
                    Ok(()) => {
                        self.report(after.status());
                        if after.status().paper == Some(status::Paper::End) || after.status().blocks_printing() {
                            let words = after.status().words(self.profile.status.drawer_open_when_high()).join(", ");
                            Err(format!("принтер после чека: {words}"))
                        } else {
                            Ok(())
                        }
                    }
                }
            }
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(DeviceError::io("write", &e).to_string()),
            Err(_) => Err("the printer stopped accepting data".to_string()),
        };
        let _ = tokio::time::timeout(STATUS_TIMEOUT, port.shutdown()).await;
        match outcome {
            Ok(()) => {
                job.printed();
                tracing::info!(printer = %id, job = %job.id, bytes = bytes.len(), "receipt printed");
            }
            Err(reason) => {
                tracing::warn!(printer = %id, job = %job.id, reason = %reason, "print job broke off; marked unknown, not resent");
                if !answered || !reason.starts_with("принтер") {
                    self.registry.set(id, DeviceState::Disconnected, Some(reason.clone()));
                }
                job.interrupted(reason);
            }
        }
        self.store.save_print_job(&job).await?;
        Ok(Attempt::Finished)
    }
}
