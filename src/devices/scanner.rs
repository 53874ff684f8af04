//! Barcode scanners: turning the byte stream a scanner sends into one text per scan.
//!
//! A serial (or USB-COM) scanner sends each code followed by a suffix — CR by default on most
//! models, CR LF or LF on others. [`Framer`] is the pure part: feed it whatever the port
//! delivered, in any chunking, and it yields complete scans. [`run_serial`] is the I/O part.

use super::DeviceRegistry;
use super::supervisor::supervise;
use super::transport::{self, DeviceError};
use crate::domain::barcode::MAX_CODE_LEN;
use std::path::PathBuf;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// One scan as read from a device, before barcode validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// The text of one scan, suffix removed.
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
}

/// Splits a scanner's byte stream into scans at CR or LF. A CR LF suffix yields one scan, not
/// a scan and an empty one, because empty frames are dropped.
#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
    /// Discarding the rest of an over-long frame until the next suffix.
    skipping: bool,
}

impl Framer {
    pub fn new() -> Framer {
        Framer::default()
    }

    /// Feed bytes; complete frames are appended to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<Frame>) {
        for &b in bytes {
            if b == b'\r' || b == b'\n' {
                if self.skipping {
                    self.skipping = false;
                } else if !self.buf.is_empty() {
                    out.push(self.take());
                }
                continue;
            }
            if self.skipping {
                continue;
            }
            if self.buf.len() == MAX_CODE_LEN {
                self.buf.clear();
                self.skipping = true;
                out.push(Frame::Garbage(FrameError::TooLong));
                continue;
            }
            self.buf.push(b);
        }
    }

    fn take(&mut self) -> Frame {
        let bytes = std::mem::take(&mut self.buf);
        match String::from_utf8(bytes) {
            Ok(text) => Frame::Code(text),
            Err(_) => Frame::Garbage(FrameError::NotText),
        }
    }
}

/// A scan from a device, on its way to whatever the device is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanEvent {
    pub device: String,
    pub frame: Frame,
}

/// Read a serial scanner until `shutdown`, reopening it whenever it fails or disappears, and
/// send every frame to `sink`.
pub async fn run_serial(
    id: String,
    path: PathBuf,
    baud: u32,
    sink: mpsc::Sender<ScanEvent>,
    registry: DeviceRegistry,
    shutdown: CancellationToken,
) {
    supervise(
        &id,
        &registry,
        &shutdown,
        || {
            let path = path.clone();
            async move { transport::open_serial(&path, baud) }
        },
        |port| read_frames(&id, port, &sink),
    )
    .await;
}

/// Read frames from any byte source until it ends or fails.
pub async fn read_frames<R: tokio::io::AsyncRead + Unpin>(
    device: &str,
    mut port: R,
    sink: &mpsc::Sender<ScanEvent>,
) -> Result<(), DeviceError> {
    let mut framer = Framer::new();
    let mut buf = [0u8; 256];
    let mut frames = Vec::new();
    loop {
        let n = port.read(&mut buf).await.map_err(|e| DeviceError::io("read", &e))?;
        if n == 0 {
            return Ok(());
        }
        framer.push(&buf[..n], &mut frames);
        for frame in frames.drain(..) {
            let event = ScanEvent {
                device: device.to_string(),
                frame,
            };
            if sink.send(event).await.is_err() {
                // Whatever the scanner fed has shut down; so does the scanner.
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frames(chunks: &[&[u8]]) -> Vec<Frame> {
        let mut framer = Framer::new();
        let mut out = Vec::new();
        for chunk in chunks {
            framer.push(chunk, &mut out);
        }
        out
    }

    fn code(s: &str) -> Frame {
        Frame::Code(s.into())
    }

    #[test]
    fn suffixes_cr_lf_crlf() {
        assert_eq!(frames(&[b"4601234567893\r"]), vec![code("4601234567893")]);
        assert_eq!(frames(&[b"1\n2\r\n3\r"]), vec![code("1"), code("2"), code("3")]);
        assert_eq!(frames(&[b"46012", b"34567893", b"\r"]), vec![code("4601234567893")]);
        assert_eq!(frames(&[b"no suffix yet"]), vec![]);
    }

    #[test]
    fn gs_inside_a_code_is_kept() {
        assert_eq!(
            frames(&[b"0104601234567893215abc\x1d91EE06\r"]),
            vec![code("0104601234567893215abc\u{1d}91EE06")]
        );
    }

    #[test]
    fn garbage_is_reported_and_the_stream_recovers() {
        assert_eq!(
            frames(&[b"\xff\xfe\r4601234567893\r"]),
            vec![Frame::Garbage(FrameError::NotText), code("4601234567893")]
        );
        let long = vec![b'7'; MAX_CODE_LEN + 10];
        assert_eq!(frames(&[&long, b"\r1\r"]), vec![Frame::Garbage(FrameError::TooLong), code("1")]);
    }

    proptest! {
        /// However the port chunks the bytes, the same scans come out.
        #[test]
        fn chunking_does_not_matter(codes in proptest::collection::vec("[0-9A-Za-z]{1,40}", 1..10), cuts in proptest::collection::vec(0usize..400, 0..10)) {
            let stream: Vec<u8> = codes.iter().flat_map(|c| c.bytes().chain(*b"\r\n")).collect();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (stream.len() + 1)).collect();
            cuts.sort();
            let mut chunks = Vec::new();
            let mut start = 0;
            for cut in cuts {
                chunks.push(&stream[start..cut]);
                start = cut;
            }
            chunks.push(&stream[start..]);
            let expected: Vec<Frame> = codes.iter().map(|c| code(c)).collect();
            prop_assert_eq!(frames(&chunks), expected);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let _ = frames(&[&bytes]);
        }
    }
}
