//! Transports: opening the byte pipes devices talk through.
//!
//! Errors are sorted into the few categories a supervisor and an admin act on (gone, busy,
//! no permission, …), keeping the OS error number for the log.

use std::fmt;
use std::path::Path;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_serial::{SerialPortBuilderExt, SerialStream};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeviceErrorKind {
    /// The device went away (unplugged, cable pulled, peer closed).
    Disconnected,
    /// Another program holds it.
    Busy,
    /// storeterm's user may not open it (see `udev/99-storeterm.rules`).
    PermissionDenied,
    /// No such device node or host.
    NotFound,
    /// It did not answer in time.
    Timeout,
    Other,
}

/// A transport failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceError {
    pub kind: DeviceErrorKind,
    pub message: String,
    pub errno: Option<i32>,
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        match self.kind {
            DeviceErrorKind::PermissionDenied => f.write_str(" (is storeterm in the device's group? see udev/99-storeterm.rules)"),
            DeviceErrorKind::Busy => f.write_str(" (another program has it open)"),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for DeviceError {}

impl DeviceError {
    pub fn new(kind: DeviceErrorKind, message: impl Into<String>) -> DeviceError {
        DeviceError {
            kind,
            message: message.into(),
            errno: None,
        }
    }

    /// Classify an I/O error, prefixing what was being done.
    pub fn io(context: &str, e: &std::io::Error) -> DeviceError {
        use std::io::ErrorKind as K;
        let errno = e.raw_os_error();
        let kind = match (e.kind(), errno) {
            (K::NotFound, _) => DeviceErrorKind::NotFound,
            (K::PermissionDenied, _) => DeviceErrorKind::PermissionDenied,
            (K::TimedOut, _) => DeviceErrorKind::Timeout,
            (_, Some(EBUSY)) => DeviceErrorKind::Busy,
            (_, Some(ENODEV | ENXIO | EIO)) => DeviceErrorKind::Disconnected,
            (K::BrokenPipe | K::ConnectionReset | K::ConnectionAborted | K::UnexpectedEof | K::ConnectionRefused, _) => {
                DeviceErrorKind::Disconnected
            }
            _ => DeviceErrorKind::Other,
        };
        DeviceError {
            kind,
            message: format!("{context}: {e}"),
            errno,
        }
    }
}

// Linux errno values (asm-generic/errno-base.h); the `libc` crate is not worth a dependency
// for four numbers.
const EIO: i32 = 5;
const ENXIO: i32 = 6;
const EBUSY: i32 = 16;
const ENODEV: i32 = 19;

/// Open a serial port in raw 8N1 mode at `baud`, exclusively (TIOCEXCL), so a second program
/// (ModemManager, a stray terminal) cannot steal a scanner's bytes.
pub fn open_serial(path: &Path, baud: u32) -> Result<SerialStream, DeviceError> {
    open_serial_printer(path, baud, crate::config::FlowControl::None)
}

/// Open a serial printer like [`open_serial`], with flow control: a printer on RS-232 stops
/// storeterm with CTS (or XOFF) while its buffer is full, instead of dropping bytes.
pub fn open_serial_printer(path: &Path, baud: u32, flow: crate::config::FlowControl) -> Result<SerialStream, DeviceError> {
    use crate::config::FlowControl as F;
    let display = path.display().to_string();
    let flow = match flow {
        F::None => tokio_serial::FlowControl::None,
        F::RtsCts => tokio_serial::FlowControl::Hardware,
        F::XonXoff => tokio_serial::FlowControl::Software,
    };
    tokio_serial::new(display.clone(), baud)
        .data_bits(tokio_serial::DataBits::Eight)
        .parity(tokio_serial::Parity::None)
        .stop_bits(tokio_serial::StopBits::One)
        .flow_control(flow)
        .open_native_async()
        .map_err(|e| {
            let io: std::io::Error = e.into();
            DeviceError::io(&format!("open {display}"), &io)
        })
}

/// Open the kernel's USB printer node (`/dev/usb/lpN`) for writing.
pub async fn open_usblp(path: &Path) -> Result<tokio::fs::File, DeviceError> {
    tokio::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .await
        .map_err(|e| DeviceError::io(&format!("open {}", path.display()), &e))
}

/// Connect to a raw TCP device (a network printer's port 9100).
pub async fn connect_tcp(address: &str, timeout: Duration) -> Result<TcpStream, DeviceError> {
    match tokio::time::timeout(timeout, TcpStream::connect(address)).await {
        Err(_) => Err(DeviceError::new(
            DeviceErrorKind::Timeout,
            format!("connect {address}: no answer in {} ms", timeout.as_millis()),
        )),
        Ok(Err(e)) => Err(DeviceError::io(&format!("connect {address}"), &e)),
        Ok(Ok(stream)) => {
            // Receipts are small and sent at once; do not let Nagle hold back the tail.
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
    }
}

/// The USB HID POS usage page (HID Point of Sale Usage Tables: 0x8C, "Bar Code Scanner").
pub const HID_POS_USAGE_PAGE: u16 = 0x8C;

/// Classify a hidapi error. The Linux backend wraps the OS error, so the errno survives.
pub fn hid_error(context: &str, e: &hidapi::HidError) -> DeviceError {
    match e {
        hidapi::HidError::IoError { error } => DeviceError::io(context, error),
        other => DeviceError::new(DeviceErrorKind::Other, format!("{context}: {other}")),
    }
}

/// Open a HID POS scanner by USB ids and, when given, its serial number — never by
/// enumeration order, so two identical scanners keep their lanes. Among the interfaces of a
/// matching device the HID POS one (usage page 0x8C) is preferred: many scanners expose a
/// keyboard interface beside it.
pub fn open_hid(vid: u16, pid: u16, serial: Option<&str>) -> Result<hidapi::HidDevice, DeviceError> {
    let wanted = match serial {
        Some(s) => format!("{vid:04x}:{pid:04x} serial {s}"),
        None => format!("{vid:04x}:{pid:04x}"),
    };
    let api = hidapi::HidApi::new().map_err(|e| hid_error("list HID devices", &e))?;
    let mut candidates: Vec<&hidapi::DeviceInfo> = api
        .device_list()
        .filter(|d| d.vendor_id() == vid && d.product_id() == pid)
        .filter(|d| serial.is_none() || d.serial_number() == serial)
        .collect();
    candidates.sort_by_key(|d| d.usage_page() != HID_POS_USAGE_PAGE);
    let info = candidates.first().ok_or_else(|| {
        DeviceError::new(
            DeviceErrorKind::NotFound,
            format!("no HID device {wanted} is plugged in (is the scanner in HID POS mode? `storeterm devices` lists what is there)"),
        )
    })?;
    api.open_path(info.path())
        .map_err(|e| hid_error(&format!("open {wanted} ({})", info.path().to_string_lossy()), &e))
}

/// Open a keyboard-wedge scanner's event device and grab it, so its keystrokes go to
/// storeterm only — not into whatever window has the focus on the till.
pub fn open_evdev(path: &Path) -> Result<evdev::Device, DeviceError> {
    let display = path.display();
    let mut device = evdev::Device::open(path).map_err(|e| DeviceError::io(&format!("open {display}"), &e))?;
    device
        .grab()
        .map_err(|e| DeviceError::io(&format!("grab {display} (another program grabbed it?)"), &e))?;
    Ok(device)
}
