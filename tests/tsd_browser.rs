//! The storekeeper's handheld screen in a real headless Chromium with a 480×800 viewport:
//! scans typed key by key with Enter, as the handheld's imager does, through lookup,
//! receiving, putaway (with a dropped answer retried), picking and counting.

mod common;

use common::browser::Browser;
use common::wms::{COFFEE, MILK, standard_feed, start};
use common::{STOREKEEPER, eventually};
use fantoccini::key::Key;
use std::time::Duration;

async fn scan(browser: &Browser, text: &str) {
    browser
        .wait_js(
            "the screen is idle",
            "!document.body.dataset.busy && document.activeElement.id === 'scan'",
        )
        .await;
    browser.type_keys(&format!("{text}{}", char::from(Key::Enter))).await;
}

async fn prompt_is(browser: &Browser, text: &str) {
    browser
        .wait_js(
            &format!("prompt {text}"),
            &format!("document.getElementById('prompt').textContent === {text:?}"),
        )
        .await;
}

async fn message_has(browser: &Browser, kind: &str, text: &str) -> String {
    let script = format!(
        "document.querySelector('#message.{kind}') && document.getElementById('message').textContent.includes({text:?}) && document.getElementById('message').textContent"
    );
    browser
        .wait_js(&format!("{kind} message with {text}"), &script)
        .await
        .as_str()
        .unwrap()
        .to_string()
}

async fn click(browser: &Browser, css: &str) {
    browser.wait_js("the screen is idle", "!document.body.dataset.busy").await;
    browser.click(css).await;
}

#[tokio::test]
#[ignore = "needs chromium"]
async fn a_storekeeper_works_the_handheld_screen() {
    let (running, crm, api, _dir) = start(standard_feed(), "").await;
    let browser = Browser::start_handheld(480, 800).await;
    browser.client.goto(&format!("{}/tsd#token={STOREKEEPER}", api.base)).await.unwrap();
    browser
        .wait_js("signed in", "document.getElementById('who').textContent === 'Пётр'")
        .await;
    assert_eq!(
        browser.wait_js("viewport", "[window.innerWidth, window.innerHeight]").await,
        serde_json::json!([480, 800])
    );
    assert_eq!(browser.wait_js("focus", "document.activeElement.id").await, "scan");

    // Lookup: a cell shows its contents with Cyrillic names.
    prompt_is(&browser, "Сканируйте ячейку или товар").await;
    scan(&browser, "A-01-02-3").await;
    message_has(&browser, "ok", "Ячейка A-01-02-3").await;
    browser
        .wait_js(
            "milk listed",
            "document.getElementById('list').textContent.includes('Молоко 3,2% 1 л')",
        )
        .await;
    assert_eq!(browser.wait_js("ok signal", "document.body.dataset.signal").await, "ok");

    // Receiving: item, quantity, post.
    click(&browser, "button[data-mode='receive']").await;
    prompt_is(&browser, "Сканируйте товар").await;
    scan(&browser, MILK).await;
    prompt_is(&browser, "Количество").await;
    scan(&browser, "10").await;
    prompt_is(&browser, "Сканируйте товар").await;
    click(&browser, "#receive-submit").await;
    message_has(&browser, "ok", "Принято").await;

    // Putaway with the first answer lost on the way back (Wi-Fi drop): the screen sends the
    // same request again with the same id and storeterm applies it once.
    browser
        .client
        .execute(
            r#"const real = window.fetch; window.__dropped = 0;
               window.fetch = async (url, opts) => {
                 const res = await real(url, opts);
                 if (String(url).endsWith('/api/v1/wms/putaway') && window.__dropped === 0) {
                   window.__dropped = 1; throw new TypeError('Failed to fetch');
                 }
                 return res;
               };"#,
            vec![],
        )
        .await
        .unwrap();
    click(&browser, "button[data-mode='putaway']").await;
    scan(&browser, MILK).await;
    prompt_is(&browser, "Количество").await;
    scan(&browser, "10").await;
    prompt_is(&browser, "Сканируйте ячейку A-01-02-3").await;
    scan(&browser, "A-01-02-3").await;
    message_has(&browser, "ok", "Размещено").await;
    assert_eq!(browser.wait_js("the drop happened", "window.__dropped").await, 1);
    let (_, cell) = api.get("/api/v1/wms/cells/A-01-02-3").await;
    assert_eq!(cell["stock"][0]["qty"], "58", "applied once: {cell}");

    // Picking along the route; a wrong cell is refused with the error colour and sound.
    click(&browser, "button[data-mode='pick']").await;
    browser
        .wait_js("the open order listed", "document.querySelector(\"li[data-order='ZK-1012']\")")
        .await;
    scan(&browser, "ЗК-1012").await;
    prompt_is(&browser, "Сканируйте ячейку A-01-01-1").await;
    scan(&browser, "A-10-01-1").await;
    message_has(&browser, "error", "Не та ячейка").await;
    assert_eq!(browser.wait_js("error signal", "document.body.dataset.signal").await, "error");
    scan(&browser, "A-01-01-1").await;
    prompt_is(&browser, "Сканируйте товар: Кофе растворимый 95 г").await;
    scan(&browser, MILK).await;
    scan(&browser, "").await;
    message_has(&browser, "error", "does not hold").await;
    scan(&browser, COFFEE).await;
    prompt_is(&browser, "Количество (нужно 3)").await;
    scan(&browser, "").await;
    message_has(&browser, "ok", "Взято").await;
    for cell in ["A-01-02-3", "A-10-01-1"] {
        prompt_is(&browser, &format!("Сканируйте ячейку {cell}")).await;
        scan(&browser, cell).await;
        scan(&browser, MILK).await;
        scan(&browser, "").await;
        message_has(&browser, "ok", "Взято").await;
    }
    prompt_is(&browser, "Заказ собран — завершите").await;
    click(&browser, "#pick-complete").await;
    message_has(&browser, "ok", "собран").await;

    // Counting: 51 in the system, 50 found.
    click(&browser, "button[data-mode='count']").await;
    scan(&browser, "A-01-02-3").await;
    scan(&browser, MILK).await;
    prompt_is(&browser, "Количество").await;
    scan(&browser, "50").await;
    click(&browser, "#count-submit").await;
    message_has(&browser, "ok", "расхождений 1").await;

    let kinds = eventually("documents at the CRM", Duration::from_secs(10), || async {
        let kinds: Vec<String> = crm
            .stored()
            .into_iter()
            .map(|d| d.body["kind"].as_str().unwrap().to_string())
            .filter(|k| k.starts_with("wms_"))
            .collect();
        (kinds.len() >= 7).then_some(kinds)
    })
    .await;
    assert_eq!(
        kinds,
        [
            "wms_receipt",
            "wms_putaway",
            "wms_pick",
            "wms_pick",
            "wms_pick",
            "wms_pick",
            "wms_count"
        ],
        "one putaway despite the retry"
    );
    browser.client.clone().close().await.unwrap();
    running.stop().await;
}
