//! Pseudo-terminals: a serial line inside the box. The demo's virtual scanner is one (the
//! admin types or `echo`s codes into its slave side), and tests use them as the "serial port"
//! a scanner or printer is attached to.
//!
//! This is the one corner that talks to terminal ioctls and the crate's only `unsafe`: the
//! registration of the master descriptor with tokio's reactor.

#![allow(unsafe_code)]

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::pty::openpty;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A pseudo-terminal: storeterm (or a test) holds the master side; the slave side has a path
/// (`/dev/pts/N`) that behaves like a serial port.
pub struct Pty {
    pub master: PtyMaster,
    /// Kept open so the master does not see a hang-up between two writers on the slave side.
    pub slave: OwnedFd,
    pub slave_path: PathBuf,
}

impl Pty {
    pub fn open() -> io::Result<Pty> {
        let pair = openpty(None, None).map_err(io::Error::from)?;
        let slave_path = nix::unistd::ttyname(&pair.slave).map_err(io::Error::from)?;
        let flags = fcntl(&pair.master, FcntlArg::F_GETFL).map_err(io::Error::from)?;
        fcntl(
            &pair.master,
            FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
        )
        .map_err(io::Error::from)?;
        let master = File::from(pair.master);
        // SAFETY: `register` needs the descriptor to stay open and unchanged for the AsyncFd's
        // lifetime. The File owns it, nothing else can close it, and a File's descriptor never
        // changes.
        let fd = unsafe { AsyncFd::register(master) }.map_err(io::Error::from)?;
        Ok(Pty {
            master: PtyMaster { fd },
            slave: pair.slave,
            slave_path,
        })
    }
}

/// The master side of a pty as an async byte stream.
pub struct PtyMaster {
    fd: AsyncFd<File>,
}

impl AsyncRead for PtyMaster {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|inner| inner.get_ref().read(unfilled)) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for PtyMaster {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.fd.poll_write_ready(cx))?;
            match guard.try_io(|inner| inner.get_ref().write(data)) {
                Ok(result) => return Poll::Ready(result),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
