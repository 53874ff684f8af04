//! Zip uploads: 1C zips its files when `init` answers `zip=yes` (a catalog compresses ten- to
//! twentyfold). An archive from the network is untrusted: entry names are checked like
//! `filename=` ([`SafeName`]), and the bytes actually unpacked — not the sizes the archive
//! claims — are held to limits, so a zip bomb stops at the limit instead of filling the disk.
//!
//! Where the entries go is the caller's business: [`unpack`] hands each one to a sink as a
//! reader (the lead's code writes it under the session's directory).

use super::exchange::{ExchangeError, SafeName};
use std::cell::Cell;
use std::io::{self, Read, Seek};

/// Bounds on what one archive may unpack to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZipLimits {
    /// Entries (files and folders); a catalog with pictures has thousands.
    pub max_entries: usize,
    /// Bytes of one unpacked entry.
    pub max_entry: u64,
    /// Bytes of all entries together.
    pub max_total: u64,
    /// Unpacked bytes per packed byte of an entry. XML packs about 10–30×; a bomb packs
    /// thousandfold.
    pub max_ratio: u64,
}

impl Default for ZipLimits {
    fn default() -> ZipLimits {
        ZipLimits {
            max_entries: 50_000,
            max_entry: 1 << 30,
            max_total: 4 << 30,
            max_ratio: 200,
        }
    }
}

/// Why an archive was refused. Nothing already handed to the sink should be kept: the caller
/// deletes the session's unpacked files.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("архив повреждён или это не zip: {0}")]
    Zip(String),
    #[error("в архиве больше {0} файлов")]
    TooManyEntries(usize),
    #[error("в архиве недопустимое имя файла: {0}")]
    UnsafeName(#[from] ExchangeError),
    #[error("файл «{0}» в архиве зашифрован; выгружайте из 1С без пароля на архив")]
    Encrypted(String),
    #[error("«{0}» в архиве — символическая ссылка; такие не принимаются")]
    Symlink(String),
    #[error("файл «{name}» в архиве больше {limit} байт после распаковки")]
    EntryTooLarge { name: String, limit: u64 },
    #[error("архив больше {limit} байт после распаковки")]
    TotalTooLarge { limit: u64 },
    #[error("файл «{0}» в архиве сжат подозрительно сильно (похоже на zip-бомбу)")]
    Ratio(String),
    #[error("не удалось сохранить «{name}» из архива: {source}")]
    Sink {
        name: String,
        #[source]
        source: io::Error,
    },
}

impl ArchiveError {
    pub fn code(&self) -> &'static str {
        match self {
            ArchiveError::Zip(_) => "bad_zip",
            ArchiveError::TooManyEntries(_) => "zip_too_many_entries",
            ArchiveError::UnsafeName(_) => "unsafe_filename",
            ArchiveError::Encrypted(_) => "zip_encrypted",
            ArchiveError::Symlink(_) => "zip_symlink",
            ArchiveError::EntryTooLarge { .. } | ArchiveError::TotalTooLarge { .. } => "zip_too_large",
            ArchiveError::Ratio(_) => "zip_bomb",
            ArchiveError::Sink { .. } => "store_failed",
        }
    }
}

/// Which limit a read hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hit {
    Entry,
    Total,
    Ratio,
}

/// Passes bytes through until a limit is crossed, then fails the read and says which.
struct Limited<'a, R> {
    inner: R,
    read: u64,
    cap: u64,
    cap_kind: Hit,
    hit: &'a Cell<Option<Hit>>,
}

impl<R: Read> Read for Limited<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.cap {
            self.hit.set(Some(self.cap_kind));
            return Err(io::Error::other("unpack limit reached"));
        }
        Ok(n)
    }
}

/// Unpack every file of `archive` into `sink`, which gets the entry's safe name and a reader
/// of its bytes and returns how many it stored. Returns the names unpacked, folders skipped.
pub fn unpack<R: Read + Seek>(
    archive: R,
    limits: &ZipLimits,
    sink: &mut dyn FnMut(&SafeName, &mut dyn Read) -> io::Result<u64>,
) -> Result<Vec<SafeName>, ArchiveError> {
    let mut zip = zip::ZipArchive::new(archive).map_err(|e| ArchiveError::Zip(e.to_string()))?;
    if zip.len() > limits.max_entries {
        return Err(ArchiveError::TooManyEntries(limits.max_entries));
    }
    // Names first: one bad name refuses the archive before anything is written.
    let mut names = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i).map_err(|e| ArchiveError::Zip(e.to_string()))?;
        if entry.is_dir() {
            names.push(None);
            continue;
        }
        if entry.is_symlink() {
            return Err(ArchiveError::Symlink(entry.name().to_string()));
        }
        if entry.encrypted() {
            return Err(ArchiveError::Encrypted(entry.name().to_string()));
        }
        names.push(Some(SafeName::parse(entry.name())?));
    }
    let mut total = 0u64;
    let mut unpacked = Vec::new();
    for (i, name) in names.into_iter().enumerate() {
        let Some(name) = name else { continue };
        let entry = zip.by_index(i).map_err(|e| ArchiveError::Zip(e.to_string()))?;
        let ratio_cap = entry.compressed_size().max(1).saturating_mul(limits.max_ratio);
        let total_cap = limits.max_total.saturating_sub(total);
        let (cap, cap_kind) = [(limits.max_entry, Hit::Entry), (total_cap, Hit::Total), (ratio_cap, Hit::Ratio)]
            .into_iter()
            .min_by_key(|(cap, _)| *cap)
            .unwrap_or((limits.max_entry, Hit::Entry));
        let hit = Cell::new(None);
        let mut reader = Limited {
            inner: entry,
            read: 0,
            cap,
            cap_kind,
            hit: &hit,
        };
        let stored = match sink(&name, &mut reader) {
            Ok(n) => n,
            Err(source) => {
                return Err(match hit.get() {
                    Some(Hit::Entry) => ArchiveError::EntryTooLarge {
                        name: name.to_string(),
                        limit: limits.max_entry,
                    },
                    Some(Hit::Total) => ArchiveError::TotalTooLarge { limit: limits.max_total },
                    Some(Hit::Ratio) => ArchiveError::Ratio(name.to_string()),
                    // A damaged entry (bad CRC, bad deflate data) reads as an I/O error too.
                    None if source.kind() == io::ErrorKind::InvalidData || source.kind() == io::ErrorKind::UnexpectedEof => {
                        ArchiveError::Zip(format!("{name}: {source}"))
                    }
                    None => ArchiveError::Sink {
                        name: name.to_string(),
                        source,
                    },
                });
            }
        };
        total = total.saturating_add(stored.max(reader.read));
        unpacked.push(name);
    }
    Ok(unpacked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};
    use zip::write::SimpleFileOptions;

    fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in files {
            if name.ends_with('/') {
                w.add_directory(*name, opts).unwrap();
            } else {
                w.start_file(*name, opts).unwrap();
                w.write_all(bytes).unwrap();
            }
        }
        w.finish().unwrap().into_inner()
    }

    fn collect(bytes: Vec<u8>, limits: &ZipLimits) -> Result<Vec<(String, Vec<u8>)>, ArchiveError> {
        let mut got = Vec::new();
        unpack(Cursor::new(bytes), limits, &mut |name, r| {
            let mut buf = Vec::new();
            r.read_to_end(&mut buf)?;
            let n = buf.len() as u64;
            got.push((name.to_string(), buf));
            Ok(n)
        })?;
        Ok(got)
    }

    #[test]
    fn a_1c_upload_unpacks_with_its_pictures() {
        let bytes = zip_of(&[
            ("import.xml", b"<a/>"),
            ("import_files/", b""),
            ("import_files/9d/9da0.jpg", b"\xff\xd8jpeg"),
            ("offers.xml", b"<b/>"),
        ]);
        let got = collect(bytes, &ZipLimits::default()).unwrap();
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, vec!["import.xml", "import_files/9d/9da0.jpg", "offers.xml"]);
        assert_eq!(got[0].1, b"<a/>");
    }

    #[test]
    fn a_bad_entry_name_refuses_the_archive_before_anything_is_written() {
        let bytes = zip_of(&[("import.xml", b"<a/>"), ("../../etc/cron.d/x.xml", b"boom")]);
        let mut written = 0;
        let err = unpack(Cursor::new(bytes), &ZipLimits::default(), &mut |_, _| {
            written += 1;
            Ok(0)
        })
        .unwrap_err();
        assert_eq!(written, 0);
        assert!(matches!(err, ArchiveError::UnsafeName(_)), "{err}");
        let bytes = zip_of(&[("run.sh", b"#!/bin/sh")]);
        assert!(matches!(collect(bytes, &ZipLimits::default()), Err(ArchiveError::UnsafeName(_))));
    }

    #[test]
    fn a_zip_bomb_stops_at_the_ratio_limit() {
        let zeros = vec![b' '; 4 << 20];
        let bytes = zip_of(&[("import.xml", &zeros)]);
        assert!(bytes.len() < 64 << 10, "4 MiB of spaces pack small: {}", bytes.len());
        let err = collect(bytes, &ZipLimits::default()).unwrap_err();
        assert!(matches!(err, ArchiveError::Ratio(ref n) if n == "import.xml"), "{err}");
        assert_eq!(err.code(), "zip_bomb");
    }

    #[test]
    fn entry_and_total_limits_hold() {
        let text: Vec<u8> = (0..50_000u32).flat_map(|i| format!("<Ид>{i}</Ид>").into_bytes()).collect();
        let bytes = zip_of(&[("a.xml", &text), ("b.xml", &text)]);
        let entry = ZipLimits {
            max_entry: 1000,
            ..ZipLimits::default()
        };
        assert!(matches!(collect(bytes.clone(), &entry), Err(ArchiveError::EntryTooLarge { .. })));
        let total = ZipLimits {
            max_total: text.len() as u64 + 10,
            ..ZipLimits::default()
        };
        assert!(matches!(collect(bytes.clone(), &total), Err(ArchiveError::TotalTooLarge { .. })));
        let few = ZipLimits {
            max_entries: 1,
            ..ZipLimits::default()
        };
        assert!(matches!(collect(bytes, &few), Err(ArchiveError::TooManyEntries(1))));
    }

    #[test]
    fn garbage_is_not_a_zip() {
        assert!(matches!(
            collect(b"PK\x03\x04 not really".to_vec(), &ZipLimits::default()),
            Err(ArchiveError::Zip(_))
        ));
        assert!(matches!(collect(Vec::new(), &ZipLimits::default()), Err(ArchiveError::Zip(_))));
    }
}
