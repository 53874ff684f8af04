//! `storeterm print-test`: one page straight to a configured printer, outside the job queue,
//! with the printer's status (and firmware, when it says) read first.

use super::layout::{self, Letterhead, SaleOptions};
use super::link::{STATUS_TIMEOUT, query_status};
use super::pages::{self, ASK_FIRMWARE};
use super::profile::PrinterProfile;
use super::status::{PrinterStatus, StatusDecoder};
use super::{preview, sample};
use crate::config::{Config, DeviceKind, Transport};
use crate::devices::profiles::{ProfileError, Profiles};
use crate::devices::transport::{self, DeviceError};
use jiff::Timestamp;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Which test page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestPage {
    /// The charts of the profile's code pages and sample text in four languages.
    Codepages,
    /// Profile facts and what the printer reported.
    Status,
    /// A sample sale receipt.
    Receipt,
}

impl std::str::FromStr for TestPage {
    type Err = String;
    fn from_str(s: &str) -> Result<TestPage, String> {
        match s {
            "codepages" => Ok(TestPage::Codepages),
            "status" => Ok(TestPage::Status),
            "receipt" => Ok(TestPage::Receipt),
            other => Err(format!("unknown page \"{other}\" (codepages, status, receipt)")),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PrintTestError {
    #[error("no device \"{0}\" in the config")]
    UnknownDevice(String),
    #[error("device \"{0}\" is not a printer")]
    NotAPrinter(String),
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error("printer {device}: {source}")]
    Device { device: String, source: DeviceError },
    #[error("printer {device} cannot print now: {words}")]
    NotReady { device: String, words: String },
}

/// What happened.
#[derive(Debug)]
pub struct PrintTestReport {
    pub status: PrinterStatus,
    pub firmware: Option<String>,
    pub bytes: usize,
    /// The page as text (always; for a virtual printer it is the only output).
    pub preview: Vec<String>,
}

/// Print `page` on `device` now.
pub async fn print_test(config: &Config, device: &str, page: TestPage) -> Result<PrintTestReport, PrintTestError> {
    let d = config
        .devices
        .iter()
        .find(|d| d.id == device)
        .ok_or_else(|| PrintTestError::UnknownDevice(device.to_string()))?;
    if d.kind != DeviceKind::Printer {
        return Err(PrintTestError::NotAPrinter(device.to_string()));
    }
    let profiles = Profiles::load(config.profiles_dir.as_deref())?;
    let profile = profiles.printer(d.profile.as_deref().unwrap_or(crate::config::DEFAULT_PRINTER_PROFILE))?;
    let fail = |source| PrintTestError::Device {
        device: device.to_string(),
        source,
    };
    let tz = config
        .shop
        .timezone
        .as_deref()
        .and_then(|name| jiff::tz::TimeZone::get(name).ok())
        .unwrap_or_else(jiff::tz::TimeZone::system);
    let head = Letterhead {
        shop: &config.shop,
        tz: &tz,
    };
    let render = |status: &PrinterStatus, firmware: Option<&str>| render(page, profile, device, status, firmware, &head);
    let report = match &d.transport {
        Transport::Tcp { address } => {
            let stream = transport::connect_tcp(address, Duration::from_secs(3)).await.map_err(fail)?;
            exchange(stream, profile, device, &render).await?
        }
        Transport::Serial { path, baud } => {
            let port = transport::open_serial_printer(path, *baud, d.flow_control).await.map_err(fail)?;
            exchange(port, profile, device, &render).await?
        }
        Transport::Usblp { path } => {
            let mut file = transport::open_usblp(path).await.map_err(fail)?;
            let bytes = render(&PrinterStatus::default(), None);
            file.write_all(&bytes).await.map_err(|e| fail(DeviceError::io("write", &e)))?;
            file.flush().await.map_err(|e| fail(DeviceError::io("write", &e)))?;
            report(PrinterStatus::default(), None, &bytes, profile)
        }
        Transport::Usb { vid, pid } => {
            let (mut link, duplex) = transport::open_usb_printer(*vid, *pid).await.map_err(fail)?;
            if duplex {
                exchange(link, profile, device, &render).await?
            } else {
                let bytes = render(&PrinterStatus::default(), None);
                link.write_all(&bytes).await.map_err(|e| fail(DeviceError::io("write", &e)))?;
                link.shutdown().await.map_err(|e| fail(DeviceError::io("write", &e)))?;
                report(PrinterStatus::default(), None, &bytes, profile)
            }
        }
        Transport::Virtual => {
            let bytes = render(&PrinterStatus::default(), None);
            report(PrinterStatus::default(), None, &bytes, profile)
        }
        Transport::Hid { .. } | Transport::Evdev { .. } => return Err(PrintTestError::NotAPrinter(device.to_string())),
    };
    Ok(report)
}

fn report(status: PrinterStatus, firmware: Option<String>, bytes: &[u8], profile: &PrinterProfile) -> PrintTestReport {
    PrintTestReport {
        status,
        firmware,
        bytes: bytes.len(),
        preview: preview::render(bytes, profile),
    }
}

fn render(
    page: TestPage,
    profile: &PrinterProfile,
    device: &str,
    status: &PrinterStatus,
    firmware: Option<&str>,
    head: &Letterhead<'_>,
) -> Vec<u8> {
    let now = Timestamp::now();
    match page {
        TestPage::Codepages => pages::codepage_test_page(profile),
        TestPage::Status => pages::status_page(profile, device, status, firmware, head, now),
        TestPage::Receipt => layout::sale_receipt(&sample::sale(5, now), head, profile, SaleOptions::default()),
    }
}

/// Status and firmware first, then the page.
async fn exchange<L: AsyncRead + AsyncWrite + Unpin>(
    mut port: L,
    profile: &PrinterProfile,
    device: &str,
    render: &dyn Fn(&PrinterStatus, Option<&str>) -> Vec<u8>,
) -> Result<PrintTestReport, PrintTestError> {
    let fail = |source| PrintTestError::Device {
        device: device.to_string(),
        source,
    };
    let mut decoder = StatusDecoder::new();
    let mut firmware = None;
    if profile.status.realtime {
        query_status(&mut port, &mut decoder, STATUS_TIMEOUT, profile.status.asb)
            .await
            .map_err(fail)?;
        if decoder.status().blocks_printing() {
            return Err(PrintTestError::NotReady {
                device: device.to_string(),
                words: decoder.status().words(profile.status.drawer_open_when_high()).join(", "),
            });
        }
        firmware = read_firmware(&mut port).await;
    }
    let bytes = render(decoder.status(), firmware.as_deref());
    port.write_all(&bytes).await.map_err(|e| fail(DeviceError::io("write", &e)))?;
    port.flush().await.map_err(|e| fail(DeviceError::io("write", &e)))?;
    let _ = port.shutdown().await;
    Ok(report(decoder.status().clone(), firmware, &bytes, profile))
}

/// `GS I 65` and its `_ … NUL` block, if the printer answers within the status timeout.
async fn read_firmware<L: AsyncRead + AsyncWrite + Unpin>(port: &mut L) -> Option<String> {
    port.write_all(&ASK_FIRMWARE).await.ok()?;
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    let deadline = tokio::time::Instant::now() + STATUS_TIMEOUT;
    while got.len() < 256 {
        match tokio::time::timeout_at(deadline, port.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {
                got.extend_from_slice(&buf[..n]);
                if let Some(text) = pages::printer_info_block(&got) {
                    return Some(text);
                }
            }
            _ => return None,
        }
    }
    None
}

/// The report as the command prints it.
pub fn describe(report: &PrintTestReport) -> String {
    let mut out = String::new();
    let words = if report.status.is_known() {
        report.status.words(None).join(", ")
    } else {
        "no status reply".to_string()
    };
    out.push_str(&format!("status:   {words}\n"));
    out.push_str(&format!("firmware: {}\n", report.firmware.as_deref().unwrap_or("not reported")));
    out.push_str(&format!("sent:     {} bytes\n", report.bytes));
    for line in &report.preview {
        out.push_str("  | ");
        out.push_str(line);
        out.push('\n');
    }
    out
}
