//! The printer's side of printing that has no memory: the real-time status exchange over an
//! open link, and the virtual printer whose paper the admin page shows. The spooler in `app`
//! decides what to print and records it; this module only talks to printers.

use super::status::{self, PrinterStatus, StatusDecoder, StatusKind};
use crate::devices::transport::{DeviceError, DeviceErrorKind};
use jiff::Timestamp;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How long a printer gets to answer `DLE EOT` before a job.
pub const STATUS_TIMEOUT: Duration = Duration::from_millis(800);
/// Every real-time status there is: printer, offline cause, error cause, paper sensors.
const ASK: [StatusKind; 4] = [StatusKind::Printer, StatusKind::Offline, StatusKind::Error, StatusKind::Paper];
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

/// The virtual printer's paper: the latest printouts, newest last, and which virtual printers
/// the admin has "run out of paper" (to try the paper-out path in the demo).
#[derive(Debug, Clone, Default)]
pub struct VirtualPaper {
    inner: Arc<Mutex<VecDeque<PrintedPaper>>>,
    out: Arc<Mutex<std::collections::BTreeSet<String>>>,
}

impl VirtualPaper {
    /// Take the roll out of (or put it back into) virtual printer `printer`.
    pub fn set_out_of_paper(&self, printer: &str, out: bool) {
        let mut set = self.out.lock().unwrap_or_else(|e| e.into_inner());
        if out {
            set.insert(printer.to_string());
        } else {
            set.remove(printer);
        }
    }

    pub fn is_out_of_paper(&self, printer: &str) -> bool {
        self.out.lock().unwrap_or_else(|e| e.into_inner()).contains(printer)
    }

    /// What the virtual printer would answer to `DLE EOT`.
    pub fn status(&self, printer: &str) -> PrinterStatus {
        let out = self.is_out_of_paper(printer);
        PrinterStatus {
            online: Some(!out),
            paper: Some(if out { status::Paper::End } else { status::Paper::Ok }),
            cover_open: Some(false),
            cutter_error: Some(false),
            unrecoverable_error: Some(false),
            recoverable_error: Some(false),
            drawer_pin3_high: None,
        }
    }

    pub fn push(&self, paper: PrintedPaper) {
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

/// Ask for every real-time status (after enabling automatic status back when `asb`) and read
/// the replies until all came or `timeout`. An error means the link broke; no reply within the
/// time is not an error (some printers never answer): the decoder just has nothing.
pub async fn query_status<L: AsyncRead + AsyncWrite + Unpin>(
    port: &mut L,
    decoder: &mut StatusDecoder,
    timeout: Duration,
    asb: bool,
) -> Result<(), DeviceError> {
    let mut request = Vec::with_capacity(15);
    if asb {
        request.extend_from_slice(&status::ENABLE_ASB);
    }
    for kind in ASK {
        request.extend_from_slice(&status::request(kind));
        decoder.asked(kind);
    }
    port.write_all(&request).await.map_err(|e| DeviceError::io("status request", &e))?;
    port.flush().await.map_err(|e| DeviceError::io("status request", &e))?;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = [0u8; 64];
    while decoder.unanswered() > 0 {
        match tokio::time::timeout_at(deadline, port.read(&mut buf)).await {
            Err(_) => break,
            Ok(Ok(0)) => {
                return Err(DeviceError::new(DeviceErrorKind::Disconnected, "the printer closed the connection"));
            }
            Ok(Ok(n)) => decoder.feed(&buf[..n]),
            Ok(Err(e)) => return Err(DeviceError::io("status reply", &e)),
        }
    }
    Ok(())
}
