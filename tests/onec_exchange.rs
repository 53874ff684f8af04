//! A test 1C: speaks «Обмен с сайтом» to the real daemon over loopback the way 1C does —
//! HTTP Basic at `checkauth`, the session cookie on every later call, `init`, chunked and
//! zipped `file` uploads with a chunk sent twice, `import` asked again while it answers
//! `progress`, `query`/`success` with a lost `success` — and checks what the shop sees: the
//! catalog at the lane, and its sale back in 1C's hands exactly until 1C acknowledges it.

mod common;

use common::{ADMIN, Api, CASHIER, config_text, parse_config};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

const LOGIN: &str = "1c-exchange";
const PASSWORD: &str = "s3cret-Exchange-pw";
const MILK: &str = "7d3c1a20-0001-11ee-8000-00155d000001";
const MILK_BARCODE: &str = "4601234567893";
const BOOTS_VARIANT: &str = "7d3c1a20-0004-11ee-8000-00155d000001#e5a4c316-a659-11dd-acee-0015e9b8c48d";
/// Most `import` calls one file may take (each waits at most a second and a half on the
/// server): a guard that turns a hang into a failure.
const MAX_IMPORT_CALLS: usize = 40;

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/commerceml").join(path)
}

struct Shop {
    running: storeterm::daemon::Running,
    cashier: Api,
    admin: Api,
    dir: tempfile::TempDir,
}

async fn start_shop() -> Shop {
    start_shop_with("price_type = \"Розничная цена\"\n").await
}

/// A shop with `[onec]`; `settings` adds its price type (and warehouse).
async fn start_shop_with(settings: &str) -> Shop {
    let dir = tempfile::tempdir().unwrap();
    let onec = format!("[onec]\nlogin = \"{LOGIN}\"\npassword = \"{PASSWORD}\"\nfile_limit = 65536\n{settings}");
    let text = config_text("127.0.0.1:0", &dir.path().join("data"), "[[lanes]]\nid = \"1\"\n", &onec);
    let running = storeterm::daemon::start(parse_config(&text)).await.expect("storeterm starts");
    let base = format!("http://{}", running.addr);
    Shop {
        cashier: Api::new(&base, CASHIER),
        admin: Api::new(&base, ADMIN),
        running,
        dir,
    }
}

/// 1C's side of the dialogue.
struct OneC {
    url: String,
    http: reqwest::Client,
    cookie: Option<String>,
}

impl OneC {
    fn new(shop: &Shop) -> OneC {
        OneC {
            url: format!("http://{}/1c/exchange", shop.running.addr),
            http: reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap(),
            cookie: None,
        }
    }

    async fn send(&self, method: reqwest::Method, query: &str, body: Vec<u8>, auth: Option<(&str, &str)>) -> (String, String) {
        let mut request = self.http.request(method, format!("{}?{query}", self.url));
        if let Some((login, password)) = auth {
            request = request.basic_auth(login, Some(password));
        }
        if let Some(cookie) = &self.cookie {
            request = request.header(reqwest::header::COOKIE, cookie);
        }
        let response = request.body(body).send().await.expect("storeterm answers");
        assert_eq!(response.status(), 200, "1C reads the text, the status is always 200");
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        (content_type, response.text().await.unwrap())
    }

    async fn get(&self, query: &str) -> String {
        self.send(reqwest::Method::GET, query, Vec::new(), None).await.1
    }

    /// `checkauth`: returns the answer; on success the cookie is kept for the later calls.
    async fn checkauth(&mut self, login: &str, password: &str) -> String {
        self.cookie = None;
        let (_, text) = self
            .send(
                reqwest::Method::GET,
                "type=catalog&mode=checkauth",
                Vec::new(),
                Some((login, password)),
            )
            .await;
        let lines: Vec<&str> = text.lines().collect();
        if lines.first() == Some(&"success") {
            assert_eq!(lines.len(), 3, "{text}");
            self.cookie = Some(format!("{}={}", lines[1], lines[2]));
        }
        text
    }

    async fn upload(&self, kind: &str, name: &str, chunk: &[u8]) -> String {
        self.send(
            reqwest::Method::POST,
            &format!("type={kind}&mode=file&filename={name}"),
            chunk.to_vec(),
            None,
        )
        .await
        .1
    }

    /// Upload in chunks of `size` bytes, the second chunk twice (1C's retry after a timeout).
    async fn upload_chunked(&self, name: &str, bytes: &[u8], size: usize) {
        for (i, chunk) in bytes.chunks(size).enumerate() {
            assert_eq!(self.upload("catalog", name, chunk).await, "success");
            if i == 1 {
                assert_eq!(self.upload("catalog", name, chunk).await, "success", "a retried chunk");
            }
        }
    }

    /// `import` until it is not `progress`; returns the final answer and how many
    /// `progress` answers came before it.
    async fn import(&self, name: &str) -> (String, usize) {
        let mut progress = 0;
        for _ in 0..MAX_IMPORT_CALLS {
            let answer = self.get(&format!("type=catalog&mode=import&filename={name}")).await;
            if answer.starts_with("progress\n") {
                progress += 1;
                continue;
            }
            return (answer, progress);
        }
        panic!("the import of {name} did not end within {MAX_IMPORT_CALLS} calls");
    }
}

async fn status(admin: &Api) -> Value {
    let (code, status) = admin.get("/api/v1/admin/status").await;
    assert_eq!(code, 200, "{status}");
    status
}

async fn items(admin: &Api) -> u64 {
    status(admin).await["catalog"]["items"].as_u64().unwrap()
}

fn zipped(name: &str, bytes: &[u8]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    zip.start_file(name, opts).unwrap();
    zip.write_all(bytes).unwrap();
    zip.finish().unwrap().into_inner()
}

/// The `Ид`s of the `Документ`s in a sales answer, in order.
fn document_ids(xml: &str) -> Vec<String> {
    xml.split("<Документ>")
        .skip(1)
        .map(|doc| {
            let start = doc.find("<Ид>").expect("a document has an Ид") + "<Ид>".len();
            let end = doc[start..].find("</Ид>").unwrap() + start;
            doc[start..end].to_string()
        })
        .collect()
}

fn files_left(shop: &Shop) -> Vec<PathBuf> {
    let root = shop.dir.path().join("data").join("onec");
    let mut found = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found
}

#[tokio::test]
async fn a_full_exchange_catalog_in_sales_out() {
    let shop = start_shop().await;
    let mut onec = OneC::new(&shop);

    // checkauth → the cookie; init → zip and the chunk size.
    let auth = onec.checkauth(LOGIN, PASSWORD).await;
    assert!(auth.starts_with("success\nstoreterm_1c\n"), "{auth}");
    assert_eq!(onec.get("type=catalog&mode=init").await, "zip=yes\nfile_limit=65536");

    // The catalog in 3 KB chunks (a chunk sent twice), the offers zipped.
    let import = std::fs::read(fixture("v2.04/import.xml")).unwrap();
    onec.upload_chunked("import.xml", &import, 3000).await;
    let stored = std::fs::read(
        shop.dir
            .path()
            .join("data/onec")
            .join(onec.cookie.as_ref().unwrap().split('=').nth(1).unwrap())
            .join("import.xml"),
    )
    .unwrap();
    assert_eq!(stored, import, "the retried chunk was not appended twice");
    let offers = std::fs::read(fixture("v2.04/offers.xml")).unwrap();
    assert_eq!(
        onec.upload("catalog", "offers.zip", &zipped("offers.xml", &offers)).await,
        "success"
    );

    let (answer, progress) = onec.import("import.xml").await;
    assert_eq!(answer, "success");
    assert!(progress >= 1, "the first import call answers progress while the import runs");
    let (answer, _) = onec.import("offers.xml").await;
    assert_eq!(answer, "success", "the zip was unpacked and its offers imported");
    assert_eq!(onec.get("type=catalog&mode=complete").await, "success");
    assert!(files_left(&shop).is_empty(), "imported files are removed: {:?}", files_left(&shop));
    let after_first = items(&shop.admin).await;
    assert!(after_first >= 5, "the catalog's goods and characteristics: {after_first}");

    // The catalog is at the lane: the milk scans at 1C's retail price.
    let (code, receipt) = shop.cashier.scan("1", MILK_BARCODE).await;
    assert_eq!(code, 200, "{receipt}");
    assert_eq!(receipt["lines"][0]["item"], MILK);
    assert_eq!(receipt["lines"][0]["price"], "89.90");
    let (code, paid) = shop.cashier.pay("1", "cash", "100").await;
    assert_eq!(code, 200, "{paid}");
    assert_eq!(paid["status"], "closed");
    let sale = paid["receipt"]["id"].as_str().unwrap().to_string();

    // 1C collects the sale: its Ид, the item's 1C Ид, the price.
    onec.checkauth(LOGIN, PASSWORD).await;
    let (content_type, xml) = onec.send(reqwest::Method::GET, "type=sale&mode=query", Vec::new(), None).await;
    assert!(content_type.starts_with("application/xml"), "{content_type}");
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert_eq!(document_ids(&xml), vec![sale.clone()]);
    assert!(xml.contains(&format!("<Ид>{MILK}</Ид>")), "{xml}");
    assert!(xml.contains("<ЦенаЗаЕдиницу>89.90</ЦенаЗаЕдиницу>"), "{xml}");
    assert!(xml.contains("<Сумма>89.90</Сумма>"), "{xml}");

    // 1C's `success` is lost: the next query hands out the same sale again.
    let (_, again) = onec.send(reqwest::Method::GET, "type=sale&mode=query", Vec::new(), None).await;
    assert_eq!(document_ids(&again), vec![sale.clone()]);
    // A sale closed after the query is not in what `success` acknowledges.
    shop.cashier.scan("1", MILK_BARCODE).await;
    let (_, paid) = shop.cashier.pay("1", "card", "89.90").await;
    let second = paid["receipt"]["id"].as_str().unwrap().to_string();
    assert_eq!(onec.get("type=sale&mode=success").await, "success");
    let (_, after) = onec.send(reqwest::Method::GET, "type=sale&mode=query", Vec::new(), None).await;
    assert_eq!(document_ids(&after), vec![second], "only what the last query handed out was marked");
    assert!(after.contains("Банковская карта"), "{after}");
    assert_eq!(onec.get("type=sale&mode=success").await, "success");
    let (_, after) = onec.send(reqwest::Method::GET, "type=sale&mode=query", Vec::new(), None).await;
    assert!(
        document_ids(&after).is_empty(),
        "acknowledged sales are not handed out again: {after}"
    );
    assert_eq!(status(&shop.admin).await["onec"]["sales_acknowledged"], 2);

    // A return of the first sale's milk goes to 1C as «Возврат товара» against that sale.
    let (code, returned) = shop
        .cashier
        .post(
            "/api/v1/lanes/1/returns",
            serde_json::json!({"receipt": sale, "lines": [{"no": 1, "qty": "1"}], "method": "cash"}),
        )
        .await;
    assert_eq!(code, 200, "{returned}");
    let return_id = returned["return"]["id"].as_str().unwrap().to_string();
    let (_, with_return) = onec.send(reqwest::Method::GET, "type=sale&mode=query", Vec::new(), None).await;
    assert_eq!(document_ids(&with_return), vec![return_id]);
    assert!(with_return.contains("<ХозОперация>Возврат товара</ХозОперация>"), "{with_return}");
    assert!(with_return.contains(&format!("<Значение>{sale}</Значение>")), "{with_return}");
    assert!(with_return.contains("<Сумма>89.90</Сумма>"), "{with_return}");
    assert_eq!(onec.get("type=sale&mode=success").await, "success");
    let (_, after) = onec.send(reqwest::Method::GET, "type=sale&mode=query", Vec::new(), None).await;
    assert!(document_ids(&after).is_empty(), "the acknowledged return is not handed out again");
    // 1C's orders come back: accepted, and their buyers become clients (a caller card finds
    // them); sending the same file again adds no one; a broken file is refused, nothing kept.
    let clients = |s: Value| s["catalog"]["clients"].as_u64().unwrap();
    let before = clients(status(&shop.admin).await);
    let orders = std::fs::read(fixture("windows-1251/orders.xml")).unwrap();
    assert_eq!(onec.upload("sale", "orders.xml", &orders).await, "success");
    let with_buyers = clients(status(&shop.admin).await);
    assert!(with_buyers > before, "the orders' Контрагенты are clients now");
    assert_eq!(onec.upload("sale", "orders.xml", &orders).await, "success");
    assert_eq!(clients(status(&shop.admin).await), with_buyers);
    let broken = onec.upload("sale", "orders.xml", &orders[..orders.len() / 2]).await;
    assert!(broken.starts_with("failure\norders.xml: "), "{broken}");
    assert_eq!(clients(status(&shop.admin).await), with_buyers);

    // A second, full unload with only the milk: the rest stops being sellable at `complete`.
    onec.checkauth(LOGIN, PASSWORD).await;
    let only_milk = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<КоммерческаяИнформация ВерсияСхемы="2.04">
  <Каталог СодержитТолькоИзменения="false">
    <Товары>
      <Товар><Ид>{MILK}</Ид><Штрихкод>{MILK_BARCODE}</Штрихкод><Наименование>Молоко 3,2% 1 л</Наименование><БазоваяЕдиница Код="796"/></Товар>
    </Товары>
  </Каталог>
</КоммерческаяИнформация>"#
    );
    assert_eq!(onec.upload("catalog", "import.xml", only_milk.as_bytes()).await, "success");
    assert_eq!(onec.import("import.xml").await.0, "success");
    assert_eq!(items(&shop.admin).await, after_first, "nothing is removed before the exchange ends");
    assert_eq!(onec.get("type=catalog&mode=complete").await, "success");
    assert_eq!(items(&shop.admin).await, 1, "only the milk is left");
    let (code, receipt) = shop.cashier.scan("1", MILK_BARCODE).await;
    assert_eq!(code, 200, "{receipt}");
    assert_eq!(receipt["lines"][0]["price"], "89.90", "the price stays from the earlier offers");
    assert!(!status(&shop.admin).await.to_string().contains(BOOTS_VARIANT));
}

#[tokio::test]
async fn refusals_change_nothing() {
    let shop = start_shop().await;
    let mut onec = OneC::new(&shop);

    // A wrong password: failure with the reason, an alarm for the admin, no password anywhere.
    let wrong = onec.checkauth(LOGIN, "not-the-password").await;
    assert!(wrong.starts_with("failure\nневерный логин или пароль"), "{wrong}");
    assert!(!wrong.contains("not-the-password"));
    let alarm = status(&shop.admin).await["onec"]["alarm"].as_str().unwrap_or_default().to_string();
    assert!(alarm.contains("1С не может войти") && alarm.contains(LOGIN), "{alarm}");
    assert!(!alarm.contains("not-the-password"), "{alarm}");
    assert!(onec.cookie.is_none());

    // No cookie: every call after checkauth is refused.
    let no_session = onec.get("type=catalog&mode=init").await;
    assert!(no_session.starts_with("failure\nсеанс обмена не начат"), "{no_session}");
    onec.cookie = Some("storeterm_1c=forged".into());
    assert!(onec.get("type=sale&mode=query").await.starts_with("failure\n"));

    // The right password clears the alarm.
    assert!(onec.checkauth(LOGIN, PASSWORD).await.starts_with("success\n"));
    assert!(status(&shop.admin).await["onec"]["alarm"].is_null());

    // Names that reach outside the session's folder or are not 1C's files are refused.
    for bad in [
        "..%2F..%2Fstoreterm.redb.xml",
        "%2Fetc%2Fpasswd.xml",
        "shell.php",
        "run.sh",
        "sub%2Fimport.xml",
    ] {
        let answer = onec.upload("catalog", bad, b"<x/>").await;
        assert!(answer.starts_with("failure\nнедопустимое имя файла"), "{bad}: {answer}");
    }
    assert!(files_left(&shop).is_empty(), "{:?}", files_left(&shop));

    // A chunk over file_limit is refused.
    let big = vec![b' '; 65537];
    assert!(onec.upload("catalog", "import.xml", &big).await.starts_with("failure\n"));

    // A cut-off file fails with a reason for the 1C admin and changes nothing.
    let before = items(&shop.admin).await;
    let import = std::fs::read_to_string(fixture("v2.04/import.xml")).unwrap();
    let cut = &import[..import.find("<Ид>7d3c1a20-0003").unwrap()];
    assert_eq!(onec.upload("catalog", "import0_1.xml", cut.as_bytes()).await, "success");
    let (answer, _) = onec.import("import0_1.xml").await;
    assert!(answer.starts_with("failure\n"), "{answer}");
    assert!(answer.contains("оборван"), "{answer}");
    assert_eq!(items(&shop.admin).await, before, "a malformed file changes nothing");
    let (code, _) = shop.cashier.scan("1", MILK_BARCODE).await;
    assert_eq!(code, 404, "the milk of the cut file did not get in");
    let last = status(&shop.admin).await["onec"]["last_import_ok"].clone();
    assert_eq!(last, false);

    // An import of a file never sent.
    let (answer, _) = onec.import("offers.xml").await;
    assert!(answer.starts_with("failure\nфайл offers.xml не получен"), "{answer}");
}

const UT11: [&str; 4] = [
    "import___a3f1c2d4-5e6f-4a1b-8c9d-0e1f2a3b4c5d.xml",
    "offers___a3f1c2d4-5e6f-4a1b-8c9d-0e1f2a3b4c5d.xml",
    "prices___a3f1c2d4-5e6f-4a1b-8c9d-0e1f2a3b4c5d.xml",
    "rests___a3f1c2d4-5e6f-4a1b-8c9d-0e1f2a3b4c5d.xml",
];

const UT11_LIQUID: &str = "4600000000015";
const UT11_BLUE: &str = "4600000000022";

/// УТ 11's split 3.x files in one zip (price types and warehouses in another file than the
/// prices and stock that name them), a later prices-only exchange, then a windows-1251 single
/// file from an older 1C.
#[tokio::test]
async fn ut11_split_files_in_one_zip_and_a_windows_1251_file() {
    let shop = start_shop_with("price_type = \"Розничная\"\nwarehouse = \"Магазин №1\"\n").await;
    let mut onec = OneC::new(&shop);
    assert!(onec.checkauth(LOGIN, PASSWORD).await.starts_with("success\n"));
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    // Stored in the zip in another order than they must be imported in.
    for name in UT11.iter().rev() {
        zip.start_file(*name, opts).unwrap();
        // The fixture's barcodes have made-up check digits; the till scans only valid ones.
        let text = std::fs::read_to_string(fixture("v3-ut11").join(name))
            .unwrap()
            .replace("4600000000019", UT11_LIQUID)
            .replace("4600000000026", UT11_BLUE);
        zip.write_all(text.as_bytes()).unwrap();
    }
    let bytes = zip.finish().unwrap().into_inner();
    onec.upload_chunked("Pack.zip", &bytes, 1000).await;
    let (answer, _) = onec.import("Pack.zip").await;
    assert_eq!(answer, "success");
    assert_eq!(onec.get("type=catalog&mode=complete").await, "success");
    assert!(files_left(&shop).is_empty(), "{:?}", files_left(&shop));
    let (code, receipt) = shop.cashier.scan("1", UT11_LIQUID).await;
    assert_eq!(code, 200, "{receipt}");
    assert_eq!(
        (receipt["lines"][0]["item"].as_str(), receipt["lines"][0]["price"].as_str()),
        (Some("p-ut11-0001"), Some("129.00"))
    );
    // A characteristic sells as an item of its own, under 1C's `товар#характеристика` id.
    let (code, receipt) = shop.cashier.scan("1", UT11_BLUE).await;
    assert_eq!(code, 200, "{receipt}");
    assert_eq!(receipt["lines"][1]["item"], "p-ut11-0003#ch-blue");

    // A later exchange sends prices alone, naming the price type only by its Ид: the name
    // learnt in the first exchange resolves it.
    onec.checkauth(LOGIN, PASSWORD).await;
    let prices = std::fs::read_to_string(fixture("v3-ut11").join(UT11[2]))
        .unwrap()
        .replace("<ЦенаЗаЕдиницу>129</ЦенаЗаЕдиницу>", "<ЦенаЗаЕдиницу>131</ЦенаЗаЕдиницу>");
    assert!(!prices.contains("<ТипыЦен>"));
    assert_eq!(onec.upload("catalog", "prices___2.xml", prices.as_bytes()).await, "success");
    assert_eq!(onec.import("prices___2.xml").await.0, "success");
    let (code, _) = shop.cashier.post("/api/v1/lanes/1/receipt/cancel", serde_json::json!({})).await;
    assert_eq!(code, 200);
    let (_, receipt) = shop.cashier.scan("1", UT11_LIQUID).await;
    assert_eq!(receipt["lines"][0]["price"], "131.00", "{receipt}");

    // windows-1251 bytes, decoded from the declaration.
    let cp1251 = std::fs::read(fixture("windows-1251/import.xml")).unwrap();
    assert_eq!(onec.upload("catalog", "import.xml", &cp1251).await, "success");
    assert_eq!(onec.import("import.xml").await.0, "success");
    shop.cashier.post("/api/v1/lanes/1/receipt/cancel", serde_json::json!({})).await;
    let (code, receipt) = shop.cashier.scan("1", "4601234567893").await;
    assert_eq!(code, 200, "{receipt}");
    assert_eq!(
        (receipt["lines"][0]["name"].as_str(), receipt["lines"][0]["price"].as_str()),
        (Some("Молоко «Бурёнка» 1 л"), Some("79.90"))
    );
}

/// A generated catalog of `n` goods (full unload) and its offers, in 1C's 2.04 shape.
fn big_catalog(n: usize) -> (String, String) {
    let mut import = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<КоммерческаяИнформация ВерсияСхемы=\"2.04\">\n<Каталог СодержитТолькоИзменения=\"false\">\n<Товары>\n",
    );
    let mut offers = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<КоммерческаяИнформация ВерсияСхемы=\"2.04\">\n<ПакетПредложений>\n<ТипыЦен><ТипЦены><Ид>pt-retail-0001</Ид><Наименование>Розничная цена</Наименование></ТипЦены></ТипыЦен>\n<Предложения>\n",
    );
    for i in 0..n {
        let id = if i == 0 { MILK.to_string() } else { format!("gen-{i:08}") };
        let code = if i == 0 { MILK_BARCODE.to_string() } else { format!("29{i:011}") };
        import.push_str(&format!(
            "<Товар><Ид>{id}</Ид><Штрихкод>{code}</Штрихкод><Артикул>A{i}</Артикул><Наименование>Товар номер {i}</Наименование><БазоваяЕдиница Код=\"796\"/><СтавкиНалогов><СтавкаНалога><Наименование>НДС</Наименование><Ставка>20</Ставка></СтавкаНалога></СтавкиНалогов></Товар>\n"
        ));
        offers.push_str(&format!(
            "<Предложение><Ид>{id}</Ид><Цены><Цена><ИдТипаЦены>pt-retail-0001</ИдТипаЦены><ЦенаЗаЕдиницу>{}.90</ЦенаЗаЕдиницу></Цена></Цены><Количество>{}</Количество></Предложение>\n",
            10 + i % 500,
            i % 37
        ));
    }
    import.push_str("</Товары>\n</Каталог>\n</КоммерческаяИнформация>\n");
    offers.push_str("</Предложения>\n</ПакетПредложений>\n</КоммерческаяИнформация>\n");
    (import, offers)
}

/// Measurement (run with `--ignored --nocapture`): a large catalog through the exchange while
/// a cashier keeps scanning; prints the import's time and the slowest scan meanwhile.
#[tokio::test]
#[ignore = "a measurement; prints timings"]
async fn measure_a_large_import_while_the_till_sells() {
    let n: usize = std::env::var("ONEC_ITEMS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let shop = start_shop().await;
    let mut onec = OneC::new(&shop);
    let (import, offers) = big_catalog(n);
    // The milk first, so the till has something to scan during the big import.
    onec.checkauth(LOGIN, PASSWORD).await;
    let (small_import, small_offers) = big_catalog(1);
    onec.upload("catalog", "import.xml", small_import.as_bytes()).await;
    assert_eq!(onec.import("import.xml").await.0, "success");
    onec.upload("catalog", "offers.xml", small_offers.as_bytes()).await;
    assert_eq!(onec.import("offers.xml").await.0, "success");

    let started = tokio::time::Instant::now();
    onec.upload_chunked("import.xml", import.as_bytes(), 65536).await;
    onec.upload_chunked("offers.xml", offers.as_bytes(), 65536).await;
    let uploaded = started.elapsed();
    let cashier = shop.cashier.clone();
    let importing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let still = importing.clone();
    let scanning = tokio::spawn(async move {
        let (mut slowest, mut total, mut scans) = (Duration::ZERO, Duration::ZERO, 0u32);
        while still.load(std::sync::atomic::Ordering::Relaxed) {
            let t = tokio::time::Instant::now();
            let (code, _) = cashier.scan("1", MILK_BARCODE).await;
            assert_eq!(code, 200);
            slowest = slowest.max(t.elapsed());
            total += t.elapsed();
            scans += 1;
        }
        (scans, slowest, total / scans.max(1))
    });
    let t = tokio::time::Instant::now();
    let (answer, progress) = onec.import("import.xml").await;
    assert_eq!(answer, "success");
    let catalog_time = t.elapsed();
    let t = tokio::time::Instant::now();
    assert_eq!(onec.import("offers.xml").await.0, "success");
    let offers_time = t.elapsed();
    assert_eq!(onec.get("type=catalog&mode=complete").await, "success");
    importing.store(false, std::sync::atomic::Ordering::Relaxed);
    let (scans, slowest, mean) = scanning.await.unwrap();
    let scans = format!("{scans} scans, mean {mean:?}, slowest {slowest:?}");
    assert_eq!(items(&shop.admin).await, n as u64);
    println!(
        "{n} items: upload {uploaded:?} ({} + {} bytes), import.xml {catalog_time:?} ({progress} progress answers), offers.xml {offers_time:?}; meanwhile at the till: {scans}",
        import.len(),
        offers.len()
    );
}
