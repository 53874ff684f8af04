//! Catalog items as the lane sells them.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One catalog item, as pulled from the CRM's change feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// The CRM's id (`I-1001`); documents refer to items by it.
    pub id: String,
    pub sku: String,
    pub name: String,
    /// Unit of measure as the CRM names it (`pcs`, `kg`, …).
    pub unit: String,
    /// VAT rate as the CRM sends it (`"20"`, `"10"`, `"0"`, `"none"`).
    pub vat: String,
    /// Sold by weight: fractional quantities are allowed.
    pub weighted: bool,
    /// Must be sold by its marking code (Честный ЗНАК), never by its plain EAN.
    pub marked: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mark_group: Option<String>,
    /// The scale's PLU for weighed goods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plu: Option<String>,
    /// Barcodes exactly as the CRM sent them.
    pub barcodes: Vec<String>,
    /// Price per price type (`retail`, `wholesale`, …).
    pub prices: BTreeMap<String, Decimal>,
}

/// The price type a till sells at.
pub const RETAIL: &str = "retail";

impl Item {
    /// The retail price, if the CRM set one. An item without it cannot be sold at a till.
    pub fn retail_price(&self) -> Option<Decimal> {
        self.prices.get(RETAIL).copied()
    }
}
