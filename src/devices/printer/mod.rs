//! Receipt printers: the ESC/POS encoder and layouts (pure), and the worker that takes queued
//! print jobs to the printer (I/O).

pub mod codepage;
pub mod direct;
pub mod escpos;
pub mod layout;
pub mod pages;
pub mod preview;
pub mod profile;
pub mod sample;
pub mod status;
mod worker;

pub use worker::{PrintedPaper, PrinterWorker, VirtualPaper};
