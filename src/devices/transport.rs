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
    let display = path.display().to_string();
    tokio_serial::new(display.clone(), baud)
        .data_bits(tokio_serial::DataBits::Eight)
        .parity(tokio_serial::Parity::None)
        .stop_bits(tokio_serial::StopBits::One)
        .flow_control(tokio_serial::FlowControl::None)
        .open_native_async()
        .map_err(|e| {
            let io: std::io::Error = e.into();
            DeviceError::io(&format!("open {display}"), &io)
        })
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
