//! The operator's screen in a real headless Chromium: a ring group rings, the card appears on
//! Ольга's screen while it still rings, and closes when Иван answers on his phone; an unknown
//! number gets the one-click new-lead form.

mod common;

use common::ami::TestPbx;
use common::browser::Browser;
use common::office::{OLGA, fixture, office};
use std::time::Duration;

#[tokio::test]
#[ignore = "needs chromium"]
async fn the_card_appears_on_ring_and_closes_on_answer_elsewhere() {
    let mut pbx = TestPbx::start(&fixture("ring-group.ami"), false).await;
    let office = office(&pbx.config(false)).await;
    pbx.session_started().await;
    let browser = Browser::start(1024, 768).await;
    browser
        .client
        .goto(&format!("{}/operator#token={OLGA}", office.olga.base))
        .await
        .unwrap();
    browser
        .wait_js(
            "the operator is signed in",
            "document.getElementById('who').textContent === 'Ольга'",
        )
        .await;
    browser
        .wait_js(
            "live updates connected",
            "document.getElementById('link').textContent === 'на связи'",
        )
        .await;
    assert_eq!(browser.wait_js("idle", "!document.getElementById('idle').hidden").await, true);

    pbx.step();
    browser
        .wait_js(
            "the caller's card while the phone rings",
            "document.querySelector('.call') && document.querySelector('.call').textContent.includes('ООО Ромашка')",
        )
        .await;
    let text = browser.wait_js("card text", "document.querySelector('.call').textContent").await;
    let text = text.as_str().unwrap();
    assert!(
        text.contains("+79161234567") && text.contains("Иванов И.") && text.contains("Петров"),
        "{text}"
    );
    browser
        .wait_js(
            "the CRM's live card merged in",
            "document.querySelector('.call').textContent.includes('ЗК-1012')",
        )
        .await;
    assert_eq!(browser.wait_js("one card", "document.querySelectorAll('.call').length").await, 1);

    // Иван answers on 102: the card closes on Ольга's screen.
    pbx.step();
    browser
        .wait_js("the card closed", "document.querySelectorAll('.call').length === 0")
        .await;
    office.running.stop().await;
}

#[tokio::test]
#[ignore = "needs chromium"]
async fn an_unknown_number_gets_a_new_lead_form() {
    let mut pbx = TestPbx::start(&fixture("caller-hangup.ami"), false).await;
    let office = office(&pbx.config(false)).await;
    pbx.session_started().await;
    let browser = Browser::start(1024, 768).await;
    browser
        .client
        .goto(&format!("{}/operator#token={OLGA}", office.olga.base))
        .await
        .unwrap();
    browser
        .wait_js(
            "live updates connected",
            "document.getElementById('link').textContent === 'на связи'",
        )
        .await;
    pbx.step();
    browser
        .wait_js("the unknown-number card", "!!document.querySelector('.call form.lead')")
        .await;
    browser
        .wait_js(
            "the lead is sent",
            "(() => { const f = document.querySelector('.call form.lead'); f.name.value = 'Сергей'; \
              f.comment.value = 'опт'; f.querySelector('button').click(); return true; })()",
        )
        .await;
    browser
        .wait_js("sent", "document.querySelector('.call').textContent.includes('Лид отправлен')")
        .await;
    let leads = common::eventually("the lead at the CRM", Duration::from_secs(10), || async {
        let docs = office.crm.stored_of("lead");
        (!docs.is_empty()).then_some(docs)
    })
    .await;
    assert_eq!(leads[0].body["data"]["name"], "Сергей");
    assert_eq!(leads[0].body["data"]["phone"]["e164"], "+74991234567");
    office.running.stop().await;
}
