//! The shop's sales and returns as 1C reads a site's orders: the answer to
//! `type=sale&mode=query`.
//!
//! 1C's «Обмен с сайтом» loads each `Документ` of the answer as a customer order
//! (`ЗаказКлиента` in УТ 11, `ЗаказПокупателя` in УНФ) and recognises it again by its `Ид`:
//! a document handed out twice (because 1C's `mode=success` was lost) updates the same order,
//! it never makes a second one. So the `Ид` here is the sale's own stable id.
//!
//! What 1C reads, and so what is written:
//! - the header: `Ид`, `Номер`, `Дата`, `Время` (the shop's local time), `ХозОперация`
//!   (`Заказ товара`; a return is `Возврат товара`, the CommerceML name for it), `Роль`
//!   (`Продавец`: the site sells), `Валюта`, `Курс`, `Сумма`;
//! - `Контрагенты`: the client when one was attached to the sale, else one retail customer;
//! - `Товары/Товар`: the 1C `Ид` of each item (`товар#характеристика` for a characteristic,
//!   exactly as it came in), `Наименование`, `БазоваяЕдиница` with its ОКЕИ code,
//!   `ЦенаЗаЕдиницу`, `Количество`, `Сумма` (after discount), `Скидки`, the VAT rate and sum;
//! - `ЗначенияРеквизитов`: the payment method 1C maps to its own (`Метод оплаты`), `Заказ
//!   оплачен`, `Дата оплаты`, `Отменен`, `Финальный статус`, `Статус заказа` — the order
//!   properties every site module sends — plus the cashier, lane, shift and per-method sums.
//!
//! The schema stamp is 2.05, the version whose document shape this is and which every 1C with
//! «Обмен с сайтом» reads. Money has two decimal places, quantities up to three.

use super::units;
use crate::domain::money;
use crate::domain::receipt::{ClosedReceipt, PaymentMethod};
use crate::domain::returns::ClosedReturn;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use rust_decimal::Decimal;
use std::fmt::Write;

/// The schema version stamped on the answer.
pub const SCHEMA_VERSION: &str = "2.05";

/// One sale or return as 1C should see it. Built from a closed receipt by
/// [`SaleDocument::from_receipt`] or from a return by [`SaleDocument::from_return`]; the
/// caller fills in the client (the writer depends on this type only).
#[derive(Debug, Clone, PartialEq)]
pub struct SaleDocument {
    /// The stable id 1C de-duplicates by.
    pub id: String,
    /// The number a person sees (`1-12-5`: lane, shift, receipt).
    pub number: String,
    pub kind: DocumentKind,
    /// When the sale closed, in the shop's time zone.
    pub at: DateTime,
    /// `RUB`, as 1C writes its own prices.
    pub currency: String,
    /// The sum of the lines after discounts.
    pub total: Decimal,
    /// The client attached to the sale; `None` is a retail customer.
    pub client: Option<Counterparty>,
    pub cashier: String,
    pub lane: String,
    pub shift: Option<u32>,
    pub payments: Vec<SalePayment>,
    pub lines: Vec<SaleLine>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentKind {
    Sale,
    /// A return, with the id of the sale it returns against when known.
    Return {
        sale: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counterparty {
    pub id: String,
    pub name: String,
    pub phones: Vec<String>,
}

/// Money that stayed with the shop by one method (cash: tendered minus change).
#[derive(Debug, Clone, PartialEq)]
pub struct SalePayment {
    pub method: PaymentKind,
    pub amount: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentKind {
    Cash,
    Card,
    /// A method 1C knows by this name (a gift certificate, SBP…).
    Other(String),
}

impl PaymentKind {
    /// How 1C names a method of ours.
    fn of(method: PaymentMethod) -> PaymentKind {
        match method {
            PaymentMethod::Cash => PaymentKind::Cash,
            PaymentMethod::Card => PaymentKind::Card,
            PaymentMethod::Bonus => PaymentKind::Other("Бонусные баллы".into()),
            PaymentMethod::Credit => PaymentKind::Other("В кредит".into()),
        }
    }

    /// The words 1C's payment-method mapping is set up with.
    fn words(&self) -> &str {
        match self {
            PaymentKind::Cash => "Наличный расчет",
            PaymentKind::Card => "Банковская карта",
            PaymentKind::Other(name) => name,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SaleLine {
    /// The item's 1C `Ид` (`товар#характеристика` for a characteristic).
    pub item: String,
    pub name: String,
    /// storeterm's unit (`pcs`, `kg`…), written back as its ОКЕИ code.
    pub unit: String,
    pub qty: Decimal,
    /// Price per unit before the discount.
    pub price: Decimal,
    /// The discount on the line, in money (0 when none).
    pub discount: Decimal,
    /// The line's sum after the discount.
    pub sum: Decimal,
    /// `"20"`, `"10"`, `"0"`, `"none"`.
    pub vat: String,
    /// The marking code the pack was sold by, when it was.
    pub mark: Option<String>,
}

impl SaleDocument {
    /// A closed receipt as a sale for 1C, with its time in `tz` (the shop's zone).
    pub fn from_receipt(receipt: &ClosedReceipt, tz: &TimeZone, currency: &str) -> SaleDocument {
        let r = &receipt.receipt;
        // What each method kept: cash less the change handed back.
        let payments = PaymentMethod::ALL
            .into_iter()
            .filter(|m| r.payments.iter().any(|p| p.method == *m))
            .map(|m| SalePayment {
                method: PaymentKind::of(m),
                amount: receipt.kept_by(m),
            })
            .filter(|p| p.amount != Decimal::ZERO)
            .collect();
        let lines = r
            .lines
            .iter()
            .map(|l| {
                let full = money::line_sum(l.price, l.qty).unwrap_or(l.sum);
                SaleLine {
                    item: l.item.clone(),
                    name: l.name.clone(),
                    unit: l.unit.clone(),
                    qty: l.qty,
                    price: l.price,
                    discount: (full - l.sum).max(Decimal::ZERO),
                    sum: l.sum,
                    vat: l.vat.clone(),
                    mark: l.mark.as_ref().map(|m| m.code.clone()),
                }
            })
            .collect();
        SaleDocument {
            id: r.id.to_string(),
            number: format!("{}-{}-{}", r.lane, r.shift_number, r.number),
            kind: DocumentKind::Sale,
            at: receipt.closed_at.to_zoned(tz.clone()).datetime(),
            currency: currency.to_string(),
            total: receipt.total,
            client: None,
            cashier: r.cashier.clone(),
            lane: r.lane.clone(),
            shift: Some(r.shift_number),
            payments,
            lines,
        }
    }

    /// A return as 1C reads one: `Возврат товара`, the sums refunded by each method, and the
    /// sale it returns against (its `Ид`, as 1C got it with the sale) when there was one.
    pub fn from_return(ret: &ClosedReturn, tz: &TimeZone, currency: &str) -> SaleDocument {
        let payments = ret
            .refunds
            .iter()
            .filter(|p| p.amount != Decimal::ZERO)
            .map(|p| SalePayment {
                method: PaymentKind::of(p.method),
                amount: p.amount,
            })
            .collect();
        let lines = ret
            .lines
            .iter()
            .map(|l| SaleLine {
                item: l.item.clone(),
                name: l.name.clone(),
                unit: l.unit.clone(),
                qty: l.qty,
                price: l.price,
                discount: l.discount,
                sum: l.sum,
                vat: l.vat.clone(),
                mark: l.mark.as_ref().map(|m| m.code.clone()),
            })
            .collect();
        SaleDocument {
            id: ret.id.to_string(),
            number: format!("{}-{}-В{}", ret.lane, ret.shift_number, ret.number),
            kind: DocumentKind::Return {
                sale: ret.sale.as_ref().map(|s| s.receipt.to_string()),
            },
            at: ret.at.to_zoned(tz.clone()).datetime(),
            currency: currency.to_string(),
            total: ret.total,
            client: None,
            cashier: ret.cashier.clone(),
            lane: ret.lane.clone(),
            shift: Some(ret.shift_number),
            payments,
            lines,
        }
    }
}

/// The encoding of the answer. 1C reads the declaration; UTF-8 is the default, windows-1251
/// is there for a 1C that some older exchange processing expects it from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputEncoding {
    Utf8,
    Windows1251,
}

/// The retail customer 1C files anonymous sales under.
const RETAIL_CUSTOMER_ID: &str = "storeterm-retail-customer";
const RETAIL_CUSTOMER_NAME: &str = "Розничный покупатель";

/// The `КоммерческаяИнформация` with these documents (none is a valid, empty answer),
/// generated at `now` (the shop's local time).
pub fn render(documents: &[SaleDocument], now: DateTime, encoding: OutputEncoding) -> Vec<u8> {
    let mut x = Xml::default();
    let name = match encoding {
        OutputEncoding::Utf8 => "UTF-8",
        OutputEncoding::Windows1251 => "windows-1251",
    };
    x.raw(&format!("<?xml version=\"1.0\" encoding=\"{name}\"?>\n"));
    x.raw(&format!(
        "<КоммерческаяИнформация ВерсияСхемы=\"{SCHEMA_VERSION}\" ДатаФормирования=\"{}\">\n",
        now.strftime("%Y-%m-%dT%H:%M:%S")
    ));
    for doc in documents {
        document(&mut x, doc);
    }
    x.raw("</КоммерческаяИнформация>\n");
    match encoding {
        OutputEncoding::Utf8 => x.out.into_bytes(),
        // Characters windows-1251 lacks become numeric character references (`&#8381;`),
        // which an XML reader turns back into the character: nothing is lost.
        OutputEncoding::Windows1251 => encoding_rs::WINDOWS_1251.encode(&x.out).0.into_owned(),
    }
}

fn document(x: &mut Xml, d: &SaleDocument) {
    let date = d.at.strftime("%Y-%m-%d").to_string();
    let time = d.at.strftime("%H:%M:%S").to_string();
    x.open(1, "Документ");
    x.leaf(2, "Ид", &d.id);
    x.leaf(2, "Номер", &d.number);
    x.leaf(2, "Дата", &date);
    let operation = match d.kind {
        DocumentKind::Sale => "Заказ товара",
        DocumentKind::Return { .. } => "Возврат товара",
    };
    x.leaf(2, "ХозОперация", operation);
    x.leaf(2, "Роль", "Продавец");
    x.leaf(2, "Валюта", &d.currency);
    x.leaf(2, "Курс", "1");
    x.leaf(2, "Сумма", &amount(d.total));
    x.open(2, "Контрагенты");
    x.open(3, "Контрагент");
    match &d.client {
        Some(c) => {
            x.leaf(4, "Ид", &c.id);
            x.leaf(4, "Наименование", &c.name);
            x.leaf(4, "ПолноеНаименование", &c.name);
            x.leaf(4, "Роль", "Покупатель");
            if !c.phones.is_empty() {
                x.open(4, "Контакты");
                for phone in &c.phones {
                    x.open(5, "Контакт");
                    x.leaf(6, "Тип", "Телефон рабочий");
                    x.leaf(6, "Значение", phone);
                    x.close(5, "Контакт");
                }
                x.close(4, "Контакты");
            }
        }
        None => {
            x.leaf(4, "Ид", RETAIL_CUSTOMER_ID);
            x.leaf(4, "Наименование", RETAIL_CUSTOMER_NAME);
            x.leaf(4, "ПолноеНаименование", RETAIL_CUSTOMER_NAME);
            x.leaf(4, "Роль", "Покупатель");
        }
    }
    x.close(3, "Контрагент");
    x.close(2, "Контрагенты");
    x.leaf(2, "Время", &time);
    let mut comment = format!("storeterm: касса {}", d.lane);
    if let Some(shift) = d.shift {
        let _ = write!(comment, ", смена {shift}");
    }
    let _ = write!(comment, ", кассир {}", d.cashier);
    if let DocumentKind::Return { sale: Some(sale) } = &d.kind {
        let _ = write!(comment, "; возврат по продаже {sale}");
    }
    x.leaf(2, "Комментарий", &comment);
    let vat_total: Decimal = d.lines.iter().map(line_vat).sum();
    x.open(2, "Налоги");
    x.open(3, "Налог");
    x.leaf(4, "Наименование", "НДС");
    x.leaf(4, "УчтеноВСумме", "true");
    x.leaf(4, "Сумма", &amount(vat_total));
    x.close(3, "Налог");
    x.close(2, "Налоги");
    x.open(2, "Товары");
    for line in &d.lines {
        item_line(x, line);
    }
    x.close(2, "Товары");
    x.open(2, "ЗначенияРеквизитов");
    let methods: Vec<&str> = d.payments.iter().map(|p| p.method.words()).collect();
    let paid_at = d.at.strftime("%Y-%m-%d %H:%M:%S").to_string();
    let requisites: Vec<(&str, String)> = vec![
        ("Метод оплаты", methods.join(", ")),
        ("Заказ оплачен", "true".into()),
        ("Дата оплаты", paid_at.clone()),
        ("Доставка разрешена", "true".into()),
        ("Отменен", "false".into()),
        ("Финальный статус", "true".into()),
        ("Статус заказа", "[F] Выполнен".into()),
        ("Дата изменения статуса", paid_at),
        ("Кассир", d.cashier.clone()),
        ("Касса", d.lane.clone()),
    ];
    for (name, value) in &requisites {
        requisite(x, 3, name, value);
    }
    if let Some(shift) = d.shift {
        requisite(x, 3, "Смена", &shift.to_string());
    }
    for p in &d.payments {
        requisite(x, 3, &format!("Сумма оплаты: {}", p.method.words()), &amount(p.amount));
    }
    if let DocumentKind::Return { sale: Some(sale) } = &d.kind {
        requisite(x, 3, "Документ-основание", sale);
    }
    x.close(2, "ЗначенияРеквизитов");
    x.close(1, "Документ");
}

fn item_line(x: &mut Xml, l: &SaleLine) {
    let unit = units::by_ours(&l.unit);
    x.open(3, "Товар");
    x.leaf(4, "Ид", &l.item);
    x.leaf(4, "Наименование", &l.name);
    x.indent(4);
    x.raw("<БазоваяЕдиница Код=\"");
    x.text(unit.code);
    x.raw("\" НаименованиеПолное=\"");
    x.text(unit.full);
    x.raw("\" МеждународноеСокращение=\"");
    x.text(unit.international);
    x.raw("\">");
    x.text(unit.short);
    x.raw("</БазоваяЕдиница>\n");
    x.leaf(4, "ЦенаЗаЕдиницу", &amount(l.price));
    x.leaf(4, "Количество", &quantity(l.qty));
    x.leaf(4, "Сумма", &amount(l.sum));
    if l.discount > Decimal::ZERO {
        x.open(4, "Скидки");
        x.open(5, "Скидка");
        x.leaf(6, "Наименование", "Скидка");
        x.leaf(6, "Сумма", &amount(l.discount));
        x.leaf(6, "УчтеноВСумме", "true");
        x.close(5, "Скидка");
        x.close(4, "Скидки");
    }
    x.open(4, "СтавкиНалогов");
    x.open(5, "СтавкаНалога");
    x.leaf(6, "Наименование", "НДС");
    x.leaf(6, "Ставка", &vat_words(&l.vat));
    x.close(5, "СтавкаНалога");
    x.close(4, "СтавкиНалогов");
    x.open(4, "Налоги");
    x.open(5, "Налог");
    x.leaf(6, "Наименование", "НДС");
    x.leaf(6, "УчтеноВСумме", "true");
    x.leaf(6, "Сумма", &amount(line_vat(l)));
    x.close(5, "Налог");
    x.close(4, "Налоги");
    x.open(4, "ЗначенияРеквизитов");
    requisite(x, 5, "ВидНоменклатуры", "Товар");
    requisite(x, 5, "ТипНоменклатуры", "Товар");
    if let Some(mark) = &l.mark {
        requisite(x, 5, "КодМаркировки", mark);
    }
    x.close(4, "ЗначенияРеквизитов");
    x.close(3, "Товар");
}

fn requisite(x: &mut Xml, depth: usize, name: &str, value: &str) {
    x.open(depth, "ЗначениеРеквизита");
    x.leaf(depth + 1, "Наименование", name);
    x.leaf(depth + 1, "Значение", value);
    x.close(depth, "ЗначениеРеквизита");
}

/// VAT inside a line's sum at its rate; none for `none` and 0 %.
fn line_vat(l: &SaleLine) -> Decimal {
    match money::vat_rate(&l.vat) {
        Some(rate) => money::vat_included(l.sum, rate),
        None => Decimal::ZERO,
    }
}

/// The rate as 1C prints it: `20`, `10`, `0`, `Без налога`.
fn vat_words(vat: &str) -> String {
    match money::vat_rate(vat) {
        Some(rate) => rate.normalize().to_string(),
        None => "Без налога".into(),
    }
}

/// Money with two places: `180.00`.
fn amount(value: Decimal) -> String {
    money::to_money(value).to_string()
}

/// A quantity without trailing zeros: `2`, `0.355`.
fn quantity(value: Decimal) -> String {
    value.normalize().to_string()
}

/// A tiny indenting XML writer over a `String`.
#[derive(Default)]
struct Xml {
    out: String,
}

impl Xml {
    fn raw(&mut self, s: &str) {
        self.out.push_str(s);
    }

    fn indent(&mut self, depth: usize) {
        for _ in 0..depth {
            self.out.push_str("  ");
        }
    }

    /// Text and attribute values, escaped. Characters XML 1.0 forbids (control characters
    /// other than tab and line breaks) become spaces: a stray one in an item name must not
    /// make 1C refuse the whole answer.
    fn text(&mut self, s: &str) {
        for c in s.chars() {
            match c {
                '&' => self.out.push_str("&amp;"),
                '<' => self.out.push_str("&lt;"),
                '>' => self.out.push_str("&gt;"),
                '"' => self.out.push_str("&quot;"),
                '\'' => self.out.push_str("&apos;"),
                '\t' | '\n' | '\r' => self.out.push(c),
                c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => self.out.push(' '),
                c => self.out.push(c),
            }
        }
    }

    fn open(&mut self, depth: usize, name: &str) {
        self.indent(depth);
        self.out.push('<');
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    fn close(&mut self, depth: usize, name: &str) {
        self.indent(depth);
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    fn leaf(&mut self, depth: usize, name: &str, value: &str) {
        self.indent(depth);
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        self.text(value);
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::feed::Change;
    use crate::sync::commerceml::parse::{Parser, Pass, Settings};
    use jiff::civil::date;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn sale() -> SaleDocument {
        SaleDocument {
            id: "0192f1d6-0000-7000-8000-000000000001".into(),
            number: "1-12-5".into(),
            kind: DocumentKind::Sale,
            at: date(2026, 11, 22).at(10, 15, 0, 0),
            currency: "RUB".into(),
            total: dec!(499.15),
            client: Some(Counterparty {
                id: "C-77".into(),
                name: "ООО «Ромашка» & сыновья".into(),
                phones: vec!["+7 (495) 123-45-67".into()],
            }),
            cashier: "Анна".into(),
            lane: "1".into(),
            shift: Some(12),
            payments: vec![
                SalePayment {
                    method: PaymentKind::Cash,
                    amount: dec!(300),
                },
                SalePayment {
                    method: PaymentKind::Card,
                    amount: dec!(199.15),
                },
            ],
            lines: vec![
                SaleLine {
                    item: "P1#C40".into(),
                    name: "Ботфорты <40>".into(),
                    unit: "pair".into(),
                    qty: dec!(1),
                    price: dec!(200),
                    discount: dec!(20),
                    sum: dec!(180),
                    vat: "20".into(),
                    mark: None,
                },
                SaleLine {
                    item: "I-2002".into(),
                    name: "Сыр Российский, вес.".into(),
                    unit: "kg".into(),
                    qty: dec!(0.355),
                    price: dec!(899),
                    discount: dec!(0),
                    sum: dec!(319.15),
                    vat: "10".into(),
                    mark: None,
                },
            ],
        }
    }

    #[test]
    fn a_sale_is_written_byte_for_byte_as_1c_reads_it() {
        let bytes = render(&[sale()], date(2026, 11, 22).at(10, 20, 0, 0), OutputEncoding::Utf8);
        let text = String::from_utf8(bytes).unwrap();
        let expected = include_str!("../../../tests/fixtures/commerceml/sale-query-answer.xml");
        assert_eq!(text, expected);
    }

    #[test]
    fn an_empty_answer_is_a_valid_document() {
        let text = String::from_utf8(render(&[], date(2026, 1, 2).at(3, 4, 5, 0), OutputEncoding::Utf8)).unwrap();
        assert_eq!(
            text,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<КоммерческаяИнформация ВерсияСхемы=\"2.05\" ДатаФормирования=\"2026-01-02T03:04:05\">\n</КоммерческаяИнформация>\n"
        );
    }

    #[test]
    fn a_return_names_its_operation_and_its_sale() {
        let mut r = sale();
        r.kind = DocumentKind::Return {
            sale: Some("0192f1d6-0000-7000-8000-00000000000a".into()),
        };
        r.client = None;
        let text = String::from_utf8(render(&[r], date(2026, 11, 22).at(10, 20, 0, 0), OutputEncoding::Utf8)).unwrap();
        assert!(text.contains("<ХозОперация>Возврат товара</ХозОперация>"));
        assert!(text.contains("<Значение>0192f1d6-0000-7000-8000-00000000000a</Значение>"));
        assert!(text.contains("<Наименование>Розничный покупатель</Наименование>"));
    }

    #[test]
    fn a_closed_return_becomes_a_return_document_with_its_refunds() {
        use crate::domain::receipt::Payment;
        use crate::domain::returns::{ReturnLine, SaleRef};
        let sale = uuid::Uuid::from_u128(7);
        let ret = ClosedReturn {
            id: uuid::Uuid::from_u128(9),
            number: 3,
            lane: "2".into(),
            shift_id: uuid::Uuid::from_u128(1),
            shift_number: 12,
            cashier: "Анна".into(),
            at: jiff::Timestamp::UNIX_EPOCH,
            sale: Some(SaleRef {
                receipt: sale,
                number: 5,
                lane: "2".into(),
                shift_number: 12,
                closed_at: jiff::Timestamp::UNIX_EPOCH,
            }),
            lines: vec![ReturnLine {
                no: 1,
                item: "bd72d910#90c5".into(),
                sku: "Б-1".into(),
                name: "Ботфорты".into(),
                unit: "pair".into(),
                vat: "20".into(),
                weighted: false,
                code: "2000018987155".into(),
                qty: dec!(1),
                price: dec!(1719.00),
                discount: dec!(171.90),
                sum: dec!(1547.10),
                mark: None,
                promotions: vec![],
            }],
            total: dec!(1547.10),
            refunds: vec![
                Payment {
                    method: PaymentMethod::Card,
                    amount: dec!(1500.00),
                    rrn: None,
                },
                Payment {
                    method: PaymentMethod::Bonus,
                    amount: dec!(47.10),
                    rrn: None,
                },
            ],
            client: Some("C-1".into()),
            fiscal: None,
        };
        let doc = SaleDocument::from_return(&ret, &TimeZone::UTC, "RUB");
        assert_eq!(doc.id, uuid::Uuid::from_u128(9).to_string());
        assert_eq!(doc.number, "2-12-В3");
        assert_eq!(
            doc.kind,
            DocumentKind::Return {
                sale: Some(sale.to_string())
            }
        );
        assert_eq!(doc.total, dec!(1547.10));
        assert_eq!(
            doc.payments,
            vec![
                SalePayment {
                    method: PaymentKind::Card,
                    amount: dec!(1500.00)
                },
                SalePayment {
                    method: PaymentKind::Other("Бонусные баллы".into()),
                    amount: dec!(47.10)
                },
            ]
        );
        assert_eq!((doc.lines[0].discount, doc.lines[0].sum), (dec!(171.90), dec!(1547.10)));
        let text = String::from_utf8(render(&[doc], date(2026, 11, 22).at(10, 20, 0, 0), OutputEncoding::Utf8)).unwrap();
        assert!(text.contains("<ХозОперация>Возврат товара</ХозОперация>"), "{text}");
        assert!(text.contains("<Дата>1970-01-01</Дата>"), "{text}");
    }

    #[test]
    fn windows_1251_output_reads_back_with_every_character() {
        let mut s = sale();
        s.lines[0].name = "Товар ₽ №1".into();
        let bytes = render(&[s], date(2026, 11, 22).at(10, 20, 0, 0), OutputEncoding::Windows1251);
        assert!(bytes.starts_with(b"<?xml version=\"1.0\" encoding=\"windows-1251\"?>"));
        // The ruble sign is not in windows-1251: it travels as a character reference.
        assert!(bytes.windows(7).any(|w| w == b"&#8381;"));
        // Our own parser reads the documents' client back, through the windows-1251 path.
        let mut parser = Parser::new(bytes.as_slice(), &Settings::retail("x", None), Pass::Apply(Default::default())).unwrap();
        let mut out = Vec::new();
        while parser.fill(&mut out, 100).unwrap() {}
        assert!(matches!(&out[..], [Change::ClientUpsert(c)] if c.name == "ООО «Ромашка» & сыновья" && c.phones.len() == 1));
    }

    #[test]
    fn a_closed_receipt_becomes_a_sale_with_cash_net_of_change() {
        use crate::domain::catalog::Item;
        use crate::domain::receipt::{Payment, Receipt, ReceiptHeader};
        use std::collections::BTreeMap;
        let item = Item {
            id: "bd72d910#90c5".into(),
            sku: "Б-1".into(),
            name: "Ботфорты".into(),
            unit: "pair".into(),
            vat: "20".into(),
            weighted: false,
            marked: false,
            mark_group: None,
            plu: None,
            barcodes: vec![],
            prices: BTreeMap::from([("retail".to_string(), dec!(1719.00))]),
        };
        let mut r = Receipt::new(ReceiptHeader {
            id: uuid::Uuid::from_u128(7),
            number: 5,
            lane: "2",
            shift_id: uuid::Uuid::from_u128(1),
            shift_number: 12,
            cashier: "Анна",
            opened_at: jiff::Timestamp::UNIX_EPOCH,
        });
        r.add(&item, "2000018987155", dec!(2)).unwrap();
        r.payments.push(Payment {
            method: PaymentMethod::Cash,
            amount: dec!(4000),
            rrn: None,
        });
        let closed = r.close(dec!(562.00), "2026-11-22T07:15:00Z".parse().unwrap());
        let tz = TimeZone::get("Europe/Moscow").unwrap_or(TimeZone::fixed(jiff::tz::offset(3)));
        let doc = SaleDocument::from_receipt(&closed, &tz, "RUB");
        assert_eq!(doc.number, "2-12-5");
        assert_eq!(doc.at, date(2026, 11, 22).at(10, 15, 0, 0));
        assert_eq!(doc.total, dec!(3438.00));
        assert_eq!(
            doc.payments,
            vec![SalePayment {
                method: PaymentKind::Cash,
                amount: dec!(3438.00)
            }]
        );
        assert_eq!(doc.lines[0].item, "bd72d910#90c5");
        assert_eq!(doc.lines[0].discount, dec!(0));
    }

    proptest! {
        /// Whatever the names hold, the answer is well-formed XML that gives them back.
        #[test]
        fn any_text_is_escaped(name in "\\PC{0,40}", client in "\\PC{1,40}") {
            let mut s = sale();
            s.lines[0].name = name;
            s.client.as_mut().unwrap().name = client.clone();
            let bytes = render(&[s], date(2026, 11, 22).at(10, 20, 0, 0), OutputEncoding::Utf8);
            let mut parser = Parser::new(bytes.as_slice(), &Settings::retail("x", None), Pass::Apply(Default::default())).unwrap();
            let mut out = Vec::new();
            while parser.fill(&mut out, 100).unwrap() {}
            let expected: String = client.chars().map(|c| if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') { ' ' } else { c }).collect();
            let expected = expected.trim();
            if expected.is_empty() {
                prop_assert!(out.is_empty());
            } else {
                prop_assert!(matches!(&out[..], [Change::ClientUpsert(c)] if c.name == expected), "{:?}", out);
            }
        }
    }
}
