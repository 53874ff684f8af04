//! Clients from the CRM feed and the phone index over every number of every client.
//!
//! The `phones` table's keys are `E.164 ‖ 0x00 ‖ client id` with an empty value, so all clients
//! on one number are one prefix scan and a number shared by a company and its director finds
//! both. Numbers that do not normalize (hidden, internal, junk) are not indexed at all, so a
//! call from `<unknown>` can never match a client whose phone field was garbage.

use super::redo::Recorded;
use super::tables::{CLIENTS, PHONES, joined, prefix_range};
use super::{Store, StoreError, records};
use crate::domain::client::Client;
use crate::domain::phone::{self, Country};
use redb::{ReadableTable, ReadableTableMetadata};
use std::cmp::Reverse;

/// One client found by a number.
#[derive(Debug, Clone, PartialEq)]
pub struct PhoneMatch {
    pub client: Client,
    /// The client's phone as the CRM has it, the one that matched.
    pub matched: String,
    /// The matched entry also has the same extension as the query (or neither has one).
    pub exact: bool,
}

type ClientsTable<'tx> = Recorded<'tx, &'static str, &'static [u8]>;
type PhonesTable<'tx> = Recorded<'tx, &'static [u8], ()>;

/// A client upsert made ready on the caller's thread — its row encoded, its phones turned into
/// index keys — so that the store's writer only inserts (see `catalog::ItemRow`).
pub(super) struct ClientRow {
    pub(super) client: Client,
    row: Vec<u8>,
    phone_keys: Vec<Vec<u8>>,
}

impl ClientRow {
    pub(super) fn new(client: Client, country: Country) -> ClientRow {
        ClientRow {
            row: records::encode_client(&client),
            phone_keys: phone_keys(&client, country).collect(),
            client,
        }
    }
}

/// Write (replace) a client and its index entries inside the feed transaction; returns the
/// client it replaced. The insert hands back the old row, so a new client costs one descent.
pub(super) fn upsert_client(
    clients: &mut ClientsTable<'_>,
    phones: &mut PhonesTable<'_>,
    new: &ClientRow,
    country: Country,
) -> Result<Option<Client>, StoreError> {
    let id = new.client.id.as_str();
    let replaced = clients.insert(id, new.row.as_slice())?;
    let old = replaced.map(|row| records::decode_client(id, row.value())).transpose()?;
    if let Some(old) = &old {
        for key in phone_keys(old, country) {
            if !new.phone_keys.contains(&key) {
                phones.remove(key.as_slice())?;
            }
        }
    }
    for key in &new.phone_keys {
        phones.insert(key.as_slice(), ())?;
    }
    Ok(old)
}

/// Remove a client and its index entries; returns the client if it existed.
pub(super) fn remove_client(
    clients: &mut ClientsTable<'_>,
    phones: &mut PhonesTable<'_>,
    id: &str,
    country: Country,
) -> Result<Option<Client>, StoreError> {
    let old: Client = match clients.remove(id)? {
        None => return Ok(None),
        Some(row) => records::decode_client(id, row.value())?,
    };
    for key in phone_keys(&old, country) {
        phones.remove(key.as_slice())?;
    }
    Ok(Some(old))
}

/// The phone index's keys for a client: one per number that normalizes.
fn phone_keys(client: &Client, country: Country) -> impl Iterator<Item = Vec<u8>> + '_ {
    client
        .phones
        .iter()
        .filter_map(move |raw| phone::lookup_key(raw, country))
        .map(|e164| joined(e164.as_bytes(), client.id.as_bytes()))
}

impl Store {
    /// A client by CRM id.
    pub fn client(&self, id: &str) -> Result<Option<Client>, StoreError> {
        let tx = self.read()?;
        let clients = tx.open_table(CLIENTS)?;
        let row = clients.get(id)?;
        row.map(|v| records::decode_client(id, v.value())).transpose()
    }

    /// Clients in the store (redb keeps the count; nothing is scanned).
    pub fn client_count(&self) -> Result<u64, StoreError> {
        Ok(self.read()?.open_table(CLIENTS)?.len()?)
    }

    /// Every client with this number, best first: entries that match the extension too, then
    /// the most recently active client. `number` is E.164 with an optional extension the
    /// caller dialled; hidden or junk numbers find nobody.
    pub fn clients_by_phone(&self, e164: &str, extension: Option<&str>) -> Result<Vec<PhoneMatch>, StoreError> {
        if !e164.starts_with('+') || e164.len() < 9 {
            return Ok(Vec::new());
        }
        let country = self.phone_country();
        let (start, end) = prefix_range(e164.as_bytes());
        let tx = self.read()?;
        let phones = tx.open_table(PHONES)?;
        let clients = tx.open_table(CLIENTS)?;
        let mut found = Vec::new();
        for entry in phones.range(start.as_slice()..end.as_slice())? {
            let (key, _) = entry?;
            let id = String::from_utf8_lossy(&key.value()[start.len()..]).into_owned();
            let Some(row) = clients.get(id.as_str())? else { continue };
            let client = records::decode_client(&id, row.value())?;
            // Which of the client's phones matched, to compare extensions.
            let hit = client.phones.iter().find_map(|raw| {
                let n = phone::normalize(raw, country).ok()?;
                (n.e164 == e164).then_some((raw.clone(), n.extension))
            });
            let Some((matched, their_ext)) = hit else { continue };
            let exact = their_ext.as_deref() == extension;
            found.push(PhoneMatch { client, matched, exact });
        }
        found.sort_by_key(|m| (Reverse(m.exact), Reverse(m.client.last_activity), m.client.id.clone()));
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::client::Client;
    use crate::domain::feed::Change;
    use crate::store::test_support::temp_store;

    fn client(id: &str, phones: &[&str], activity: Option<&str>) -> Client {
        Client {
            id: id.into(),
            name: format!("Клиент {id}"),
            phones: phones.iter().map(|s| s.to_string()).collect(),
            debt: None,
            overdue: None,
            credit_limit: None,
            stop_list: false,
            segment: None,
            manager: None,
            loyalty_cards: vec![],
            last_activity: activity.map(|a| a.parse().unwrap()),
        }
    }

    #[tokio::test]
    async fn every_phone_is_indexed_and_ranked() {
        let (store, _dir) = temp_store();
        let changes = [
            Change::ClientUpsert(client(
                "C-1",
                &["8 (495) 123-45-67 доб. 12", "<unknown>"],
                Some("2026-01-01T00:00:00Z"),
            )),
            Change::ClientUpsert(client("C-2", &["+7 495 1234567", "8 916 000-00-01"], Some("2026-06-01T00:00:00Z"))),
            Change::ClientUpsert(client("C-3", &["74951234567"], None)),
            Change::ClientUpsert(client("C-4", &["мусор"], None)),
        ];
        store.apply_feed(&changes, "c1").await.unwrap();
        assert_eq!(store.client_count().unwrap(), 4);
        let ids = |m: Vec<super::PhoneMatch>| m.into_iter().map(|m| m.client.id).collect::<Vec<_>>();
        assert_eq!(ids(store.clients_by_phone("+74951234567", None).unwrap()), ["C-2", "C-3", "C-1"]);
        assert_eq!(
            ids(store.clients_by_phone("+74951234567", Some("12")).unwrap()),
            ["C-1", "C-2", "C-3"],
            "the extension the caller dialled ranks first"
        );
        assert_eq!(ids(store.clients_by_phone("+79160000001", None).unwrap()), ["C-2"]);
        assert!(store.clients_by_phone("<unknown>", None).unwrap().is_empty());

        // A phone removed in the CRM stops matching; a deleted client is gone from the index.
        let changes = [
            Change::ClientUpsert(client("C-2", &["8 916 000-00-01"], None)),
            Change::ClientDelete("C-3".into()),
        ];
        store.apply_feed(&changes, "c2").await.unwrap();
        assert_eq!(ids(store.clients_by_phone("+74951234567", None).unwrap()), ["C-1"]);
        assert!(store.client("C-3").unwrap().is_none());
    }
}
