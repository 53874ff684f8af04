//! Clients from the CRM feed and the phone index over every number of every client.
//!
//! The `phones` tree's keys are `E.164 ‖ 0x00 ‖ client id` with an empty value, so all clients
//! on one number are one prefix scan and a number shared by a company and its director finds
//! both. Numbers that do not normalize (hidden, internal, junk) are not indexed at all, so a
//! call from `<unknown>` can never match a client whose phone field was garbage.

use super::{Store, StoreError, abort, decode, encode};
use crate::domain::client::Client;
use crate::domain::phone::{self, Country};
use sled::transaction::{ConflictableTransactionResult, TransactionalTree};
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

fn index_key(e164: &str, client: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(e164.len() + 1 + client.len());
    key.extend_from_slice(e164.as_bytes());
    key.push(0);
    key.extend_from_slice(client.as_bytes());
    key
}

/// Write (replace) a client and its index entries inside the feed transaction.
pub(super) fn upsert_client(
    clients: &TransactionalTree,
    phones: &TransactionalTree,
    client: &Client,
    country: Country,
) -> ConflictableTransactionResult<(), StoreError> {
    remove_client(clients, phones, &client.id, country)?;
    clients.insert(client.id.as_bytes(), encode(client))?;
    for raw in &client.phones {
        if let Some(e164) = phone::lookup_key(raw, country) {
            phones.insert(index_key(&e164, &client.id), &[])?;
        }
    }
    Ok(())
}

/// Remove a client and its index entries; true if it existed.
pub(super) fn remove_client(
    clients: &TransactionalTree,
    phones: &TransactionalTree,
    id: &str,
    country: Country,
) -> ConflictableTransactionResult<bool, StoreError> {
    let Some(old) = clients.remove(id.as_bytes())? else {
        return Ok(false);
    };
    let old: Client = decode("clients", id.as_bytes(), &old).map_err(abort)?;
    for raw in &old.phones {
        if let Some(e164) = phone::lookup_key(raw, country) {
            phones.remove(index_key(&e164, id))?;
        }
    }
    Ok(true)
}

impl Store {
    /// A client by CRM id.
    pub fn client(&self, id: &str) -> Result<Option<Client>, StoreError> {
        self.trees
            .clients
            .get(id.as_bytes())?
            .map(|v| decode("clients", id.as_bytes(), &v))
            .transpose()
    }

    pub fn client_count(&self) -> usize {
        self.trees.clients.len()
    }

    /// Every client with this number, best first: entries that match the extension too, then
    /// the most recently active client. `number` is E.164 with an optional extension the
    /// caller dialled; hidden or junk numbers find nobody.
    pub fn clients_by_phone(&self, e164: &str, extension: Option<&str>) -> Result<Vec<PhoneMatch>, StoreError> {
        if !e164.starts_with('+') || e164.len() < 9 {
            return Ok(Vec::new());
        }
        let country = self.phone_country;
        let mut prefix = e164.as_bytes().to_vec();
        prefix.push(0);
        let mut found = Vec::new();
        for entry in self.trees.phones.scan_prefix(&prefix) {
            let (key, _) = entry?;
            let id = String::from_utf8_lossy(&key[prefix.len()..]).into_owned();
            let Some(client) = self.client(&id)? else { continue };
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
        assert_eq!(store.client_count(), 4);
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
