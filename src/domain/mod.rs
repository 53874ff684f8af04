//! The shop's rules, with no I/O: barcodes, catalog items, receipts, shifts, lanes and the
//! documents they produce for the CRM.
//!
//! Everything here is plain data and functions. Time and identifiers come in as arguments
//! ([`Ctx`]), so every rule can be tested by feeding values and asserting on values.

pub mod barcode;
pub mod call;
pub mod call_documents;
pub mod catalog;
pub mod client;
pub mod document;
pub mod feed;
pub mod lane;
pub mod money;
pub mod phone;
pub mod print_job;
pub mod receipt;
pub mod shift;
pub mod text;
pub mod wms;

use jiff::Timestamp;
use uuid::Uuid;

/// What a domain operation needs from the outside world: the current time, fresh ids and who
/// is acting. Passing it explicitly keeps the domain deterministic under test.
pub struct Ctx<'a> {
    pub now: Timestamp,
    pub cashier: &'a str,
    ids: &'a mut (dyn FnMut() -> Uuid + Send),
}

impl<'a> Ctx<'a> {
    pub fn new(now: Timestamp, cashier: &'a str, ids: &'a mut (dyn FnMut() -> Uuid + Send)) -> Self {
        Ctx { now, cashier, ids }
    }

    /// A fresh identifier for a shift, receipt, document or print job.
    pub fn new_id(&mut self) -> Uuid {
        (self.ids)()
    }
}
