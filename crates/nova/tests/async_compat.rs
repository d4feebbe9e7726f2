//! The original Nova's request and answer shapes on the async and schedule routes (what its CLI,
//! orbit, sends and reads): the `invoke-async` envelope `{"payload", "max_attempts",
//! "idempotency_key", "idempotency_ttl_s"}`, `cron_expression` and `input` for a schedule, and
//! its field names beside ours in every answer.

mod common;

use common::{TestDaemon, python_function, says};
use serde_json::{Value, json};

async fn enqueue(d: &TestDaemon, body: Value, headers: &[(&str, &str)]) -> (u16, Value) {
    d.call("POST", "/functions/f/invoke-async", Some(body), headers)
        .await
}

#[tokio::test]
async fn the_originals_envelope_and_names() {
    let d = TestDaemon::start().await;
    let (status, _) = d
        .post_json("/functions", &python_function("f", &says("hi")))
        .await;
    assert_eq!(status, 201);

    // The envelope: its payload is the event, its options this call's.
    let envelope = json!({"payload": {"n": 1}, "max_attempts": 5, "idempotency_key": "k1"});
    let (status, accepted) = enqueue(&d, envelope.clone(), &[]).await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(
        (&accepted["function_name"], &accepted["max_attempts"]),
        (&json!("f"), &json!(5))
    );
    assert!(
        accepted["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    let id = accepted["id"].as_str().expect("id").to_string();
    let (_, stored) = d
        .call("GET", &format!("/async-invocations/{id}"), None, &[])
        .await;
    assert_eq!(stored["payload"], json!({"n": 1}), "{stored}");
    assert_eq!(
        (&stored["max_attempts"], &stored["idempotency_key"]),
        (&json!(5), &json!("k1"))
    );
    assert_eq!(stored["function_name"], "f");
    let (status, again) = enqueue(&d, envelope, &[]).await;
    assert_eq!(
        (status, &again["id"], &again["deduplicated"]),
        (202, &json!(id), &json!(true))
    );

    // Not an envelope (a field it does not have): the whole body is the event; an event shaped
    // like an envelope is sent wrapped in one.
    for (body, event) in [
        (
            json!({"payload": 1, "extra": 2}),
            json!({"payload": 1, "extra": 2}),
        ),
        (json!({"payload": {"payload": 1}}), json!({"payload": 1})),
        (json!([1, 2]), json!([1, 2])),
    ] {
        let (status, accepted) = enqueue(&d, body.clone(), &[]).await;
        assert_eq!(status, 202, "{body}: {accepted}");
        let path = format!(
            "/async-invocations/{}",
            accepted["id"].as_str().expect("id")
        );
        let (_, stored) = d.call("GET", &path, None, &[]).await;
        assert_eq!(stored["payload"], event, "{body}");
    }

    // Refused, nothing stored (the ids are compared: the dispatcher runs the earlier calls
    // meanwhile, so their statuses move).
    let ids = async |d: &TestDaemon| -> Vec<Value> {
        let (_, listed) = d
            .call("GET", "/functions/f/async-invocations", None, &[])
            .await;
        let listed = listed.as_array().cloned().unwrap_or_default();
        listed.iter().map(|i| i["id"].clone()).collect()
    };
    let before = ids(&d).await;
    for (body, headers, says) in [
        (
            json!({"payload": {}, "max_attempts": 0}),
            &[][..],
            "max_attempts must be 1 to 100",
        ),
        (
            json!({"payload": {}, "idempotency_ttl_s": 0}),
            &[][..],
            "idempotency_ttl_s must be",
        ),
        (
            json!({"payload": {}, "backoff_base_ms": 5}),
            &[][..],
            "back-off is the daemon's",
        ),
        (
            json!({"payload": {}, "max_attempts": "x"}),
            &[][..],
            "invalid invoke-async envelope",
        ),
        (
            json!({"payload": {}, "idempotency_key": "a"}),
            &[("Idempotency-Key", "b")][..],
            "disagree",
        ),
    ] {
        let (status, answer) = enqueue(&d, body.clone(), headers).await;
        assert_eq!(status, 400, "{body}: {answer}");
        let error = answer["error"].as_str().expect("a JSON error");
        assert!(error.contains(says), "{body}: {error}");
    }
    assert_eq!(before.len(), 4, "{before:?}");
    assert_eq!(ids(&d).await, before);

    // A schedule as the original writes it, answered with its names too.
    let body = json!({"cron_expression": "@daily", "input": {"who": "orbit"}});
    let (status, created) = d
        .call("POST", "/functions/f/schedules", Some(body), &[])
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        (&created["cron"], &created["cron_expression"]),
        (&json!("@daily"), &json!("@daily"))
    );
    assert_eq!(
        (&created["payload"], &created["input"]),
        (&json!({"who": "orbit"}), &json!({"who": "orbit"}))
    );
    assert!(
        created["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    d.stop().await;
}
