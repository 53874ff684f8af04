//! USB HID POS scanners (HID usage page 0x8C, "Bar Code Scanner"): each scan arrives as one
//! or more fixed-size input reports, each carrying a slice of the code, its length, the AIM
//! symbology identifier and a flag saying more reports follow.
//!
//! The byte positions differ between vendors, so they are profile data ([`HidPosLayout`]);
//! the decoder is pure — reports in, frames out — and is tested on recorded report streams.
//!
//! The default layout is Honeywell's 64-byte report, as seen in a public recording from a
//! Voyager 1602g (tests/fixtures/scanners): byte 0 report ID 0x02, byte 1 the number of data
//! bytes in this report (at most 56), bytes 2–4 the AIM identifier (`]E0`), bytes 5–60 data,
//! byte 61 Honeywell's own code ID, byte 63 bit 0 set while more reports of the same scan
//! follow.

use super::{Frame, FrameError};
use crate::domain::barcode::MAX_CODE_LEN;
use serde::Deserialize;

/// Where things are in one input report.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HidPosLayout {
    /// The report ID of scanned-data reports; other reports (status, trigger) are ignored.
    /// `None` when the device does not number its reports.
    #[serde(default)]
    pub report_id: Option<u8>,
    /// Offset of the byte holding the data length of this report.
    pub length_at: usize,
    /// Offset of the three AIM identifier bytes, if the report carries them.
    #[serde(default)]
    pub aim_at: Option<usize>,
    /// Offset of the first data byte.
    pub data_at: usize,
    /// Most data bytes one report can carry.
    pub data_max: usize,
    /// Offset and mask of the "more data follows" flag.
    pub more_at: usize,
    pub more_mask: u8,
}

impl Default for HidPosLayout {
    fn default() -> Self {
        HidPosLayout {
            report_id: Some(0x02),
            length_at: 1,
            aim_at: Some(2),
            data_at: 5,
            data_max: 56,
            more_at: 63,
            more_mask: 0x01,
        }
    }
}

impl HidPosLayout {
    /// Check that the offsets make sense together (profile files are written by people).
    pub fn validate(&self) -> Result<(), String> {
        let data_end = self.data_at + self.data_max;
        if self.data_max == 0 || self.data_at <= self.length_at || self.more_at < data_end && self.more_at >= self.data_at {
            return Err(format!(
                "hid_pos: data {}..{} overlaps the length byte ({}) or the continuation flag ({})",
                self.data_at, data_end, self.length_at, self.more_at
            ));
        }
        if self.aim_at.is_some_and(|a| a + 3 > self.data_at && a < data_end) {
            return Err("hid_pos: the AIM identifier overlaps the data".into());
        }
        Ok(())
    }
}

/// Reassembles scans from HID POS reports.
#[derive(Debug, Default)]
pub struct HidPosDecoder {
    layout: HidPosLayout,
    aim: Option<[u8; 3]>,
    buf: Vec<u8>,
    too_long: bool,
}

/// Why one report could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportSkip {
    /// Another report ID (status, trigger, feature): not scan data.
    OtherReport(u8),
}

impl HidPosDecoder {
    pub fn new(layout: HidPosLayout) -> HidPosDecoder {
        HidPosDecoder {
            layout,
            ..HidPosDecoder::default()
        }
    }

    /// Feed one input report as read from the device; a completed scan is appended to `out`.
    pub fn push(&mut self, report: &[u8], out: &mut Vec<Frame>) -> Result<(), ReportSkip> {
        let l = &self.layout;
        if let Some(id) = l.report_id {
            match report.first() {
                Some(&first) if first == id => {}
                Some(&other) => return Err(ReportSkip::OtherReport(other)),
                None => return Err(ReportSkip::OtherReport(0)),
            }
        }
        let Some(&len) = report.get(l.length_at) else {
            self.reset();
            out.push(Frame::Garbage(FrameError::BadReport));
            return Ok(());
        };
        let len = usize::from(len);
        let Some(data) = report.get(l.data_at..l.data_at + len).filter(|_| len <= l.data_max) else {
            self.reset();
            out.push(Frame::Garbage(FrameError::BadReport));
            return Ok(());
        };
        if self.buf.is_empty() && !self.too_long {
            self.aim = l
                .aim_at
                .and_then(|a| report.get(a..a + 3))
                .and_then(|b| <[u8; 3]>::try_from(b).ok());
        }
        if self.buf.len() + data.len() > MAX_CODE_LEN {
            self.too_long = true;
            self.buf.clear();
        } else if !self.too_long {
            self.buf.extend_from_slice(data);
        }
        let more = report.get(l.more_at).is_some_and(|b| b & l.more_mask != 0);
        if !more {
            out.push(self.finish());
        }
        Ok(())
    }

    fn reset(&mut self) {
        self.buf.clear();
        self.too_long = false;
        self.aim = None;
    }

    fn finish(&mut self) -> Frame {
        let too_long = self.too_long;
        let aim = self.aim.take();
        let data = std::mem::take(&mut self.buf);
        self.too_long = false;
        if too_long {
            return Frame::Garbage(FrameError::TooLong);
        }
        let Ok(text) = String::from_utf8(data) else {
            return Frame::Garbage(FrameError::NotText);
        };
        // Pass a well-formed AIM identifier on in front of the data, where the barcode
        // grammar reads it (`]d2` marks GS1 even without a leading FNC1) — unless the
        // scanner already put it into the data itself.
        match aim {
            Some([b']', s, m]) if s.is_ascii_alphabetic() && m.is_ascii_alphanumeric() => {
                let prefix = format!("]{}{}", char::from(s), char::from(m));
                if text.starts_with(&prefix) {
                    Frame::Code(text)
                } else {
                    Frame::Code(prefix + &text)
                }
            }
            _ => Frame::Code(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Build Honeywell-layout reports for `data`, 56 bytes each, as a scanner would.
    pub(crate) fn honeywell_reports(aim: &str, data: &[u8]) -> Vec<[u8; 64]> {
        let chunks: Vec<&[u8]> = if data.is_empty() {
            vec![&[][..]]
        } else {
            data.chunks(56).collect()
        };
        let last = chunks.len() - 1;
        chunks
            .iter()
            .enumerate()
            .map(|(i, chunk)| {
                let mut r = [0u8; 64];
                r[0] = 0x02;
                r[1] = chunk.len() as u8;
                r[2..5].copy_from_slice(aim.as_bytes());
                r[5..5 + chunk.len()].copy_from_slice(chunk);
                r[63] = u8::from(i != last);
                r
            })
            .collect()
    }

    fn decode(reports: &[[u8; 64]]) -> Vec<Frame> {
        let mut d = HidPosDecoder::new(HidPosLayout::default());
        let mut out = Vec::new();
        for r in reports {
            d.push(r, &mut out).unwrap();
        }
        out
    }

    #[test]
    fn one_report_scan_gets_its_aim_id() {
        assert_eq!(
            decode(&honeywell_reports("]E0", b"4601234567893")),
            vec![Frame::Code("]E04601234567893".into())]
        );
    }

    #[test]
    fn a_marking_code_longer_than_one_report() {
        let code = "0104601234567893215abcDEF+12/=\u{1d}91EE06\u{1d}92MDEGCCqGSM49AwEHA0IABFm4HA6dbsR5mIkb6dTzpEk=";
        let reports = honeywell_reports("]d2", code.as_bytes());
        assert_eq!(reports.len(), 2);
        assert_eq!(decode(&reports), vec![Frame::Code(format!("]d2{code}"))]);
    }

    #[test]
    fn other_reports_and_broken_lengths() {
        let mut d = HidPosDecoder::new(HidPosLayout::default());
        let mut out = Vec::new();
        assert_eq!(d.push(&[0x04, 1, 0], &mut out), Err(ReportSkip::OtherReport(4)));
        let mut bad = honeywell_reports("]E0", b"1")[0];
        bad[1] = 60;
        d.push(&bad, &mut out).unwrap();
        d.push(&[0x02], &mut out).unwrap();
        assert_eq!(out, vec![Frame::Garbage(FrameError::BadReport); 2]);
        // The decoder recovers on the next scan.
        d.push(&honeywell_reports("]E0", b"96385074")[0], &mut out).unwrap();
        assert_eq!(out[2], Frame::Code("]E096385074".into()));
    }

    #[test]
    fn layouts_are_checked() {
        assert!(HidPosLayout::default().validate().is_ok());
        let bad = HidPosLayout {
            more_at: 10,
            ..HidPosLayout::default()
        };
        assert!(bad.validate().is_err());
    }

    proptest! {
        #[test]
        fn any_code_survives_any_number_of_reports(code in "[ -~\u{1d}]{1,400}") {
            let reports = honeywell_reports("]C1", code.as_bytes());
            prop_assert_eq!(decode(&reports), vec![Frame::Code(format!("]C1{code}"))]);
        }

        #[test]
        fn arbitrary_reports_never_panic(reports in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..20)) {
            let mut d = HidPosDecoder::new(HidPosLayout::default());
            let mut out = Vec::new();
            for r in &reports {
                let _ = d.push(r, &mut out);
            }
        }
    }
}
