//! Clients as the CRM's change feed describes them, and the caller card an operator sees.

use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A client (a company or a person) from the CRM feed (`kind = "client"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Client {
    pub id: String,
    pub name: String,
    /// Numbers as the CRM's users typed them; normalized when indexed.
    #[serde(default)]
    pub phones: Vec<String>,
    #[serde(default)]
    pub debt: Option<Decimal>,
    #[serde(default)]
    pub overdue: Option<Decimal>,
    #[serde(default)]
    pub credit_limit: Option<Decimal>,
    #[serde(default)]
    pub stop_list: bool,
    #[serde(default)]
    pub segment: Option<String>,
    #[serde(default)]
    pub manager: Option<String>,
    #[serde(default)]
    pub loyalty_cards: Vec<String>,
    /// When the client last bought, paid or called; ranks several clients on one number.
    #[serde(default)]
    pub last_activity: Option<Timestamp>,
}

/// The v1.1 retail fields of a client (protocol section 5): its loyalty balance and whether it
/// may buy on credit. The feed decodes them into their own change
/// ([`crate::domain::feed::Change::ClientAccount`]), next to the client itself, the way an
/// item's warehouse attributes travel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientAccount {
    /// Loyalty points as the CRM counts them; 1 point = 1 ruble.
    #[serde(default)]
    pub bonus_balance: Decimal,
    /// The client may take goods on credit (within `credit_limit`, never while stop-listed).
    #[serde(default)]
    pub allow_credit: bool,
}

/// The client a receipt is sold to, as known when the cashier attached it: what the receipt
/// screen shows and the sale document names. The balances that change while the receipt is
/// open live in the client's ledger ([`crate::domain::loyalty::ClientLedger`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiptClient {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub stop_list: bool,
    #[serde(default)]
    pub allow_credit: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_limit: Option<Decimal>,
    #[serde(default)]
    pub debt: Decimal,
    #[serde(default)]
    pub bonus_balance: Decimal,
}

impl ReceiptClient {
    pub fn new(client: &Client, account: &ClientAccount) -> ReceiptClient {
        ReceiptClient {
            id: client.id.clone(),
            name: client.name.clone(),
            stop_list: client.stop_list,
            allow_credit: account.allow_credit,
            credit_limit: client.credit_limit,
            debt: client.debt.unwrap_or(Decimal::ZERO),
            bonus_balance: account.bonus_balance,
        }
    }
}

/// A document line on a card (an order, a shipment, a payment), as the CRM's card call gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardEntry {
    #[serde(default)]
    pub number: String,
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub amount: Option<Decimal>,
    #[serde(default)]
    pub status: Option<String>,
}

/// What the operator sees about a caller: local data at once, the CRM's live data when it
/// answers within the budget (`enriched`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallerCard {
    pub client: String,
    pub name: String,
    pub manager: Option<String>,
    pub segment: Option<String>,
    pub debt: Option<Decimal>,
    pub overdue: Option<Decimal>,
    pub credit_limit: Option<Decimal>,
    pub stop_list: bool,
    /// Debt over the credit limit: the operator should not promise a shipment.
    pub over_limit: bool,
    pub phones: Vec<String>,
    pub last_activity: Option<Timestamp>,
    pub orders: Vec<CardEntry>,
    pub shipments: Vec<CardEntry>,
    pub payments: Vec<CardEntry>,
    /// True once the CRM's live card was merged in.
    pub enriched: bool,
}

/// The CRM's live card (protocol section 2); every field optional so a partial answer still helps.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LiveCard {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub debt: Option<Decimal>,
    #[serde(default)]
    pub overdue: Option<Decimal>,
    #[serde(default)]
    pub credit_limit: Option<Decimal>,
    #[serde(default)]
    pub orders: Vec<CardEntry>,
    #[serde(default)]
    pub shipments: Vec<CardEntry>,
    #[serde(default)]
    pub payments: Vec<CardEntry>,
}

impl CallerCard {
    /// The card from what the feed left in the store.
    pub fn local(client: &Client) -> CallerCard {
        let mut card = CallerCard {
            client: client.id.clone(),
            name: client.name.clone(),
            manager: client.manager.clone(),
            segment: client.segment.clone(),
            debt: client.debt,
            overdue: client.overdue,
            credit_limit: client.credit_limit,
            stop_list: client.stop_list,
            over_limit: false,
            phones: client.phones.clone(),
            last_activity: client.last_activity,
            orders: Vec::new(),
            shipments: Vec::new(),
            payments: Vec::new(),
            enriched: false,
        };
        card.over_limit = card.compute_over_limit();
        card
    }

    /// Merge the CRM's live card: its figures are newer than the last feed page.
    pub fn enrich(&mut self, live: LiveCard) {
        if let Some(name) = live.name.filter(|n| !n.is_empty()) {
            self.name = name;
        }
        self.debt = live.debt.or(self.debt);
        self.overdue = live.overdue.or(self.overdue);
        self.credit_limit = live.credit_limit.or(self.credit_limit);
        self.orders = live.orders;
        self.shipments = live.shipments;
        self.payments = live.payments;
        self.over_limit = self.compute_over_limit();
        self.enriched = true;
    }

    fn compute_over_limit(&self) -> bool {
        matches!((self.debt, self.credit_limit), (Some(d), Some(l)) if d > l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn live_card_overrides_local_figures() {
        let client = Client {
            id: "C-77".into(),
            name: "ООО Ромашка".into(),
            phones: vec!["+7 (495) 123-45-67".into()],
            debt: Some(dec!(15200.00)),
            overdue: None,
            credit_limit: Some(dec!(50000.00)),
            stop_list: false,
            segment: Some("wholesale".into()),
            manager: Some("Иванов И.".into()),
            loyalty_cards: vec![],
            last_activity: None,
        };
        let mut card = CallerCard::local(&client);
        assert!(!card.over_limit && !card.enriched);
        let live: LiveCard = serde_json::from_str(
            r#"{"id":"C-77","debt":"60000.00","overdue":"3000.00",
                "orders":[{"number":"ЗК-1012","date":"2026-11-20","amount":"1200.00","status":"к отгрузке"}]}"#,
        )
        .unwrap();
        card.enrich(live);
        assert_eq!(card.debt, Some(dec!(60000.00)));
        assert_eq!(card.overdue, Some(dec!(3000.00)));
        assert!(card.over_limit && card.enriched);
        assert_eq!(card.orders[0].number, "ЗК-1012");
        assert_eq!(card.name, "ООО Ромашка");
    }
}
