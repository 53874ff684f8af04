//! The printer worker: one task per printer that takes its queued jobs, oldest first, to the
//! printer and records each job's fate durably.

use super::job::{JobState, PrintJob};
use super::layout::{self, Letterhead, SaleOptions};
use super::preview;
use super::profile::PrinterProfile;
use crate::config::{DeviceConfig, ShopConfig, Transport};
use crate::devices::transport::{self, DeviceError, DeviceErrorKind};
use crate::devices::{DeviceRegistry, DeviceState};
use crate::store::{Store, StoreError};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// A receipt is a few kilobytes; a printer that takes longer than this to accept it is stuck.
const WRITE_TIMEOUT: Duration = Duration::from_secs(15);
/// How soon to try an unreachable printer again.
const RETRY: Duration = Duration::from_secs(2);
/// How many printouts of the virtual printer the admin page keeps.
const PAPER_KEPT: usize = 20;

/// One printout of the virtual printer.
#[derive(Debug, Clone, Serialize)]
pub struct PrintedPaper {
    pub printer: String,
    pub job: uuid::Uuid,
    pub printed_at: Timestamp,
    pub lines: Vec<String>,
}

/// The virtual printer's paper: the latest printouts, newest last.
#[derive(Debug, Clone, Default)]
pub struct VirtualPaper {
    inner: Arc<Mutex<VecDeque<PrintedPaper>>>,
}

impl VirtualPaper {
    fn push(&self, paper: PrintedPaper) {
        let mut papers = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if papers.len() == PAPER_KEPT {
            papers.pop_front();
        }
        papers.push_back(paper);
    }

    pub fn all(&self) -> Vec<PrintedPaper> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect()
    }
}

pub struct PrinterWorker {
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

impl PrinterWorker {
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
        loop {
            wake.borrow_and_update();
            let retry = match self.print_queued().await {
                Ok(retry) => retry,
                Err(e) => {
                    tracing::error!(printer = %id, error = %e, "print queue failure");
                    true
                }
            };
            let idle = if retry { RETRY } else { Duration::from_secs(30) };
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

    /// Print every queued job in order; true when the printer was unreachable.
    async fn print_queued(&self) -> Result<bool, StoreError> {
        for job in self.store.open_print_jobs(&self.device.id)? {
            if job.state != JobState::Queued {
                continue;
            }
            if let Attempt::NotReached = self.print(job).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn print(&self, mut job: PrintJob) -> Result<Attempt, StoreError> {
        let Some(sale) = self.store.receipt(job.receipt)? else {
            job.failed(format!("receipt {} is not in the store", job.receipt));
            self.store.save_print_job(&job).await?;
            return Ok(Attempt::Finished);
        };
        let head = Letterhead {
            shop: &self.shop,
            tz: &self.tz,
        };
        let options = SaleOptions {
            kick_drawer: job.kick_drawer,
            copy: job.copy,
        };
        let bytes = layout::sale_receipt(&sale, &head, &self.profile, options);
        let id = &self.device.id;
        match &self.device.transport {
            Transport::Virtual => {
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
                Ok(stream) => self.send(job, stream, &bytes).await,
                Err(e) => self.not_reached(job, e).await,
            },
            Transport::Serial { path, baud } => match transport::open_serial(path, *baud) {
                Ok(port) => self.send(job, port, &bytes).await,
                Err(e) => self.not_reached(job, e).await,
            },
            // Scanner-only transports; the config refuses them for printers.
            Transport::Hid { .. } | Transport::Evdev { .. } => {
                let e = DeviceError::new(DeviceErrorKind::Other, "a printer cannot use a scanner transport (hid, evdev)");
                self.not_reached(job, e).await
            }
        }
    }

    async fn not_reached(&self, mut job: PrintJob, e: DeviceError) -> Result<Attempt, StoreError> {
        self.registry.set(&self.device.id, DeviceState::Disconnected, Some(e.to_string()));
        if job.error.as_deref() != Some(e.to_string().as_str()) {
            tracing::warn!(printer = %self.device.id, job = %job.id, error = %e, "printer not reachable; job stays queued");
            job.not_reached(e.to_string());
            self.store.save_print_job(&job).await?;
        }
        Ok(Attempt::NotReached)
    }

    /// Send a job over an open connection. `sending` is recorded durably before the first byte
    /// goes out, so a crash mid-job can never lead to an automatic second print.
    async fn send<W: AsyncWrite + Unpin>(&self, mut job: PrintJob, mut port: W, bytes: &[u8]) -> Result<Attempt, StoreError> {
        let id = &self.device.id;
        self.registry.set(id, DeviceState::Connected, None);
        job.sending();
        self.store.save_print_job(&job).await?;
        let written = tokio::time::timeout(WRITE_TIMEOUT, async {
            port.write_all(bytes).await?;
            port.flush().await?;
            port.shutdown().await
        })
        .await;
        match written {
            Ok(Ok(())) => {
                job.printed();
                tracing::info!(printer = %id, job = %job.id, bytes = bytes.len(), "receipt printed");
            }
            Ok(Err(e)) => {
                let e = DeviceError::io("write", &e);
                tracing::warn!(printer = %id, job = %job.id, error = %e, "print job broke off; marked unknown, not resent");
                self.registry.set(id, DeviceState::Disconnected, Some(e.to_string()));
                job.interrupted(e.to_string());
            }
            Err(_) => {
                tracing::warn!(printer = %id, job = %job.id, "printer stopped accepting data; marked unknown, not resent");
                self.registry
                    .set(id, DeviceState::Disconnected, Some("printer stopped accepting data".into()));
                job.interrupted("the printer stopped accepting data".into());
            }
        }
        self.store.save_print_job(&job).await?;
        Ok(Attempt::Finished)
    }
}
