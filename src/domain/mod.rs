//! The shop's rules, with no I/O: barcodes, catalog items, receipts, discounts and promotions,
//! loyalty, returns, shifts and the cash drawer, lanes and the documents they produce for the
//! CRM.
//!
//! Everything here is plain data and functions. Time, identifiers, the acting cashier and the
//! promotions in force come in as arguments ([`Ctx`]), so every rule can be tested by feeding
//! values and asserting on values.

pub mod barcode;
pub mod call;
pub mod call_documents;
pub mod catalog;
pub mod client;
pub mod document;
pub mod drawer;
pub mod feed;
pub mod fiscal;
pub mod lane;
pub mod loyalty;
pub mod money;
pub mod phone;
pub mod pricing;
pub mod print_job;
pub mod promotion;
pub mod receipt;
pub mod returns;
pub mod search;
pub mod shift;
pub mod text;
pub mod wms;

use jiff::Timestamp;
use pricing::{Offer, Offers};
use uuid::Uuid;

/// What a domain operation needs from the outside world: the current time, fresh ids, who
/// is acting and, for operations that price a receipt, the promotions in force. Passing it
/// explicitly keeps the domain deterministic under test.
pub struct Ctx<'a> {
    pub now: Timestamp,
    pub cashier: &'a str,
    ids: &'a mut (dyn FnMut() -> Uuid + Send),
    offers: Option<Offers<'a>>,
}

impl<'a> Ctx<'a> {
    pub fn new(now: Timestamp, cashier: &'a str, ids: &'a mut (dyn FnMut() -> Uuid + Send)) -> Self {
        Ctx {
            now,
            cashier,
            ids,
            offers: None,
        }
    }

    /// Price with these promotions, judged at `offers.local` (the shop's wall clock at
    /// `now`). Without it, an operation keeps the promotions the receipt was last priced with.
    pub fn with_offers(mut self, offers: Offers<'a>) -> Self {
        self.offers = Some(offers);
        self
    }

    /// A fresh identifier for a shift, receipt, document or print job.
    pub fn new_id(&mut self) -> Uuid {
        (self.ids)()
    }

    /// The promotions in force now, when the caller gave any.
    pub fn offer(&self) -> Option<Offer> {
        self.offers.map(|o| o.snapshot(self.now))
    }
}
