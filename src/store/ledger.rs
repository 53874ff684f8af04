//! Clients' provisional ledgers, the returns journal and the loyalty-card index: the retail
//! facts a lane commit writes besides the lane itself.
//!
//! A lane's bonus or credit payment is judged twice: by the lane against the ledger it read
//! (a quick, friendly refusal), and here, inside the commit's write transaction, against the
//! ledger as it is at that instant. The one writer thread makes the second check atomic with
//! the lane's new state, so two lanes spending one client's last points cannot both succeed.
//! The checks run before anything is written: a refused commit writes nothing, because the
//! engine commits a batch whole (see `engine`).

use super::redo::{Recorded, Txn};
use super::tables::{CLIENT_LEDGERS, CLIENTS, LOYALTY_CARDS, RETURNS, RETURNS_BY_SALE};
use super::{Store, StoreError, decode, encode, records};
use crate::domain::client::{Client, ClientAccount, ReceiptClient};
use crate::domain::lane::{Changes, Lane};
use crate::domain::loyalty::{ClientLedger, LedgerOp};
use crate::domain::returns::{ClosedReturn, ReturnError};
use redb::ReadableTable;
use std::collections::BTreeMap;
use uuid::Uuid;

/// The ledgers a commit's [`LedgerOp`]s produce, computed before anything is written.
pub(super) struct LedgerUpdate(BTreeMap<String, ClientLedger>);

/// A commit's ledger operations with what the writer needs to apply them, taken from the lane
/// on the caller's side so that the writer's job carries neither the lane nor its documents.
pub(super) struct LedgerChanges {
    ops: Vec<LedgerOp>,
    /// For each client the ops name, the client as this commit's receipts knew it: what a
    /// ledger is started from when the client has none yet.
    seeds: BTreeMap<String, ReceiptClient>,
}

impl LedgerChanges {
    pub(super) fn of(lane: &Lane, changes: &Changes) -> LedgerChanges {
        let mut seeds = BTreeMap::new();
        for op in &changes.ledger {
            let client = op.client();
            if !seeds.contains_key(client) {
                if let Some(known) = seed(lane, changes, client) {
                    seeds.insert(client.to_string(), known.clone());
                }
            }
        }
        LedgerChanges {
            ops: changes.ledger.clone(),
            seeds,
        }
    }
}

fn seed<'a>(lane: &'a Lane, changes: &'a Changes, client: &str) -> Option<&'a ReceiptClient> {
    lane.receipt
        .iter()
        .chain(changes.closed.iter().map(|c| &c.receipt))
        .chain(lane.parked.iter().map(|p| &p.receipt))
        .filter_map(|r| r.client.as_ref())
        .find(|c| c.id == client)
}

impl LedgerUpdate {
    /// Apply the ledger ops to the stored ledgers in memory. `Ok(Err(_))`: a hold the ledger
    /// no longer covers (another lane spent the points); nothing may be written.
    pub(super) fn compute(tx: &Txn<'_>, changes: &LedgerChanges) -> Result<Result<LedgerUpdate, StoreError>, StoreError> {
        let mut ledgers: BTreeMap<String, ClientLedger> = BTreeMap::new();
        if changes.ops.is_empty() {
            return Ok(Ok(LedgerUpdate(ledgers)));
        }
        let table = tx.open_table(CLIENT_LEDGERS)?;
        for op in &changes.ops {
            let client = op.client().to_string();
            if !ledgers.contains_key(&client) {
                let stored = match table.get(client.as_str())? {
                    Some(row) => Some(decode::<ClientLedger>("client_ledgers", &client, row.value())?),
                    None => None,
                };
                let ledger = match (stored, changes.seeds.get(&client)) {
                    (Some(ledger), _) => ledger,
                    (None, Some(known)) => ClientLedger::from_receipt_client(known),
                    // A release for a client with no ledger has nothing to release.
                    (None, None) if matches!(op, LedgerOp::Release { .. }) => continue,
                    (None, None) => {
                        return Ok(Err(StoreError::Storage(format!(
                            "операция по счёту клиента {client} без чека этого клиента"
                        ))));
                    }
                };
                ledgers.insert(client.clone(), ledger);
            }
            let Some(ledger) = ledgers.get_mut(&client) else { continue };
            if let Err(e) = ledger.apply(op) {
                return Ok(Err(StoreError::Ledger(e)));
            }
        }
        Ok(Ok(LedgerUpdate(ledgers)))
    }

    pub(super) fn write(self, tx: &Txn<'_>) -> Result<(), StoreError> {
        if self.0.is_empty() {
            return Ok(());
        }
        let mut table = tx.open_table(CLIENT_LEDGERS)?;
        for (client, ledger) in &self.0 {
            table.insert(client.as_str(), encode(ledger).as_slice())?;
        }
        Ok(())
    }
}

/// Judge a return against its sale and the returns already in the journal, inside the
/// commit: two lanes returning the same sale at once cannot together return more than was
/// sold (each lane judged against the journal it read).
pub(super) fn check_return(tx: &Txn<'_>, ret: &ClosedReturn) -> Result<Result<(), StoreError>, StoreError> {
    let Some(sale) = &ret.sale else { return Ok(Ok(())) };
    let receipts = tx.open_table(super::tables::RECEIPTS)?;
    let Some(row) = receipts.get(sale.receipt.as_u128())? else {
        return Ok(Ok(()));
    };
    let sold: crate::domain::receipt::ClosedReceipt = decode("receipts", sale.receipt, row.value())?;
    drop(row);
    let index = tx.open_table(RETURNS_BY_SALE)?;
    let returns = tx.open_table(RETURNS)?;
    let key = sale.receipt.as_u128();
    let mut earlier: Vec<ClosedReturn> = Vec::new();
    for entry in index.range((key, 0u128)..=(key, u128::MAX))? {
        let (k, _) = entry?;
        let (_, id) = k.value();
        if id == ret.id.as_u128() {
            continue;
        }
        if let Some(row) = returns.get(id)? {
            earlier.push(decode("returns", Uuid::from_u128(id), row.value())?);
        }
    }
    for line in &ret.lines {
        let Some(sold_line) = sold.receipt.line(line.no) else { continue };
        let returned: rust_decimal::Decimal = earlier
            .iter()
            .flat_map(|r| r.lines.iter())
            .filter(|l| l.no == line.no)
            .map(|l| l.qty)
            .sum();
        if returned + line.qty > sold_line.qty {
            return Ok(Err(StoreError::Return(ReturnError::ExceedsSale {
                name: sold_line.name.clone(),
                sold: sold_line.qty,
                returned,
                asked: line.qty,
            })));
        }
    }
    Ok(Ok(()))
}

/// Keep a return in the journal, findable by its sale.
pub(super) fn put_return(tx: &Txn<'_>, ret: &ClosedReturn) -> Result<(), StoreError> {
    tx.open_table(RETURNS)?.insert(ret.id.as_u128(), encode(ret).as_slice())?;
    if let Some(sale) = &ret.sale {
        tx.open_table(RETURNS_BY_SALE)?
            .insert((sale.receipt.as_u128(), ret.id.as_u128()), ())?;
    }
    Ok(())
}

/// The sale document `data` reached the CRM: its ledger entry waits for the CRM's next
/// figures for the client (see [`ClientLedger::delivered`]).
pub(super) fn sale_delivered(tx: &Txn<'_>, data: &serde_json::Value) -> Result<(), StoreError> {
    let (Some(client), Some(receipt)) = (
        data.get("client").and_then(|c| c.as_str()),
        data.get("receipt").and_then(|r| r.as_str()).and_then(|r| Uuid::parse_str(r).ok()),
    ) else {
        return Ok(());
    };
    let mut table = tx.open_table(CLIENT_LEDGERS)?;
    let stored = match table.get(client)? {
        Some(row) => decode::<ClientLedger>("client_ledgers", client, row.value())?,
        None => return Ok(()),
    };
    let mut ledger = stored;
    ledger.delivered(receipt);
    table.insert(client, encode(&ledger).as_slice())?;
    Ok(())
}

/// The loyalty-card index and the ledgers, kept up to date by the feed.
pub(super) struct ClientIndex<'tx> {
    cards: Recorded<'tx, &'static str, &'static str>,
    ledgers: Recorded<'tx, &'static str, &'static [u8]>,
}

impl<'tx> ClientIndex<'tx> {
    pub(super) fn open(tx: &'tx Txn<'_>) -> Result<Self, StoreError> {
        Ok(ClientIndex {
            cards: tx.open_table(LOYALTY_CARDS)?,
            ledgers: tx.open_table(CLIENT_LEDGERS)?,
        })
    }

    /// A client is about to be replaced by `new` (or removed, `None`): move its cards, and
    /// bring its ledger to the CRM's new figures.
    pub(super) fn client_changed(
        &mut self,
        old: Option<&Client>,
        new: Option<&Client>,
        account: Option<&ClientAccount>,
    ) -> Result<(), StoreError> {
        if let Some(old) = old {
            for card in &old.loyalty_cards {
                if self.cards.get(card.as_str())?.is_some_and(|v| v.value() == old.id) {
                    self.cards.remove(card.as_str())?;
                }
            }
        }
        if let Some(new) = new {
            for card in &new.loyalty_cards {
                let card = card.trim();
                if !card.is_empty() {
                    self.cards.insert(card, new.id.as_str())?;
                }
            }
            self.refresh_ledger(new, account)?;
        }
        Ok(())
    }

    /// Whether the client has a ledger here (ever redeemed points or bought on credit).
    pub(super) fn has_ledger(&self, client: &str) -> Result<bool, StoreError> {
        Ok(self.ledgers.get(client)?.is_some())
    }

    /// New figures from the feed for a client that has a ledger.
    pub(super) fn refresh_ledger(&mut self, client: &Client, account: Option<&ClientAccount>) -> Result<(), StoreError> {
        let stored = match self.ledgers.get(client.id.as_str())? {
            Some(row) => decode::<ClientLedger>("client_ledgers", &client.id, row.value())?,
            None => return Ok(()),
        };
        let mut ledger = stored;
        let account = account.cloned().unwrap_or_default();
        ledger.feed_update(client, &account);
        self.ledgers.insert(client.id.as_str(), encode(&ledger).as_slice())?;
        Ok(())
    }
}

impl Store {
    /// A client's provisional ledger, when it ever redeemed points or took credit here.
    pub fn client_ledger(&self, client: &str) -> Result<Option<ClientLedger>, StoreError> {
        let tx = self.read()?;
        let table = tx.open_table(CLIENT_LEDGERS)?;
        let row = table.get(client)?;
        row.map(|v| decode("client_ledgers", client, v.value())).transpose()
    }

    /// The returns made against sale `receipt`, oldest first.
    pub fn returns_of_sale(&self, receipt: Uuid) -> Result<Vec<ClosedReturn>, StoreError> {
        let tx = self.read()?;
        let index = tx.open_table(RETURNS_BY_SALE)?;
        let returns = tx.open_table(RETURNS)?;
        let sale = receipt.as_u128();
        let mut found = Vec::new();
        for entry in index.range((sale, 0u128)..=(sale, u128::MAX))? {
            let (key, _) = entry?;
            let (_, id) = key.value();
            if let Some(row) = returns.get(id)? {
                found.push(decode("returns", Uuid::from_u128(id), row.value())?);
            }
        }
        Ok(found)
    }

    /// A return by id.
    pub fn closed_return(&self, id: Uuid) -> Result<Option<ClosedReturn>, StoreError> {
        let tx = self.read()?;
        let table = tx.open_table(RETURNS)?;
        let row = table.get(id.as_u128())?;
        row.map(|v| decode("returns", id, v.value())).transpose()
    }

    /// The client a loyalty card belongs to.
    pub fn client_by_card(&self, card: &str) -> Result<Option<Client>, StoreError> {
        let tx = self.read()?;
        let cards = tx.open_table(LOYALTY_CARDS)?;
        let Some(id) = cards.get(card.trim())?.map(|v| v.value().to_string()) else {
            return Ok(None);
        };
        let clients = tx.open_table(CLIENTS)?;
        let row = clients.get(id.as_str())?;
        row.map(|v| records::decode_client(&id, v.value())).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Ctx;
    use crate::domain::catalog::Item;
    use crate::domain::client::{Client, ClientAccount};
    use crate::domain::loyalty::LoyaltyRules;
    use crate::domain::receipt::{PayTerms, PaymentMethod, Tender};
    use crate::store::LaneCommit;
    use crate::store::test_support::temp_store;
    use rust_decimal_macros::dec;

    fn coffee() -> Item {
        Item {
            id: "I-1".into(),
            sku: "A-1".into(),
            name: "Кофе".into(),
            unit: "pcs".into(),
            vat: "20".into(),
            weighted: false,
            marked: false,
            mark_group: None,
            plu: None,
            barcodes: vec![],
            prices: [("retail".to_string(), dec!(1000))].into(),
        }
    }

    fn client() -> (Client, ClientAccount) {
        let client = Client {
            id: "C-77".into(),
            name: "Иван".into(),
            phones: vec![],
            debt: None,
            overdue: None,
            credit_limit: None,
            stop_list: false,
            segment: None,
            manager: None,
            loyalty_cards: vec![],
            last_activity: None,
        };
        let account = ClientAccount {
            bonus_balance: dec!(300),
            allow_credit: false,
        };
        (client, account)
    }

    /// Two lanes spend the same client's points, each judging by what its receipt knew: the
    /// store's commit lets exactly one through, and the refused one writes nothing.
    #[tokio::test]
    async fn the_same_points_are_never_spent_twice_across_lanes() {
        let (store, _dir) = temp_store();
        let (c, account) = client();
        let terms = PayTerms {
            loyalty: LoyaltyRules::new(dec!(5), dec!(100)).unwrap(),
            ..PayTerms::default()
        };
        let mut ids = || Uuid::now_v7();
        let mut ctx = Ctx::new(jiff::Timestamp::now(), "Анна", &mut ids);
        let mut lanes = Vec::new();
        for id in ["1", "2"] {
            let mut lane = Lane::new(id);
            lane.attach_client(&mut ctx, &c, &account).unwrap();
            lane.sell(&mut ctx, &coffee(), "x", dec!(1)).unwrap();
            let opened = Changes {
                shift_record: lane.shift.clone(),
                ..Changes::default()
            };
            store
                .commit_lane(LaneCommit {
                    lane: &lane,
                    changes: &opened,
                    printer: None,
                    money: false,
                })
                .await
                .unwrap();
            let (_, changes) = lane
                .pay_tender(&mut ctx, &Tender::new(PaymentMethod::Bonus, dec!(200)), &terms)
                .unwrap();
            lanes.push((lane, changes));
        }
        let commit = |i: usize| LaneCommit {
            lane: &lanes[i].0,
            changes: &lanes[i].1,
            printer: None,
            money: true,
        };
        store.commit_lane(commit(0)).await.unwrap();
        let before = store.lane("2").unwrap();
        let refused = store.commit_lane(commit(1)).await.unwrap_err();
        assert!(
            matches!(&refused, StoreError::Ledger(e) if e.code() == "insufficient_bonus"),
            "{refused}"
        );
        assert_eq!(store.lane("2").unwrap(), before, "the refused lane state was not written");
        let ledger = store.client_ledger("C-77").unwrap().unwrap();
        assert_eq!(ledger.bonus_available(), dec!(100.00));
        assert_eq!(ledger.entries.len(), 1);
    }

    /// Two lanes return the same sale at once, each judged against the journal it read: the
    /// commit refuses the second as more than was sold.
    #[tokio::test]
    async fn two_returns_of_one_sale_cannot_exceed_it_together() {
        use crate::domain::returns::{RefundTo, ReturnRequest};
        let (store, _dir) = temp_store();
        let mut ids = || Uuid::now_v7();
        let mut ctx = Ctx::new(jiff::Timestamp::now(), "Анна", &mut ids);
        let mut lane = Lane::new("1");
        lane.sell(&mut ctx, &coffee(), "x", dec!(2)).unwrap();
        let (_, changes) = lane.pay(&mut ctx, PaymentMethod::Card, dec!(2000)).unwrap();
        let sale = changes.closed.clone().unwrap();
        fn commit<'a>(lane: &'a Lane, changes: &'a Changes) -> LaneCommit<'a> {
            LaneCommit {
                lane,
                changes,
                printer: None,
                money: true,
            }
        }
        let mut opened = changes.clone();
        opened.shift_record = lane.shift.clone();
        store.commit_lane(commit(&lane, &opened)).await.unwrap();
        let mut other = Lane::new("2");
        let wanted = [ReturnRequest { no: 1, qty: dec!(2) }];
        let (_, first) = lane.return_sale(&mut ctx, &sale, &[], &wanted, &RefundTo::card()).unwrap();
        let (_, second) = other.return_sale(&mut ctx, &sale, &[], &wanted, &RefundTo::card()).unwrap();
        store.commit_lane(commit(&lane, &first)).await.unwrap();
        let refused = store.commit_lane(commit(&other, &second)).await.unwrap_err();
        assert!(
            matches!(&refused, StoreError::Return(e) if e.code() == "return_exceeds_sale"),
            "{refused}"
        );
        assert_eq!(store.returns_of_sale(sale.receipt.id).unwrap().len(), 1);
        assert_eq!(store.lane("2").unwrap(), None, "nothing of the refused return was written");
    }
}
