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
    /// Characters per line in the default font.
    pub columns: usize,
    pub codepage: CodepageSetting,
    #[serde(default)]
    pub cut: CutSetting,
    #[serde(default)]
    pub drawer: DrawerSetting,
    /// What `₽` prints as on this model.
    #[serde(default = "default_ruble")]
    pub ruble: String,
    #[serde(skip, default = "default_table")]
    table: &'static CodeTable,
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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CutSetting {
    pub partial: bool,
    /// Lines fed before cutting, so the last printed line clears the cutter.
    pub feed_lines: u8,
}

impl Default for CutSetting {
    fn default() -> Self {
        CutSetting {
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
        }
    }

    /// The code table selected by `ESC t n` on this model, if the profile knows `n`.
    pub fn table_for(&self, select: u8) -> Option<&'static CodeTable> {
        (select == self.codepage.select).then_some(self.table)
    }
}
