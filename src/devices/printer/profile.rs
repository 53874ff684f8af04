//! A printer model's facts as data: width in characters, which `ESC t` number selects which
//! code table, cutter and drawer behaviour. Read from `devices/<id>.toml`.

use super::codepage::{self, CodeTable};
use super::escpos::{DrawerPin, TextSetup};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrinterProfile {
    /// The file name without `.toml`.
    #[serde(skip)]
    pub id: String,
    pub kind: String,
    pub model: String,
    pub paper_width_mm: u32,
    /// Characters per line in the default font (Font A).
    pub columns: usize,
    /// Characters per line in the small font (Font B), when the model has one.
    #[serde(default)]
    pub columns_font_b: Option<usize>,
    /// Printable width in dots (raster images are cut to it).
    #[serde(default = "default_dots")]
    pub dots: u16,
    pub codepage: CodepageSetting,
    #[serde(default)]
    pub status: StatusSetting,
    #[serde(default)]
    pub features: FeatureSetting,
    /// USB ids, for the `usb` transport and for recognising a plugged-in printer.
    #[serde(default)]
    pub usb: Option<UsbIds>,
    #[serde(default)]
    pub cut: CutSetting,
    #[serde(default)]
    pub drawer: DrawerSetting,
    /// What `₽` prints as on this model.
    #[serde(default = "default_ruble")]
    pub ruble: String,
    #[serde(skip, default = "default_table")]
    table: &'static CodeTable,
    /// The `second` and `fallback` pages with their `ESC t` numbers, in the order tried.
    #[serde(skip)]
    fallback_tables: Vec<(&'static CodeTable, u8)>,
}

/// A further code page for characters the first lacks (switched to with `ESC t` around them).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecondPage {
    pub table: String,
    pub select: u8,
}

/// What the model reports about itself.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusSetting {
    /// Answers `DLE EOT n` (on a bidirectional link).
    #[serde(default = "yes")]
    pub realtime: bool,
    /// Supports automatic status back (`GS a`); storeterm enables it on the link.
    #[serde(default)]
    pub asb: bool,
    /// How the drawer's switch is wired to connector pin 3: `"open_high"` or `"open_low"`.
    /// Unset: the drawer state is not shown (a guess would tell the cashier a closed drawer
    /// is open).
    #[serde(default)]
    pub drawer_sensor: Option<DrawerSensor>,
}

impl Default for StatusSetting {
    fn default() -> Self {
        StatusSetting {
            realtime: true,
            asb: false,
            drawer_sensor: None,
        }
    }
}

/// The level of pin 3 that means "drawer open".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DrawerSensor {
    OpenHigh,
    OpenLow,
}

impl StatusSetting {
    /// For [`super::status::PrinterStatus::words`].
    pub fn drawer_open_when_high(&self) -> Option<bool> {
        self.drawer_sensor.map(|s| s == DrawerSensor::OpenHigh)
    }
}

/// Optional commands the model has.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSetting {
    /// Prints QR codes itself (`GS ( k`); otherwise storeterm sends them as raster images.
    #[serde(default = "yes")]
    pub qr: bool,
    /// Rows per `GS v 0` band: small buffers of cheap models overflow on one tall image.
    #[serde(default = "default_band")]
    pub raster_band: u16,
}

impl Default for FeatureSetting {
    fn default() -> Self {
        FeatureSetting {
            qr: true,
            raster_band: default_band(),
        }
    }
}

/// USB vendor and product id.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UsbIds {
    pub vid: u16,
    pub pid: u16,
}

fn yes() -> bool {
    true
}

fn default_band() -> u16 {
    24
}

fn default_dots() -> u16 {
    576
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodepageSetting {
    /// Our table name (`cp866`).
    pub table: String,
    /// The model's `ESC t` number for that table.
    pub select: u8,
    /// Send `FS .` before selecting the table.
    #[serde(default)]
    pub cancel_chinese: bool,
    /// Where characters the first table lacks are looked for first.
    #[serde(default)]
    pub second: Option<SecondPage>,
    /// Further pages tried in order after `second`, for what neither has: one model's pages
    /// together cover Russian, Belarusian, Ukrainian and Kazakh (e.g. CP866, then KZ-1048 for
    /// Kazakh and і, then WPC1251 for Ukrainian ґ).
    #[serde(default)]
    pub fallback: Vec<SecondPage>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CutSetting {
    /// The model has a cutter (Sunmi's built-in printers and many 58 mm clones do not).
    #[serde(default = "yes")]
    pub cutter: bool,
    pub partial: bool,
    /// Lines fed before cutting, so the last printed line clears the cutter.
    pub feed_lines: u8,
}

impl Default for CutSetting {
    fn default() -> Self {
        CutSetting {
            cutter: true,
            partial: true,
            feed_lines: 4,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrawerSetting {
    pub pin: DrawerPin,
    pub on_ms: u16,
    pub off_ms: u16,
}

impl Default for DrawerSetting {
    fn default() -> Self {
        DrawerSetting {
            pin: DrawerPin::Pin2,
            on_ms: 50,
            off_ms: 500,
        }
    }
}

fn default_ruble() -> String {
    "руб.".to_string()
}

fn default_table() -> &'static CodeTable {
    &codepage::CP866
}

impl PrinterProfile {
    /// Parse and check a profile file.
    pub fn parse(id: &str, text: &str) -> Result<PrinterProfile, String> {
        let mut profile: PrinterProfile = toml::from_str(text).map_err(|e| e.to_string())?;
        profile.id = id.to_string();
        profile.table = codepage::table(&profile.codepage.table)
            .ok_or_else(|| format!("codepage.table: unknown table \"{}\"", profile.codepage.table))?;
        let pages: Vec<(&str, &SecondPage)> = profile
            .codepage
            .second
            .iter()
            .map(|p| ("codepage.second", p))
            .chain(profile.codepage.fallback.iter().map(|p| ("codepage.fallback", p)))
            .collect();
        for (key, page) in pages {
            let table = codepage::table(&page.table).ok_or_else(|| format!("{key}.table: unknown table \"{}\"", page.table))?;
            let taken = page.select == profile.codepage.select || profile.fallback_tables.iter().any(|(_, n)| *n == page.select);
            if taken {
                return Err(format!(
                    "{key}.select: ESC t {} is already another page of this profile",
                    page.select
                ));
            }
            profile.fallback_tables.push((table, page.select));
        }
        if profile.features.raster_band == 0 {
            return Err("features.raster_band: must be at least 1".into());
        }
        if !(16..=80).contains(&profile.columns) {
            return Err(format!("columns: {} is not a receipt width (16..80)", profile.columns));
        }
        Ok(profile)
    }

    pub fn text_setup(&self) -> TextSetup<'_> {
        TextSetup {
            table: self.table,
            select: self.codepage.select,
            cancel_chinese: self.codepage.cancel_chinese,
            ruble: &self.ruble,
            fallbacks: &self.fallback_tables,
        }
    }

    /// Every code page of the profile with its `ESC t` number: the first, then the
    /// fallbacks in the order they are tried.
    pub fn code_pages(&self) -> Vec<(&'static CodeTable, u8)> {
        std::iter::once((self.table, self.codepage.select))
            .chain(self.fallback_tables.iter().copied())
            .collect()
    }

    /// The code table selected by `ESC t n` on this model, if the profile knows `n`.
    pub fn table_for(&self, select: u8) -> Option<&'static CodeTable> {
        if select == self.codepage.select {
            return Some(self.table);
        }
        self.fallback_tables.iter().find(|(_, n)| *n == select).map(|(t, _)| *t)
    }
}
