//! Whatever the ATOL web server (or something else on its port) answers, reading it never
//! panics: the answer itself, every typed reader on each task's result, and the recovery
//! decision made from it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use storeterm::devices::fiscal::TaskKind;
use storeterm::devices::fiscal::atol;
use storeterm::devices::fiscal::recovery::{self, Observation, PendingTask};

fuzz_target!(|data: &[u8]| {
    let _ = atol::refusal_text(data);
    let Ok(answer) = atol::parse_answer(data) else { return };
    let pending = PendingTask::new(
        TaskKind::Sell,
        uuid::Uuid::nil(),
        Some(rust_decimal::Decimal::ONE),
        jiff::Timestamp::UNIX_EPOCH,
        Some(1),
    );
    for report in &answer.results {
        let result = &report.result;
        let _ = atol::fiscal_document(result);
        let _ = atol::not_printed(result);
        let _ = atol::cash_in_drawer(result);
        let _ = atol::shift_status(result);
        let _ = atol::device_status(result);
        let _ = atol::fn_info(result);
        let _ = atol::ofd_backlog(result);
        let _ = atol::mark_check(result);
        if let Ok(counters) = atol::fn_counters(result) {
            let doc = atol::archived_document(result, counters.last_fd).ok();
            let _ = recovery::decide(
                &pending,
                Observation::LastDocument {
                    counters,
                    document: doc.as_ref(),
                    shift: None,
                },
            );
        }
        let _ = recovery::decide(&pending, Observation::Task(report));
    }
});
