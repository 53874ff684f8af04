//! The retail data of protocol v1.1: promotions, the groups items belong to, and clients'
//! accounts (bonus balance, credit allowed), applied with the feed page that brought them.

use super::redo::{Recorded, Txn};
use super::tables::{CLIENT_ACCOUNTS, ITEM_GROUPS, PROMOTIONS};
use super::{Store, StoreError, decode, encode};
use crate::domain::client::ClientAccount;
use crate::domain::feed::RetailChange;
use crate::domain::promotion::Promotion;
use redb::ReadableTable;

/// The retail tables open in one write transaction.
pub(super) struct RetailTables<'tx> {
    promotions: Recorded<'tx, &'static str, &'static [u8]>,
    groups: Recorded<'tx, &'static str, &'static str>,
    accounts: Recorded<'tx, &'static str, &'static [u8]>,
}

impl<'tx> RetailTables<'tx> {
    pub(super) fn open(tx: &'tx Txn<'_>) -> Result<Self, StoreError> {
        Ok(RetailTables {
            promotions: tx.open_table(PROMOTIONS)?,
            groups: tx.open_table(ITEM_GROUPS)?,
            accounts: tx.open_table(CLIENT_ACCOUNTS)?,
        })
    }

    pub(super) fn apply(&mut self, change: &RetailChange) -> Result<(), StoreError> {
        match change {
            RetailChange::PromotionUpsert(p) => {
                self.promotions.insert(p.id.as_str(), encode(p).as_slice())?;
            }
            RetailChange::PromotionDelete(id) => {
                self.promotions.remove(id.as_str())?;
            }
            RetailChange::ItemGroup { item, group: Some(group) } => {
                self.groups.insert(item.as_str(), group.as_str())?;
            }
            RetailChange::ItemGroup { item, group: None } => {
                self.groups.remove(item.as_str())?;
            }
            RetailChange::ClientAccount { client, account } => {
                self.accounts.insert(client.as_str(), encode(account).as_slice())?;
            }
        }
        Ok(())
    }

    /// An item or client left the catalog: its retail data goes with it.
    pub(super) fn forget_item(&mut self, item: &str) -> Result<(), StoreError> {
        self.groups.remove(item)?;
        Ok(())
    }

    /// A client's account as this transaction sees it.
    pub(super) fn account(&self, client: &str) -> Result<Option<ClientAccount>, StoreError> {
        let row = self.accounts.get(client)?;
        row.map(|v| decode("client_accounts", client, v.value())).transpose()
    }

    pub(super) fn forget_client(&mut self, client: &str) -> Result<(), StoreError> {
        self.accounts.remove(client)?;
        Ok(())
    }
}

impl Store {
    /// Every promotion the CRM sent (the pricing rules decide which apply when).
    pub fn promotions(&self) -> Result<Vec<Promotion>, StoreError> {
        let tx = self.read()?;
        let table = tx.open_table(PROMOTIONS)?;
        table
            .iter()?
            .map(|r| {
                let (k, v) = r?;
                decode("promotions", k.value(), v.value())
            })
            .collect()
    }

    /// The catalog's generation: it changes after every committed feed page.
    pub fn catalog_generation(&self) -> u64 {
        self.inner.catalog_generation.load(std::sync::atomic::Ordering::Acquire)
    }

    pub(super) fn catalog_changed(&self) {
        self.inner.catalog_generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// Visit every item of the catalog (to build an index over it). Blocking: call it from
    /// a blocking thread.
    pub fn each_item(&self, mut visit: impl FnMut(crate::domain::catalog::Item)) -> Result<(), StoreError> {
        let tx = self.read()?;
        let items = tx.open_table(super::tables::ITEMS)?;
        for entry in items.iter()? {
            let (key, value) = entry?;
            visit(super::records::decode_item(key.value(), value.value())?);
        }
        Ok(())
    }

    /// The group an item belongs to, for promotions on groups.
    pub fn item_group(&self, item: &str) -> Result<Option<String>, StoreError> {
        let tx = self.read()?;
        let table = tx.open_table(ITEM_GROUPS)?;
        Ok(table.get(item)?.map(|g| g.value().to_string()))
    }

    /// A client's bonus balance and credit permission as the CRM last sent them.
    pub fn client_account(&self, client: &str) -> Result<Option<ClientAccount>, StoreError> {
        let tx = self.read()?;
        let table = tx.open_table(CLIENT_ACCOUNTS)?;
        let row = table.get(client)?;
        row.map(|v| decode("client_accounts", client, v.value())).transpose()
    }
}
