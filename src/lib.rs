//! storeterm: a daemon for the till PC or back-office box of a shop or warehouse. It reads
//! barcode scanners, rings up receipts, prints them on ESC/POS printers and keeps the central
//! CRM in sync — and keeps selling when the CRM is down for days.
//!
//! The crate is laid out by role (see `docs/ARCHITECTURE.md`):
//!
//! - [`domain`] — the shop's rules as pure code: barcodes, receipts, shifts, lanes, documents.
//! - [`devices`] — scanners and printers: pure codecs, transports and supervisors.
//! - [`store`] — the embedded sled store; every acknowledged fact is flushed here first.
//! - [`sync`] — the CRM link: change feed down, outbox up.
//! - [`app`] — wiring and the per-lane actors; [`http`] — the API and web screens.
//! - [`config`] — the TOML configuration.
//! - [`ops`] — the admin's commands: backup, restore, verify, doctor.

// Only `devices::pty` may opt out, for registering a descriptor with the reactor.
#![deny(unsafe_code)]

pub mod app;
pub mod config;
pub mod devices;
pub mod domain;
pub mod http;
pub mod ops;
pub mod store;
pub mod sync;
