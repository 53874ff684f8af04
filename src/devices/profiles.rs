//! Device profiles: one TOML file per supported model in `devices/`, built into the binary,
//! plus any the admin adds in `profiles_dir` (which override built-in ones of the same id).
//! A profile's id is its file name without `.toml`.

use crate::devices::printer::profile::PrinterProfile;
use crate::devices::scanner::profile::ScannerProfile;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/profiles.rs"));
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("device profile {id}: {message}")]
    Invalid { id: String, message: String },
    #[error("cannot read device profiles from {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("no device profile \"{id}\" (known: {known})")]
    Unknown { id: String, known: String },
}

/// Every profile, by kind and id.
#[derive(Debug, Clone, Default)]
pub struct Profiles {
    pub printers: BTreeMap<String, PrinterProfile>,
    pub scanners: BTreeMap<String, ScannerProfile>,
}

#[derive(Deserialize)]
struct KindOnly {
    kind: String,
}

impl Profiles {
    /// The built-in profiles, then `dir`'s on top.
    pub fn load(dir: Option<&Path>) -> Result<Profiles, ProfileError> {
        let mut profiles = Profiles::default();
        for (id, text) in embedded::EMBEDDED {
            profiles.add(id, text)?;
        }
        if let Some(dir) = dir {
            let read_err = |source| ProfileError::Read {
                path: dir.to_path_buf(),
                source,
            };
            for entry in std::fs::read_dir(dir).map_err(read_err)? {
                let path = entry.map_err(read_err)?.path();
                if path.extension().is_some_and(|e| e == "toml") {
                    let id = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                    let text = std::fs::read_to_string(&path).map_err(read_err)?;
                    profiles.add(&id, &text)?;
                }
            }
        }
        Ok(profiles)
    }

    fn add(&mut self, id: &str, text: &str) -> Result<(), ProfileError> {
        let invalid = |message: String| ProfileError::Invalid {
            id: id.to_string(),
            message,
        };
        let kind: KindOnly = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        // Other kinds are read by the modules that use them.
        if kind.kind == "printer" {
            let profile = PrinterProfile::parse(id, text).map_err(invalid)?;
            self.printers.insert(id.to_string(), profile);
        } else if kind.kind == "scanner" {
            let profile = ScannerProfile::parse(id, text).map_err(invalid)?;
            self.scanners.insert(id.to_string(), profile);
        }
        Ok(())
    }

    pub fn scanner(&self, id: &str) -> Result<&ScannerProfile, ProfileError> {
        self.scanners.get(id).ok_or_else(|| ProfileError::Unknown {
            id: id.to_string(),
            known: self.scanners.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    }

    /// The scanner profile whose model has this USB id, with the mode the id means.
    pub fn scanner_by_usb(&self, vid: u16, pid: u16) -> Option<(&ScannerProfile, crate::devices::scanner::profile::UsbMode)> {
        self.scanners.values().find_map(|p| p.mode_of(vid, pid).map(|mode| (p, mode)))
    }

    pub fn printer(&self, id: &str) -> Result<&PrinterProfile, ProfileError> {
        self.printers.get(id).ok_or_else(|| ProfileError::Unknown {
            id: id.to_string(),
            known: self.printers.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_profile_parses() {
        let profiles = Profiles::load(None).unwrap();
        assert!(profiles.printers.contains_key("generic-80mm"));
        assert_eq!(profiles.printer("generic-58mm").unwrap().columns, 32);
        let err = profiles.printer("epson-tm-xyz").unwrap_err().to_string();
        assert!(err.contains("generic-80mm"), "{err}");
    }

    #[test]
    fn every_printer_model_of_the_issue_has_a_profile() {
        let profiles = Profiles::load(None).unwrap();
        for id in [
            "epson-tm-t20iii",
            "epson-tm-t88v",
            "epson-tm-t88vi",
            "epson-tm-m30",
            "xprinter-xp-58",
            "xprinter-xp-80",
            "xprinter-xp-q200",
            "rongta-rp326",
            "rongta-rp80",
            "star-tsp143",
            "citizen-ct-s310ii",
            "hprt-tp806",
            "sunmi-58mm",
            "atol-rp326",
            "atol-30f",
            "posiflex-pp-6900",
            "generic-58mm",
            "generic-80mm",
        ] {
            let p = profiles.printer(id).unwrap();
            assert_eq!(p.id, id);
            assert!(p.columns_font_b.is_none_or(|b| b > p.columns), "{id}");
            // 12-dot Font A characters fill the line.
            assert_eq!(usize::from(p.dots) / 12, p.columns, "{id}");
        }
        let star = profiles.printer("star-tsp143").unwrap();
        assert_eq!((star.codepage.select, star.codepage.second.as_ref().unwrap().select), (10, 34));
        assert!(!profiles.printer("sunmi-58mm").unwrap().cut.cutter);
    }

    #[test]
    fn every_built_in_scanner_profile_parses_and_usb_ids_are_unique() {
        let profiles = Profiles::load(None).unwrap();
        for id in [
            "honeywell-1450g",
            "honeywell-1900",
            "zebra-ds2208",
            "datalogic-gryphon",
            "newland-hr22",
            "atol-sb2108",
            "mertech-610",
        ] {
            assert!(profiles.scanners.contains_key(id), "{id}");
        }
        let (p, mode) = profiles.scanner_by_usb(0x1eab, 0x1a10).unwrap();
        assert_eq!(
            (p.id.as_str(), mode),
            ("newland-hr22", crate::devices::scanner::profile::UsbMode::HidPos)
        );
        assert_eq!(p.hid_pos.data_at, 2);
        // Two models may share ids (1450g and 1470g are one platform), but one id never means
        // two different modes.
        let mut seen = std::collections::BTreeMap::new();
        for p in profiles.scanners.values() {
            for u in &p.usb {
                let previous = seen.insert((u.vid.clone(), u.pid.clone()), u.mode);
                assert!(previous.is_none_or(|m| m == u.mode), "{}:{}", u.vid, u.pid);
            }
        }
    }

    #[test]
    fn a_profile_dir_overrides_built_ins() {
        let dir = tempfile::tempdir().unwrap();
        let text = embedded::EMBEDDED.iter().find(|(id, _)| *id == "generic-80mm").unwrap().1;
        std::fs::write(dir.path().join("generic-80mm.toml"), text.replace("columns = 48", "columns = 42")).unwrap();
        let profiles = Profiles::load(Some(dir.path())).unwrap();
        assert_eq!(profiles.printer("generic-80mm").unwrap().columns, 42);
    }
}
