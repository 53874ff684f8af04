//! Transports: opening the byte pipes devices talk through.
//!
//! Errors are sorted into the few categories a supervisor and an admin act on (gone, busy,
//! no permission, …), keeping the OS error number for the log.
//!
//! Opening a device blocks: `open(2)` on a tty or an input node, hidapi's walk through sysfs,
//! libusb's enumeration and `claim_interface`. A supervisor retries an unplugged scanner every
//! 100–500 ms, so each open runs on tokio's blocking pool and is awaited ([`blocking`]) — never
//! on a runtime worker, where it would hold up every other task on that thread.

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

/// Run `open` — a blocking device call — on tokio's blocking pool and wait for it.
pub async fn blocking<T, F>(what: &str, open: F) -> Result<T, DeviceError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, DeviceError> + Send + 'static,
{
    match tokio::task::spawn_blocking(open).await {
        Ok(result) => result,
        Err(e) => Err(DeviceError::new(DeviceErrorKind::Other, format!("{what}: {e}"))),
    }
}

/// Open a serial port in raw 8N1 mode at `baud`, exclusively (TIOCEXCL), so a second program
/// (ModemManager, a stray terminal) cannot steal a scanner's bytes.
pub async fn open_serial(path: &Path, baud: u32) -> Result<SerialStream, DeviceError> {
    open_serial_printer(path, baud, crate::config::FlowControl::None).await
}

/// Open a serial printer like [`open_serial`], with flow control: a printer on RS-232 stops
/// storeterm with CTS (or XOFF) while its buffer is full, instead of dropping bytes.
pub async fn open_serial_printer(path: &Path, baud: u32, flow: crate::config::FlowControl) -> Result<SerialStream, DeviceError> {
    let path = path.to_path_buf();
    // The blocking pool runs inside the runtime, so the port registers with its reactor there.
    blocking("open a serial port", move || open_serial_now(&path, baud, flow)).await
}

fn open_serial_now(path: &Path, baud: u32, flow: crate::config::FlowControl) -> Result<SerialStream, DeviceError> {
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
pub async fn open_hid(vid: u16, pid: u16, serial: Option<&str>) -> Result<hidapi::HidDevice, DeviceError> {
    let serial = serial.map(str::to_string);
    blocking("open a HID scanner", move || open_hid_now(vid, pid, serial.as_deref())).await
}

fn open_hid_now(vid: u16, pid: u16, serial: Option<&str>) -> Result<hidapi::HidDevice, DeviceError> {
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
pub async fn open_evdev(path: &Path) -> Result<evdev::Device, DeviceError> {
    let path = path.to_path_buf();
    blocking("open an input device", move || open_evdev_now(&path)).await
}

fn open_evdev_now(path: &Path) -> Result<evdev::Device, DeviceError> {
    let display = path.display();
    let mut device = evdev::Device::open(path).map_err(|e| DeviceError::io(&format!("open {display}"), &e))?;
    device
        .grab()
        .map_err(|e| DeviceError::io(&format!("grab {display} (another program grabbed it?)"), &e))?;
    Ok(device)
}

/// The USB printer class (USB "Printer Class Definition" 1.1: interface class 7, protocol 1
/// unidirectional, 2 bidirectional, 3 IEEE 1284.4).
const USB_CLASS_PRINTER: u8 = 7;

/// A claimed USB printer-class interface.
struct UsbPrinter {
    handle: rusb::DeviceHandle<rusb::Context>,
    out_ep: u8,
    /// The bulk IN endpoint of a bidirectional printer (status replies come back on it).
    in_ep: Option<u8>,
}

fn usb_error(context: &str, e: rusb::Error) -> DeviceError {
    let kind = match e {
        rusb::Error::NoDevice => DeviceErrorKind::Disconnected,
        rusb::Error::NotFound => DeviceErrorKind::NotFound,
        rusb::Error::Access => DeviceErrorKind::PermissionDenied,
        rusb::Error::Busy => DeviceErrorKind::Busy,
        rusb::Error::Timeout => DeviceErrorKind::Timeout,
        _ => DeviceErrorKind::Other,
    };
    DeviceError::new(kind, format!("{context}: {e}"))
}

impl UsbPrinter {
    /// Find the printer by VID:PID (never by bus order) and claim its printer-class
    /// interface, detaching the kernel's usblp driver from it while storeterm holds it.
    fn open(vid: u16, pid: u16) -> Result<UsbPrinter, DeviceError> {
        let wanted = format!("{vid:04x}:{pid:04x}");
        use rusb::UsbContext;
        // An own context, not libusb's global one: that one panics where USB is unavailable
        // (no /dev/bus/usb in a container), and a missing printer must be an error, not a crash.
        let context = rusb::Context::new()
            .map_err(|e| usb_error(&format!("start libusb to find USB printer {wanted} (is /dev/bus/usb there?)"), e))?;
        let devices = context.devices().map_err(|e| usb_error("list USB devices", e))?;
        let device = devices
            .iter()
            .find(|d| {
                d.device_descriptor()
                    .is_ok_and(|desc| desc.vendor_id() == vid && desc.product_id() == pid)
            })
            .ok_or_else(|| {
                DeviceError::new(
                    DeviceErrorKind::NotFound,
                    format!("no USB printer {wanted} is plugged in (`lsusb` lists what is there)"),
                )
            })?;
        let config = device
            .active_config_descriptor()
            .map_err(|e| usb_error(&format!("read {wanted} configuration"), e))?;
        let mut found = None;
        for interface in config.interfaces() {
            for alt in interface.descriptors() {
                if alt.class_code() != USB_CLASS_PRINTER {
                    continue;
                }
                let bulk = |dir| {
                    alt.endpoint_descriptors()
                        .find(|e| e.transfer_type() == rusb::TransferType::Bulk && e.direction() == dir)
                        .map(|e| e.address())
                };
                if let Some(out_ep) = bulk(rusb::Direction::Out) {
                    let in_ep = if alt.protocol_code() >= 2 {
                        bulk(rusb::Direction::In)
                    } else {
                        None
                    };
                    found = Some((alt.interface_number(), alt.setting_number(), out_ep, in_ep));
                    break;
                }
            }
            if found.is_some() {
                break;
            }
        }
        let (number, setting, out_ep, in_ep) = found.ok_or_else(|| {
            DeviceError::new(
                DeviceErrorKind::Other,
                format!("USB device {wanted} has no printer-class interface"),
            )
        })?;
        let handle = device.open().map_err(|e| usb_error(&format!("open USB {wanted}"), e))?;
        let _ = handle.set_auto_detach_kernel_driver(true);
        handle
            .claim_interface(number)
            .map_err(|e| usb_error(&format!("claim USB {wanted} interface {number}"), e))?;
        if setting != 0 {
            handle
                .set_alternate_setting(number, setting)
                .map_err(|e| usb_error(&format!("select USB {wanted} setting {setting}"), e))?;
        }
        Ok(UsbPrinter { handle, out_ep, in_ep })
    }
}

/// A USB printer as an async byte pipe, like a TCP or serial printer: two threads move bytes
/// between it and libusb's blocking bulk transfers. A transfer error closes the pipe, so the
/// print worker sees a broken link exactly as on the other transports. The second value says
/// whether the printer talks back (bulk IN).
pub async fn open_usb_printer(
    vid: u16,
    pid: u16,
) -> Result<(impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static, bool), DeviceError> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const WRITE: Duration = Duration::from_secs(15);
    const POLL: Duration = Duration::from_millis(200);
    let printer = Arc::new(blocking("open a USB printer", move || UsbPrinter::open(vid, pid)).await?);
    let duplex = printer.in_ep.is_some();
    let runtime = tokio::runtime::Handle::current();
    let (mut to_usb, host_out) = tokio::io::simplex(16 * 1024);
    let (host_in, mut from_usb) = tokio::io::simplex(4 * 1024);
    let closed = Arc::new(AtomicBool::new(false));
    {
        let (printer, runtime, closed) = (printer.clone(), runtime.clone(), closed.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = runtime.block_on(to_usb.read(&mut buf)) {
                if n == 0 {
                    break;
                }
                let mut sent = 0;
                while sent < n {
                    match printer.handle.write_bulk(printer.out_ep, &buf[sent..n], WRITE) {
                        Ok(k) => sent += k,
                        Err(e) => {
                            tracing::warn!(error = %e, "USB printer write failed");
                            closed.store(true, Ordering::Relaxed);
                            return;
                        }
                    }
                }
            }
            closed.store(true, Ordering::Relaxed);
        });
    }
    if let Some(in_ep) = printer.in_ep {
        std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            while !closed.load(Ordering::Relaxed) {
                match printer.handle.read_bulk(in_ep, &mut buf, POLL) {
                    Ok(n) if n > 0 => {
                        if runtime.block_on(from_usb.write_all(&buf[..n])).is_err() {
                            return;
                        }
                    }
                    Ok(_) | Err(rusb::Error::Timeout) => {}
                    Err(_) => return,
                }
            }
        });
    }
    Ok((tokio::io::join(host_in, host_out), duplex))
}
