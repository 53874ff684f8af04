//! `storeterm devices`: what is plugged in, which profile matches it, and the config snippet
//! that binds it — by stable identity (`/dev/serial/by-id`, `/dev/input/by-id`, USB serial
//! number), never by enumeration order.
//!
//! Everything is read from sysfs and `/dev` under a root directory (`/` in real life, a
//! temporary tree in tests); no udev library is needed.

use super::profiles::Profiles;
use super::scanner::profile::UsbMode;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// One device node found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub kind: UsbMode,
    /// The node to put in the config: a stable by-id link when there is one.
    pub path: Option<PathBuf>,
    /// The kernel node (`/dev/ttyACM0`, `/dev/hidraw1`, `/dev/input/event5`).
    pub node: String,
    pub vid: Option<u16>,
    pub pid: Option<u16>,
    pub serial: Option<String>,
    pub name: String,
    /// HID: the report descriptor declares the HID POS usage page (0x8C).
    pub hid_pos: bool,
}

/// The ids in a hidraw device's `uevent` (`HID_ID=0003:00000C2E:00000B87`, `HID_NAME=…`,
/// `HID_UNIQ=<serial>`).
pub fn parse_hid_uevent(text: &str) -> (Option<u16>, Option<u16>, Option<String>, String) {
    let mut ids = (None, None);
    let (mut serial, mut name) = (None, String::new());
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("HID_ID=") {
            let parts: Vec<&str> = v.split(':').collect();
            let id = |t: &str| u32::from_str_radix(t, 16).ok().and_then(|v| u16::try_from(v).ok());
            if let [_, vid, pid] = parts.as_slice() {
                ids = (id(vid), id(pid));
            }
        } else if let Some(v) = line.strip_prefix("HID_UNIQ=") {
            serial = (!v.is_empty()).then(|| v.to_string());
        } else if let Some(v) = line.strip_prefix("HID_NAME=") {
            name = v.to_string();
        }
    }
    (ids.0, ids.1, serial, name)
}

/// Does a HID report descriptor select usage page 0x8C (bar code scanner)? Walks the short
/// items (HID 1.11 §6.2.2.2: prefix byte = tag | type | size code), so a 0x8C inside some
/// other item's data is not mistaken for it. Long items (prefix 0xFE) are skipped whole.
pub fn has_hid_pos_usage(descriptor: &[u8]) -> bool {
    let mut i = 0;
    while i < descriptor.len() {
        let prefix = descriptor[i];
        if prefix == 0xFE {
            let size = usize::from(*descriptor.get(i + 1).unwrap_or(&0));
            i += 3 + size;
            continue;
        }
        let size = match prefix & 0x03 {
            3 => 4,
            n => usize::from(n),
        };
        // Global item "Usage Page" is tag 0x04, type 1: prefix 0x04 | size.
        if prefix & 0xFC == 0x04 {
            let data = descriptor.get(i + 1..i + 1 + size).unwrap_or(&[]);
            let mut page = 0u32;
            for (k, b) in data.iter().enumerate() {
                page |= u32::from(*b) << (8 * k);
            }
            if page == 0x8C {
                return true;
            }
        }
        i += 1 + size;
    }
    false
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

fn hex(path: &Path) -> Option<u16> {
    u16::from_str_radix(&read(path)?, 16).ok()
}

/// Walk up from a sysfs device directory to the USB device that has `idVendor`.
fn usb_ids(sys_device: &Path) -> (Option<u16>, Option<u16>, Option<String>, String) {
    let mut dir = std::fs::canonicalize(sys_device).ok();
    while let Some(d) = dir {
        if d.join("idVendor").exists() {
            let name = [read(&d.join("manufacturer")), read(&d.join("product"))]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            return (hex(&d.join("idVendor")), hex(&d.join("idProduct")), read(&d.join("serial")), name);
        }
        dir = d.parent().map(Path::to_path_buf).filter(|p| p.as_os_str().len() > 1);
    }
    (None, None, None, String::new())
}

/// By-id links in `dir` pointing at `node` (by file name).
fn by_id(root: &Path, dir: &str, node: &str) -> Option<PathBuf> {
    let dir = root.join(dir);
    let mut links: Vec<PathBuf> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            std::fs::read_link(p)
                .ok()
                .and_then(|t| t.file_name().map(|f| f == node))
                .unwrap_or(false)
        })
        .collect();
    links.sort();
    // Prefer the keyboard event node over mouse/other interfaces of the same device.
    links.sort_by_key(|p| !p.to_string_lossy().ends_with("-event-kbd"));
    links
        .into_iter()
        .next()
        .map(|p| Path::new("/").join(p.strip_prefix(root).unwrap_or(&p)))
}

fn entries(dir: &Path, prefixes: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect())
        .unwrap_or_default();
    names.retain(|n| prefixes.iter().any(|p| n.starts_with(p)));
    names.sort();
    names
}

/// Everything scanner-like under `root`.
pub fn scan(root: &Path) -> Vec<Found> {
    let mut found = Vec::new();
    for tty in entries(&root.join("sys/class/tty"), &["ttyACM", "ttyUSB"]) {
        let (vid, pid, serial, name) = usb_ids(&root.join("sys/class/tty").join(&tty).join("device"));
        found.push(Found {
            kind: UsbMode::Serial,
            path: by_id(root, "dev/serial/by-id", &tty),
            node: format!("/dev/{tty}"),
            vid,
            pid,
            serial,
            name,
            hid_pos: false,
        });
    }
    for hid in entries(&root.join("sys/class/hidraw"), &["hidraw"]) {
        let dev = root.join("sys/class/hidraw").join(&hid).join("device");
        let (vid, pid, serial, name) = parse_hid_uevent(&read(&dev.join("uevent")).unwrap_or_default());
        let hid_pos = std::fs::read(dev.join("report_descriptor")).is_ok_and(|d| has_hid_pos_usage(&d));
        found.push(Found {
            kind: UsbMode::HidPos,
            path: None,
            node: format!("/dev/{hid}"),
            vid,
            pid,
            serial,
            name,
            hid_pos,
        });
    }
    for event in entries(&root.join("sys/class/input"), &["event"]) {
        let dev = root.join("sys/class/input").join(&event).join("device");
        let Some(link) = by_id(root, "dev/input/by-id", &event) else {
            // Only devices with a stable name are worth binding (built-in keyboards of the
            // till have none under by-id when they are not USB).
            continue;
        };
        let (vid, pid) = (hex(&dev.join("id/vendor")), hex(&dev.join("id/product")));
        found.push(Found {
            kind: UsbMode::Keyboard,
            path: Some(link),
            node: format!("/dev/input/{event}"),
            vid,
            pid,
            serial: None,
            name: read(&dev.join("name")).unwrap_or_default(),
            hid_pos: false,
        });
    }
    found
}

/// The `[[devices]]` entry that binds `f`.
pub fn snippet(f: &Found, profile: Option<&str>, id: &str) -> String {
    let mut s = format!("[[devices]]\nid = \"{id}\"\nkind = \"scanner\"\n");
    let path = f.path.as_ref().map_or_else(|| f.node.clone(), |p| p.display().to_string());
    match f.kind {
        UsbMode::Serial => {
            let _ = writeln!(s, "transport = \"serial\"\npath = \"{path}\"");
        }
        UsbMode::Keyboard => {
            let _ = writeln!(s, "transport = \"evdev\"\npath = \"{path}\"");
        }
        UsbMode::HidPos => {
            let _ = writeln!(s, "transport = \"hid\"");
            let _ = writeln!(s, "vid = \"{:04x}\"\npid = \"{:04x}\"", f.vid.unwrap_or(0), f.pid.unwrap_or(0));
            if let Some(serial) = &f.serial {
                let _ = writeln!(s, "serial = \"{serial}\"");
            }
        }
    }
    if let Some(p) = profile {
        let _ = writeln!(s, "profile = \"{p}\"");
    }
    let _ = write!(s, "# and bind it: [[lanes]] … scanner = \"{id}\"");
    s
}

/// The report `storeterm devices` prints.
pub fn report(root: &Path, profiles: &Profiles) -> String {
    let found = scan(root);
    if found.is_empty() {
        return "No serial ports, hidraw or by-id input devices found.\n".to_string();
    }
    let mut out = String::new();
    for (n, f) in found.iter().enumerate() {
        let ids = match (f.vid, f.pid) {
            (Some(v), Some(p)) => format!("{v:04x}:{p:04x}"),
            _ => "no USB ids".to_string(),
        };
        let matched = f.vid.zip(f.pid).and_then(|(v, p)| profiles.scanner_by_usb(v, p));
        let kind = match f.kind {
            UsbMode::Serial => "serial",
            UsbMode::HidPos if f.hid_pos => "hidraw, HID POS",
            UsbMode::HidPos => "hidraw (not HID POS)",
            UsbMode::Keyboard => "input",
        };
        let _ = writeln!(
            out,
            "{} [{kind}] {ids} {}",
            f.path.as_ref().map_or(f.node.clone(), |p| p.display().to_string()),
            f.name
        );
        match matched {
            Some((p, mode)) => {
                let _ = writeln!(out, "  profile: {} ({}, {} mode)", p.id, p.model, mode.transport());
            }
            None => {
                let _ = writeln!(out, "  profile: none matches");
            }
        }
        // A HID node that is not HID POS is a keyboard or mouse interface: bind it via evdev.
        if f.kind != UsbMode::HidPos || f.hid_pos {
            let snippet = snippet(f, matched.map(|(p, _)| p.id.as_str()), &format!("scanner-{}", n + 1));
            for line in snippet.lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn hid_uevent_and_descriptor() {
        let (v, p, s, n) = parse_hid_uevent(
            "DRIVER=hid-generic\nHID_ID=0003:00000C2E:00000B87\nHID_NAME=Honeywell Imaging & Mobility 1450g\nHID_UNIQ=17123B4567\n",
        );
        assert_eq!(
            (v, p, s.as_deref(), n.as_str()),
            (Some(0x0c2e), Some(0x0b87), Some("17123B4567"), "Honeywell Imaging & Mobility 1450g")
        );
        // Usage Page (0x8C), Usage (0x02), Collection (Application).
        assert!(has_hid_pos_usage(&[0x06, 0x8C, 0x00, 0x09, 0x02, 0xA1, 0x01]));
        assert!(has_hid_pos_usage(&[0x05, 0x8C]));
        // A keyboard: Usage Page (Generic Desktop), Usage (Keyboard); 0x8C only as data.
        assert!(!has_hid_pos_usage(&[0x05, 0x01, 0x09, 0x06, 0x15, 0x8C]));
        assert!(!has_hid_pos_usage(&[0x06]));
    }

    #[test]
    fn a_fake_sysfs_tree_is_listed_with_profiles_and_snippets() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        let mk = |p: &str| std::fs::create_dir_all(r.join(p)).unwrap();
        let write = |p: &str, t: &[u8]| std::fs::write(r.join(p), t).unwrap();
        // A USB device with a CDC-ACM tty below it.
        mk("sys/devices/usb1/1-1/1-1:1.0/tty/ttyACM0");
        write("sys/devices/usb1/1-1/idVendor", b"1eab\n");
        write("sys/devices/usb1/1-1/idProduct", b"1a06\n");
        write("sys/devices/usb1/1-1/serial", b"NLS123\n");
        mk("sys/class/tty");
        symlink(r.join("sys/devices/usb1/1-1/1-1:1.0/tty/ttyACM0"), r.join("sys/class/tty/ttyACM0")).unwrap();
        symlink(
            r.join("sys/devices/usb1/1-1/1-1:1.0"),
            r.join("sys/devices/usb1/1-1/1-1:1.0/tty/ttyACM0/device"),
        )
        .unwrap();
        mk("dev/serial/by-id");
        symlink("../../ttyACM0", r.join("dev/serial/by-id/usb-Newland_HR22_NLS123-if00")).unwrap();
        // A hidraw HID POS scanner.
        mk("sys/class/hidraw/hidraw1/device");
        write(
            "sys/class/hidraw/hidraw1/device/uevent",
            b"HID_ID=0003:00000C2E:00000B87\nHID_NAME=Honeywell 1450g\nHID_UNIQ=17123B4567\n",
        );
        write("sys/class/hidraw/hidraw1/device/report_descriptor", &[0x06, 0x8C, 0x00, 0x09, 0x02]);
        // A wedge keyboard with a by-id link.
        mk("sys/class/input/event5/device/id");
        write("sys/class/input/event5/device/id/vendor", b"05e0\n");
        write("sys/class/input/event5/device/id/product", b"1200\n");
        write("sys/class/input/event5/device/name", b"Symbol Bar Code Scanner\n");
        mk("dev/input/by-id");
        symlink("../event5", r.join("dev/input/by-id/usb-Symbol_Bar_Code_Scanner-event-kbd")).unwrap();

        let text = report(r, &Profiles::load(None).unwrap());
        assert!(
            text.contains("/dev/serial/by-id/usb-Newland_HR22_NLS123-if00 [serial] 1eab:1a06"),
            "{text}"
        );
        assert!(text.contains("profile: newland-hr22 (Newland HR22 Dorada, serial mode)"), "{text}");
        assert!(
            text.contains("transport = \"hid\"\n    vid = \"0c2e\"\n    pid = \"0b87\"\n    serial = \"17123B4567\""),
            "{text}"
        );
        assert!(text.contains("profile = \"honeywell-1450g\""), "{text}");
        assert!(
            text.contains("transport = \"evdev\"\n    path = \"/dev/input/by-id/usb-Symbol_Bar_Code_Scanner-event-kbd\""),
            "{text}"
        );
        // Every snippet is a valid config.
        let snippets: Vec<String> = scan(r).iter().map(|f| snippet(f, None, "s")).collect();
        for s in snippets {
            let config = format!("[store]\npath = \"/tmp/x\"\n{s}\n");
            crate::config::Config::parse(&config, Path::new("t.toml"), Path::new("/")).unwrap();
        }
    }
}
