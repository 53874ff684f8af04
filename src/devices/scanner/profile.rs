//! Scanner profiles (`devices/<model>.toml` with `kind = "scanner"`): the USB ids a model
//! shows in each of its interface modes, its factory framing, and the report layout of its
//! HID POS mode. A device in the config names its profile; keys set on the device win.

use super::hid_pos::HidPosLayout;
use crate::config::{Framing, Suffix};
use serde::Deserialize;

/// How a scanner presents itself on USB; a setting of the scanner (programmed by scanning
/// a configuration barcode from its manual), each with its own product id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UsbMode {
    /// HID keyboard: read through evdev.
    Keyboard,
    /// USB HID POS (usage page 0x8C): read through hidraw.
    HidPos,
    /// USB CDC-ACM virtual COM port (`/dev/ttyACM*`) or a USB-serial bridge (`ttyUSB*`).
    Serial,
}

impl UsbMode {
    /// The config `transport` for this mode.
    pub fn transport(self) -> &'static str {
        match self {
            UsbMode::Keyboard => "evdev",
            UsbMode::HidPos => "hid",
            UsbMode::Serial => "serial",
        }
    }
}

/// One USB identity of a model.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsbId {
    pub vid: String,
    pub pid: String,
    pub mode: UsbMode,
}

impl UsbId {
    pub fn vid(&self) -> Option<u16> {
        u16::from_str_radix(&self.vid, 16).ok()
    }

    pub fn pid(&self) -> Option<u16> {
        u16::from_str_radix(&self.pid, 16).ok()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFraming {
    prefix: Option<String>,
    suffix: Option<Suffix>,
    gap_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScannerProfile {
    #[allow(dead_code)]
    kind: String,
    model: String,
    #[serde(default)]
    usb: Vec<UsbId>,
    #[serde(default)]
    framing: RawFraming,
    #[serde(default)]
    hid_pos: Option<HidPosLayout>,
    /// Free text for `storeterm devices` (how to switch modes, where the manual says so).
    #[serde(default)]
    notes: Option<String>,
}

/// A scanner model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannerProfile {
    pub id: String,
    pub model: String,
    pub usb: Vec<UsbId>,
    /// Factory framing of its serial/keyboard output.
    pub framing: Framing,
    /// Report layout in HID POS mode.
    pub hid_pos: HidPosLayout,
    pub notes: Option<String>,
}

impl ScannerProfile {
    pub fn parse(id: &str, text: &str) -> Result<ScannerProfile, String> {
        let raw: RawScannerProfile = toml::from_str(text).map_err(|e| e.to_string())?;
        for u in &raw.usb {
            if u.vid().is_none() || u.pid().is_none() || u.vid.len() != 4 || u.pid.len() != 4 {
                return Err(format!("usb id {}:{} must be two groups of four hex digits", u.vid, u.pid));
            }
        }
        let hid_pos = raw.hid_pos.unwrap_or_default();
        hid_pos.validate()?;
        Ok(ScannerProfile {
            id: id.to_string(),
            model: raw.model,
            usb: raw.usb,
            framing: Framing {
                prefix: raw.framing.prefix,
                suffix: raw.framing.suffix,
                gap_ms: raw.framing.gap_ms,
            },
            hid_pos,
            notes: raw.notes,
        })
    }

    /// Which mode of this model a USB id belongs to.
    pub fn mode_of(&self, vid: u16, pid: u16) -> Option<UsbMode> {
        self.usb
            .iter()
            .find(|u| u.vid() == Some(vid) && u.pid() == Some(pid))
            .map(|u| u.mode)
    }
}

/// The device's own keys over its profile's, over the defaults.
pub fn effective_framing(device: &Framing, profile: Option<&ScannerProfile>) -> Framing {
    let from_profile = profile.map(|p| p.framing.clone()).unwrap_or_default();
    Framing {
        prefix: device.prefix.clone().or(from_profile.prefix),
        suffix: device.suffix.or(from_profile.suffix),
        gap_ms: device.gap_ms.or(from_profile.gap_ms),
    }
}

/// With no suffix a scan ends only at a pause; this one when none is configured. Scanners
/// send a code's bytes back to back (well under 10 ms apart at 9600 baud and up), while
/// two scans are at least a trigger pull apart.
pub const DEFAULT_GAP_MS: u64 = 50;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_parses_and_device_keys_win() {
        let text = r#"
kind = "scanner"
model = "Test 1"
[[usb]]
vid = "0c2e"
pid = "0b87"
mode = "hid_pos"
[framing]
suffix = "cr"
gap_ms = 20
"#;
        let p = ScannerProfile::parse("test-1", text).unwrap();
        assert_eq!(p.mode_of(0x0c2e, 0x0b87), Some(UsbMode::HidPos));
        assert_eq!(p.hid_pos, HidPosLayout::default());
        let device = Framing {
            suffix: Some(Suffix::Tab),
            ..Framing::default()
        };
        let f = effective_framing(&device, Some(&p));
        assert_eq!((f.suffix, f.gap_ms), (Some(Suffix::Tab), Some(20)));
        assert!(ScannerProfile::parse("x", &text.replace("0b87", "b87")).is_err());
        assert!(
            ScannerProfile::parse(
                "x",
                &format!("{text}[hid_pos]\nlength_at = 1\ndata_at = 5\ndata_max = 56\nmore_at = 6\nmore_mask = 1\n")
            )
            .is_err()
        );
    }
}
