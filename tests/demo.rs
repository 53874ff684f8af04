//! The demo as a new user meets it: it starts on an empty directory, and the call commands it
//! prints ring the demo operator through the signed webhook, whatever the time it is now.

use storeterm::daemon::demo::{self, CallStep, DemoOptions};

#[tokio::test]
async fn the_printed_demo_call_rings_the_operator_at_any_time() {
    let dir = tempfile::tempdir().unwrap();
    let d = demo::start(DemoOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        data: Some(dir.path().to_path_buf()),
        fresh: true,
    })
    .await
    .expect("the demo starts");
    let base = format!("http://{}", d.running.addr);
    assert_eq!(d.ring_commands.len(), 3);
    assert!(d.ring_commands[1].contains("demo-call ring --call demo-"), "{:?}", d.ring_commands);
    for step in [CallStep::Start, CallStep::Ring, CallStep::End] {
        demo::call(&base, "demo-test", step)
            .await
            .unwrap_or_else(|e| panic!("{step:?}: {e}"));
    }
    // A wrong address is an error in words, not a panic.
    let refused = demo::call("http://127.0.0.1:9", "demo-test", CallStep::Start).await.unwrap_err();
    assert!(refused.to_string().contains("demo call"), "{refused}");
    d.running.stop().await;
}
