//! storeterm: a daemon for the till PC or back-office box of a shop or warehouse. It reads
//! barcode scanners, rings up receipts, prints them on ESC/POS printers and keeps the central
//! CRM in sync — and keeps selling when the CRM is down for days.
//!
//! The crate is laid out by role (see `docs/ARCHITECTURE.md`):
//!
//! - [`domain`] — the shop's rules as pure code: barcodes, receipts, shifts, lanes, documents.
//! - [`devices`] — scanners and printers: pure codecs, transports and supervisors.
//! - [`store`] — the embedded redb store; every acknowledged fact is in a durable commit first.
//! - [`sync`] — the CRM link: change feed down, outbox up.
//! - [`app`] — the services: lane actors, warehouse, calls, print spooler; [`http`] — the API
//!   and web screens; [`daemon`] — the composition root that builds them all from the config.
//! - [`config`] — the TOML configuration.
//! - [`ops`] — the admin's commands: backup, restore, verify, doctor.

// Only `devices::pty` may opt out, for registering a descriptor with the reactor.
#![deny(unsafe_code)]

pub mod app;
pub mod config;
pub mod daemon;
pub mod devices;
pub mod domain;
pub mod http;
pub mod ops;
pub mod store;
pub mod sync;
