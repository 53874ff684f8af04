//! The screens' sign-in and the admin page in a real headless Chromium: each screen keeps its
//! own token, a refused token is said in words, and the admin tables fit at 1366 px with the
//! virtual printer's paper button clickable.

mod common;

use common::browser::Browser;
use common::{ADMIN, CASHIER, config_text, parse_config};

#[tokio::test]
#[ignore = "needs chromium"]
async fn screens_keep_their_own_tokens_and_the_admin_page_fits() {
    let dir = tempfile::tempdir().unwrap();
    let text = config_text(
        "127.0.0.1:0",
        &dir.path().join("data"),
        "[[lanes]]\nid = \"1\"\nprinter = \"printer-1\"\n",
        "[[devices]]\nid = \"printer-1\"\nkind = \"printer\"\ntransport = \"virtual\"\nprofile = \"generic-80mm\"\n",
    );
    let running = storeterm::daemon::start(parse_config(&text)).await.unwrap();
    let base = format!("http://{}", running.addr);

    let browser = Browser::start(1366, 768).await;
    let page = &browser.client;
    page.goto(&format!("{base}/pos#token={CASHIER}")).await.unwrap();
    browser
        .wait_js("the cashier signed in", "document.getElementById('who').textContent === 'Анна'")
        .await;
    // The admin signs in on the same browser: the till keeps its cashier.
    page.goto(&format!("{base}/admin#token={ADMIN}")).await.unwrap();
    browser
        .wait_js("the devices table", "document.querySelector('#devices button.paper-toggle')")
        .await;
    page.goto(&format!("{base}/pos")).await.unwrap();
    browser
        .wait_js("still the cashier", "document.getElementById('who').textContent === 'Анна'")
        .await;

    // The admin page at 1366 px: nothing wider than the window, the paper button works.
    page.goto(&format!("{base}/admin")).await.unwrap();
    browser
        .wait_js("the devices table", "document.querySelector('#devices button.paper-toggle')")
        .await;
    let fits = browser
        .wait_js(
            "tables fit",
            "(document.documentElement.scrollWidth <= window.innerWidth && [...document.querySelectorAll('.admin section')].every(s => s.scrollWidth <= s.clientWidth + 1)) ? 'fits' : 'overflow'",
        )
        .await;
    assert_eq!(fits, "fits");
    browser.click("#devices button.paper-toggle").await;
    browser
        .wait_js(
            "the paper taken out",
            "document.querySelector('#devices button.paper-toggle').textContent === 'Вставить бумагу'",
        )
        .await;

    // A refused token: the login form says so.
    page.goto(&format!("{base}/pos#token=not-a-token")).await.unwrap();
    let said = browser
        .wait_js(
            "the refusal in words",
            "!document.getElementById('login').hidden && document.getElementById('login-error') && document.getElementById('login-error').textContent",
        )
        .await;
    assert_eq!(said, "Токен не подошёл");
    browser.client.clone().close().await.unwrap();
    running.stop().await;
}
