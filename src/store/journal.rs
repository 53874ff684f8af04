//! The lane journal: open-receipt edits that must survive `kill -9`, cheaper than an fsync.
//!
//! A scan, a quantity change or a void changes only the open receipt. Waiting for an fsync on
//! every one would put the disk's flush latency into every beep of the scanner, and a power cut
//! may lose an unpaid receipt anyway (the customer is still standing there). So these edits
//! are appended to a per-lane journal file with one `write(2)` and no fsync: once the call
//! returns, the bytes are in the kernel's page cache, which a killed process cannot lose.
//!
//! Crash consistency:
//! - every record is `len (u32 LE) ‖ crc32 (u32 LE) ‖ payload`, written by one `write_all` of a
//!   buffer built beforehand; on reading, the first record whose length or checksum does not
//!   match ends the journal (a torn tail after a power cut) and the file is cut there;
//! - the payload starts with the lane's version (`u64` BE), which grows with every change,
//!   durable or not; the store keeps the version of the lane's last durable state, so a journal
//!   record counts only when it is newer than that — an old journal left behind by a crash
//!   between a durable commit and the journal's reset is ignored;
//! - after every durable commit of the lane the journal is emptied (it holds nothing newer) —
//!   lazily: the commit only marks it stale, and the lane's next append truncates it first, in
//!   the same blocking call. The payment's answer therefore never waits for an `ftruncate`
//!   (which on ext4 queues behind the journal commit of the store's own fsync), and a crash
//!   before the truncation leaves records the version rule above already ignores.
//!
//! A power cut may lose what the page cache held: at most the edits of the open receipt since
//! its last durable change — never a payment, a closed receipt or a document.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A journal past this size is folded into a durable commit of the lane and emptied, so a
/// receipt of a thousand lines does not leave a journal of its thousand versions.
pub(super) const FOLD_AT: u64 = 4 << 20;

/// A record longer than this is not a record (a damaged length field).
const MAX_RECORD: u32 = 64 << 20;

/// The journals of every lane, in one directory.
pub(super) struct Journals {
    dir: PathBuf,
    files: Mutex<HashMap<String, Arc<Mutex<LaneJournal>>>>,
}

/// One lane's journal file.
struct LaneJournal {
    file: File,
    /// Everything in the file is older than the lane's durable state: empty it before the
    /// next append.
    stale: bool,
    /// The file's size, once known: appends keep it, so no `fstat` per record.
    len: Option<u64>,
}

impl LaneJournal {
    fn append(&mut self, record: &[u8]) -> std::io::Result<u64> {
        let written = self.file.write_all(record);
        let len = match (written, self.len) {
            (Ok(()), Some(len)) => len + record.len() as u64,
            // After a failed write the file may hold part of the record: ask it.
            (written, _) => {
                self.len = None;
                written?;
                self.file.metadata()?.len()
            }
        };
        self.len = Some(len);
        Ok(len)
    }
}

impl Journals {
    pub(super) fn open(dir: &Path) -> std::io::Result<Journals> {
        std::fs::create_dir_all(dir)?;
        Ok(Journals {
            dir: dir.to_path_buf(),
            files: Mutex::new(HashMap::new()),
        })
    }

    /// Lane ids come from the config; hex keeps any id a safe file name.
    fn path(&self, lane: &str) -> PathBuf {
        let hex: String = lane.bytes().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("lane-{hex}.log"))
    }

    fn file(&self, lane: &str) -> std::io::Result<Arc<Mutex<LaneJournal>>> {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(file) = files.get(lane) {
            return Ok(file.clone());
        }
        let file = OpenOptions::new().read(true).append(true).create(true).open(self.path(lane))?;
        let file = Arc::new(Mutex::new(LaneJournal {
            file,
            stale: false,
            len: None,
        }));
        files.insert(lane.to_string(), file.clone());
        Ok(file)
    }

    /// The newest intact record of a lane's journal, `(version, payload)`. A torn or damaged
    /// tail is cut off the file, so the next append follows the last good record.
    pub(super) fn latest(&self, lane: &str) -> std::io::Result<Option<(u64, Vec<u8>)>> {
        let journal = self.file(lane)?;
        let mut journal = journal.lock().unwrap_or_else(|e| e.into_inner());
        if journal.stale {
            return Ok(None);
        }
        journal.len = None;
        let file = &mut journal.file;
        let mut bytes = Vec::new();
        file.seek(SeekFrom::Start(0))?;
        file.read_to_end(&mut bytes)?;
        let (records, good) = parse(&bytes);
        if good < bytes.len() {
            tracing::warn!(
                lane,
                kept = good,
                dropped = bytes.len() - good,
                "lane journal ends in a torn record; cut off"
            );
            file.set_len(good as u64)?;
        }
        journal.len = Some(good as u64);
        Ok(records.into_iter().max_by_key(|(version, _)| *version))
    }

    /// Append one record and return the journal's size. The bytes are in the page cache when
    /// this returns (survives `kill -9`).
    ///
    /// A plain append is one `write(2)` into the page cache, made right here: handing it to a
    /// blocking thread costs two thread wake-ups, more than the write, on every scan. The
    /// first append after a durable commit empties the file first, and an `ftruncate` can
    /// wait for the file system's journal, so that one runs off the async runtime.
    pub(super) async fn append(&self, lane: &str, version: u64, payload: &[u8]) -> std::io::Result<u64> {
        let file = self.file(lane)?;
        let record = frame(version, payload);
        {
            let mut journal = file.lock().unwrap_or_else(|e| e.into_inner());
            if !journal.stale {
                return journal.append(&record);
            }
        }
        run_blocking(move || {
            let mut journal = file.lock().unwrap_or_else(|e| e.into_inner());
            if journal.stale {
                journal.file.set_len(0)?;
                journal.len = Some(0);
                journal.stale = false;
            }
            journal.append(&record)
        })
        .await
    }

    /// The lane's durable state is now newer than anything in its journal: the journal is
    /// emptied before its next append (see the module doc for why not now).
    pub(super) fn reset(&self, lane: &str) -> std::io::Result<()> {
        let journal = self.file(lane)?;
        journal.lock().unwrap_or_else(|e| e.into_inner()).stale = true;
        Ok(())
    }
}

async fn run_blocking<T: Send + 'static>(f: impl FnOnce() -> std::io::Result<T> + Send + 'static) -> std::io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(format!("journal write task failed: {e}"))))
}

/// One record: `len ‖ crc32 ‖ version ‖ payload`.
fn frame(version: u64, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(8 + payload.len());
    body.extend_from_slice(&version.to_be_bytes());
    body.extend_from_slice(payload);
    let mut record = Vec::with_capacity(8 + body.len());
    record.extend_from_slice(&(body.len() as u32).to_le_bytes());
    record.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    record.extend_from_slice(&body);
    record
}

/// Every intact record from the start, and where the intact part ends.
fn parse(bytes: &[u8]) -> (Vec<(u64, Vec<u8>)>, usize) {
    let mut records = Vec::new();
    let mut at = 0;
    while let Some(header) = bytes.get(at..at + 8) {
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if !(8..=MAX_RECORD).contains(&len) {
            break;
        }
        let Some(body) = bytes.get(at + 8..at + 8 + len as usize) else {
            break;
        };
        if crc32fast::hash(body) != crc {
            break;
        }
        let version = u64::from_be_bytes(body[..8].try_into().unwrap_or_default());
        records.push((version, body[8..].to_vec()));
        at += 8 + len as usize;
    }
    (records, at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn torn_and_flipped_tails_end_the_journal_at_the_last_good_record() {
        let mut bytes = frame(1, b"one");
        bytes.extend(frame(2, b"two"));
        let good = bytes.len();
        bytes.extend(&frame(3, b"three")[..7]);
        let (records, end) = parse(&bytes);
        assert_eq!(records, vec![(1, b"one".to_vec()), (2, b"two".to_vec())]);
        assert_eq!(end, good);

        let mut flipped = frame(1, b"one");
        let second = flipped.len();
        flipped.extend(frame(2, b"two"));
        let last = flipped.len() - 1;
        flipped[last] ^= 0x40;
        let (records, end) = parse(&flipped);
        assert_eq!(records.len(), 1);
        assert_eq!(end, second);
    }

    #[tokio::test]
    async fn the_newest_record_wins_and_a_reset_empties_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let journals = Journals::open(dir.path()).unwrap();
        journals.append("1", 4, b"four").await.unwrap();
        journals.append("1", 5, b"five").await.unwrap();
        journals.append("кассa/2", 1, b"x").await.unwrap();
        assert_eq!(journals.latest("1").unwrap(), Some((5, b"five".to_vec())));
        journals.reset("1").unwrap();
        assert_eq!(journals.latest("1").unwrap(), None);
        // Emptied before the next append, so what follows a reset is all there is.
        let size = journals.append("1", 6, b"six").await.unwrap();
        assert_eq!(journals.latest("1").unwrap(), Some((6, b"six".to_vec())));
        assert_eq!(std::fs::metadata(journals.path("1")).unwrap().len(), frame(6, b"six").len() as u64);
        assert_eq!(size, frame(6, b"six").len() as u64, "the size the fold is judged by");
        // A torn tail is cut, and the next append follows the last good record.
        let path = journals.path("кассa/2");
        drop(journals);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&[9, 0, 0]).unwrap();
        let journals = Journals::open(dir.path()).unwrap();
        assert_eq!(journals.latest("кассa/2").unwrap(), Some((1, b"x".to_vec())));
        let size = journals.append("кассa/2", 2, b"y").await.unwrap();
        assert_eq!(journals.latest("кассa/2").unwrap(), Some((2, b"y".to_vec())));
        assert_eq!(size, std::fs::metadata(&path).unwrap().len());
        assert_eq!(size, (frame(1, b"x").len() + frame(2, b"y").len()) as u64);
        // A journal found on disk at start-up: its size is read, then kept by each append.
        drop(journals);
        let journals = Journals::open(dir.path()).unwrap();
        let size = journals.append("кассa/2", 3, b"z").await.unwrap();
        assert_eq!(size, std::fs::metadata(&path).unwrap().len());
    }

    proptest! {
        #[test]
        fn parsing_any_bytes_never_panics_and_never_reads_past_the_end(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let (_, end) = parse(&bytes);
            prop_assert!(end <= bytes.len());
        }
    }
}
