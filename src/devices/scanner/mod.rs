//! Barcode scanners: turning what a scanner sends into one text per scan, for every way a
//! scanner talks to a Linux box.
//!
//! | transport | pure decoder | reader (I/O) |
//! |---|---|---|
//! | serial / USB-COM / TCP | [`framer::Framer`] (prefix, suffix, inter-byte gap) | [`read_framed`] |
//! | USB HID POS (hidraw, via `hidapi`) | [`hid_pos::HidPosDecoder`] (multi-report scans) | [`read_hid_reports`] |
//! | keyboard wedge (evdev, grabbed) | [`keyboard::KeyboardDecoder`] (US keymap, Ctrl+], Alt+numpad) | [`read_key_events`] |
//!
//! Every reader runs under the supervisor ([`run`]): opened by a stable identity
//! (`/dev/serial/by-id`, `/dev/input/by-id`, USB serial number), reopened within half a
//! second after the device comes back. A scan is forwarded only when complete, so a scan
//! cut by an unplug is dropped whole rather than sold half, and nothing is ever re-sent
//! after a reopen: no lost, no doubled scans.

pub mod framer;
pub mod hid_pos;
pub mod keyboard;
pub mod profile;

pub use framer::{Framer, SerialFraming};

use super::DeviceRegistry;
use super::supervisor::supervise;
use super::transport::{self, DeviceError};
use crate::config::{DeviceConfig, Suffix, Transport};
use crate::domain::barcode::MAX_CODE_LEN;
use hid_pos::{HidPosDecoder, HidPosLayout};
use keyboard::KeyboardDecoder;
use profile::{DEFAULT_GAP_MS, ScannerProfile, effective_framing};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// One scan as read from a device, before barcode validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// The text of one scan, framing removed.
    Code(String),
    /// Bytes that cannot be a scan (line noise, wrong baud rate, a stuck trigger).
    Garbage(FrameError),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("the scanner sent more than {MAX_CODE_LEN} bytes without an end-of-scan suffix; check its suffix setting")]
    TooLong,
    #[error("the scanner sent bytes that are not text (wrong baud rate or line noise?)")]
    NotText,
    #[error("the scanner sent a HID report that does not match its profile's layout; check the `profile` of this device")]
    BadReport,
}

/// A scan from a device, on its way to whatever the device is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanEvent {
    pub device: String,
    pub frame: Frame,
}

/// Everything a scanner's reader needs, resolved from its config and profile.
#[derive(Debug, Clone)]
pub struct ScannerSetup {
    pub id: String,
    pub transport: Transport,
    pub framing: SerialFraming,
    /// Keyboard wedge end-of-scan key.
    pub suffix: Option<Suffix>,
    /// A pause that ends a scan.
    pub gap: Option<Duration>,
    pub hid_pos: HidPosLayout,
}

impl ScannerSetup {
    pub fn new(device: &DeviceConfig, profile: Option<&ScannerProfile>) -> ScannerSetup {
        let framing = effective_framing(&device.framing, profile);
        let gap_ms = match (framing.gap_ms, framing.suffix) {
            (Some(ms), _) => Some(ms),
            (None, Some(Suffix::None)) => Some(DEFAULT_GAP_MS),
            (None, _) => None,
        };
        ScannerSetup {
            id: device.id.clone(),
            transport: device.transport.clone(),
            framing: SerialFraming::new(framing.prefix.as_deref(), framing.suffix),
            suffix: framing.suffix,
            gap: gap_ms.map(Duration::from_millis),
            hid_pos: profile.map(|p| p.hid_pos.clone()).unwrap_or_default(),
        }
    }
}

/// Read a scanner until `shutdown`, reopening it whenever it fails or disappears, and send
/// every frame to `sink`.
#[tracing::instrument(name = "device", skip_all, fields(device = %setup.id, kind = "scanner"))]
pub async fn run(setup: ScannerSetup, sink: mpsc::Sender<ScanEvent>, registry: DeviceRegistry, shutdown: CancellationToken) {
    let id = setup.id.clone();
    let s = &setup;
    match &setup.transport {
        Transport::Serial { path, baud } => {
            let open = || transport::open_serial(path, *baud);
            supervise(&id, &registry, &shutdown, open, |port| read_framed(s, port, &sink)).await;
        }
        Transport::Tcp { address } => {
            // Ethernet scanners and serial-to-Ethernet converters send the same framed bytes.
            let open = || transport::connect_tcp(address, Duration::from_secs(3));
            supervise(&id, &registry, &shutdown, open, |stream| read_framed(s, stream, &sink)).await;
        }
        Transport::Hid { vid, pid, serial } => {
            let open = || transport::open_hid(*vid, *pid, serial.as_deref());
            supervise(&id, &registry, &shutdown, open, |device| read_hid_reports(s, device, &sink)).await;
        }
        Transport::Evdev { path } => {
            let open = || transport::open_evdev(path);
            supervise(&id, &registry, &shutdown, open, |device| read_key_events(s, device, &sink)).await;
        }
        Transport::Virtual => {
            // Fed from inside storeterm (the demo's pseudo-terminal); nothing to open.
            registry.set(&id, super::DeviceState::Connected, Some("virtual".into()));
        }
        // Refused for scanners by the config.
        Transport::Usblp { .. } | Transport::Usb { .. } => {
            registry.set(
                &id,
                super::DeviceState::Disconnected,
                Some("usblp and usb are printer transports".into()),
            );
        }
    }
}

async fn forward(device: &str, frames: &mut Vec<Frame>, sink: &mpsc::Sender<ScanEvent>) -> bool {
    for frame in frames.drain(..) {
        let event = ScanEvent {
            device: device.to_string(),
            frame,
        };
        if sink.send(event).await.is_err() {
            // Whatever the scanner fed has shut down; so does the scanner.
            return false;
        }
    }
    true
}

/// Read CR/LF-terminated scans from any byte source with the default framing.
pub async fn read_frames<R: tokio::io::AsyncRead + Unpin>(
    device: &str,
    port: R,
    sink: &mpsc::Sender<ScanEvent>,
) -> Result<(), DeviceError> {
    let setup = ScannerSetup {
        id: device.to_string(),
        transport: Transport::Virtual,
        framing: SerialFraming::default(),
        suffix: None,
        gap: None,
        hid_pos: HidPosLayout::default(),
    };
    read_framed(&setup, port, sink).await
}

/// Read framed scans from any byte source (serial port, pty, TCP) until it ends or fails.
pub async fn read_framed<R: tokio::io::AsyncRead + Unpin>(
    setup: &ScannerSetup,
    mut port: R,
    sink: &mpsc::Sender<ScanEvent>,
) -> Result<(), DeviceError> {
    let mut framer = Framer::with(setup.framing.clone());
    let mut buf = [0u8; 256];
    let mut frames = Vec::new();
    loop {
        let read = port.read(&mut buf);
        let n = match setup.gap.filter(|_| framer.is_pending()) {
            Some(gap) => match tokio::time::timeout(gap, read).await {
                Ok(n) => n,
                Err(_quiet) => {
                    framer.end_of_scan(&mut frames);
                    if !forward(&setup.id, &mut frames, sink).await {
                        return Ok(());
                    }
                    continue;
                }
            },
            None => read.await,
        };
        let n = n.map_err(|e| DeviceError::io("read", &e))?;
        if n == 0 {
            return Ok(());
        }
        framer.push(&buf[..n], &mut frames);
        if !forward(&setup.id, &mut frames, sink).await {
            return Ok(());
        }
    }
}

/// Read HID POS input reports until the device fails (unplugged) or the sink closes.
///
/// hidapi reads block, so a dedicated thread reads with a short timeout (to notice when the
/// async side has gone) and hands each report over a channel.
pub async fn read_hid_reports(setup: &ScannerSetup, device: hidapi::HidDevice, sink: &mpsc::Sender<ScanEvent>) -> Result<(), DeviceError> {
    let (tx, mut reports) = mpsc::channel::<Result<Vec<u8>, DeviceError>>(16);
    std::thread::Builder::new()
        .name(format!("hid-{}", setup.id))
        .spawn(move || {
            let mut buf = [0u8; 256];
            loop {
                match device.read_timeout(&mut buf, 100) {
                    Ok(0) if tx.is_closed() => return,
                    Ok(0) => {}
                    Ok(n) => {
                        if tx.blocking_send(Ok(buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = tx.blocking_send(Err(transport::hid_error("read", &e)));
                        return;
                    }
                }
            }
        })
        .map_err(|e| DeviceError::io("start the HID reader thread", &e))?;
    let mut decoder = HidPosDecoder::new(setup.hid_pos.clone());
    let mut frames = Vec::new();
    while let Some(report) = reports.recv().await {
        if let Err(skip) = decoder.push(&report?, &mut frames) {
            tracing::debug!(device = %setup.id, ?skip, "HID report ignored");
        }
        if !forward(&setup.id, &mut frames, sink).await {
            return Ok(());
        }
    }
    Ok(())
}

/// Read key events from a grabbed keyboard-wedge scanner until it fails or the sink closes.
pub async fn read_key_events(setup: &ScannerSetup, device: evdev::Device, sink: &mpsc::Sender<ScanEvent>) -> Result<(), DeviceError> {
    let mut stream = device.into_event_stream().map_err(|e| DeviceError::io("read", &e))?;
    let mut decoder = KeyboardDecoder::new(setup.suffix, setup.gap.map(|g| g.as_millis() as u64));
    let mut frames = Vec::new();
    loop {
        let next = stream.next_event();
        let event = match setup.gap.filter(|_| decoder.is_pending()) {
            Some(gap) => match tokio::time::timeout(gap, next).await {
                Ok(event) => event,
                Err(_quiet) => {
                    decoder.end_of_scan(&mut frames);
                    if !forward(&setup.id, &mut frames, sink).await {
                        return Ok(());
                    }
                    continue;
                }
            },
            None => next.await,
        };
        let event = event.map_err(|e| DeviceError::io("read", &e))?;
        let time_us = event
            .timestamp()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        let input = keyboard::InputEvent {
            time_us,
            kind: event.event_type().0,
            code: event.code(),
            value: event.value(),
        };
        decoder.push(input, &mut frames);
        if !forward(&setup.id, &mut frames, sink).await {
            return Ok(());
        }
    }
}
