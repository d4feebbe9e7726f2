//! The original Nova's names beside ours, in what the async and schedule routes answer, so its
//! clients (orbit's tables read `function_name`, `cron_expression`, `input`, `created_at`) show
//! every column: each is a copy of a field we already send, and RFC 3339 times beside our Unix
//! milliseconds.

use nova_store::{AsyncInvocation, Schedule};
use serde_json::{Value, json};

fn add(mut value: Value, extra: Value) -> Value {
    if let (Some(object), Value::Object(extra)) = (value.as_object_mut(), extra) {
        for (k, v) in extra {
            object.entry(k).or_insert(v);
        }
    }
    value
}

/// An async invocation as we show it, plus `function_name`, `created_at`, `updated_at`.
pub fn invocation(i: &AsyncInvocation) -> Value {
    add(
        serde_json::to_value(i).unwrap_or(Value::Null),
        json!({
            "function_name": i.function,
            "created_at": comet_util::rfc3339(i.created_at_ms),
            "updated_at": comet_util::rfc3339(i.updated_at_ms),
        }),
    )
}

/// A schedule as we show it, plus `cron_expression`, `input`, `created_at`.
pub fn schedule(s: &Schedule) -> Value {
    add(
        serde_json::to_value(s).unwrap_or(Value::Null),
        json!({
            "cron_expression": s.cron,
            "input": s.payload,
            "created_at": comet_util::rfc3339(s.created_at_ms),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_originals_names_are_added_never_replacing_ours() {
        let extra = add(json!({"a": 1, "b": 2}), json!({"b": 9, "c": 3}));
        assert_eq!(extra, json!({"a": 1, "b": 2, "c": 3}));
    }
}
