//! The one GraphQL Admin API query the simulator answers: a channel's `store.locales`.
//!
//! There is no GraphQL parser here; the channel is found the way a reader would find it, from
//! the `bc/store/channel/N` id in the query text or in the variables.

use serde::Deserialize;
use serde_json::{json, Value};

const CHANNEL_PREFIX: &str = "bc/store/channel/";

/// The body of a GraphQL POST.
#[derive(Debug, Deserialize)]
pub struct GraphQlRequest {
    /// The query text.
    pub query: String,
    /// The variables, if any.
    #[serde(default)]
    pub variables: Option<Value>,
}

/// The channel a locales query asks about: from the query text, else from the variables, else 1.
pub fn channel_id(query: &str, variables: Option<&Value>) -> u64 {
    id_in_text(query)
        .or_else(|| variables.and_then(id_in_value))
        .unwrap_or(1)
}

/// The first `bc/store/channel/N` in `text` that is followed by a number.
fn id_in_text(text: &str) -> Option<u64> {
    text.match_indices(CHANNEL_PREFIX).find_map(|(at, _)| {
        let digits: String = text[at + CHANNEL_PREFIX.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    })
}

/// The first string value in `value` (at any depth) that is exactly `bc/store/channel/N`.
fn id_in_value(value: &Value) -> Option<u64> {
    match value {
        Value::String(s) => {
            let digits = s.strip_prefix(CHANNEL_PREFIX)?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            digits.parse().ok()
        }
        Value::Array(items) => items.iter().find_map(id_in_value),
        Value::Object(map) => map.values().find_map(id_in_value),
        _ => None,
    }
}

/// `{"data":{"store":{"locales":{"edges":[...]}}}}`; the first locale is the default.
pub fn locales_body(locales: &[String]) -> Value {
    let edges: Vec<Value> = locales
        .iter()
        .enumerate()
        .map(|(i, code)| json!({"node": {"code": code, "status": "ACTIVE", "isDefault": i == 0}}))
        .collect();
    json!({"data": {"store": {"locales": {"edges": edges}}}})
}

/// A GraphQL error response, as GraphQL servers send for a query they cannot answer.
pub fn error_body(message: &str) -> Value {
    json!({"data": null, "errors": [{"message": message}]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_channel_comes_from_the_query_text() {
        let q = r#"query { store { locales(input: {channelId: "bc/store/channel/12"}) { edges { node { code } } } } }"#;
        assert_eq!(channel_id(q, None), 12);
    }

    #[test]
    fn the_channel_comes_from_the_variables_when_the_query_has_none() {
        let q = "query L($channelId: ID!) { store { locales(input: {channelId: $channelId}) { edges { node { code } } } } }";
        let vars = json!({"input": {"channelId": "bc/store/channel/3"}});
        assert_eq!(channel_id(q, Some(&vars)), 3);
        assert_eq!(
            channel_id(q, Some(&json!({"channelId": "bc/store/channel/7"}))),
            7
        );
    }

    #[test]
    fn the_default_channel_is_1() {
        assert_eq!(
            channel_id("{ store { locales { edges { node { code } } } } }", None),
            1
        );
        assert_eq!(
            channel_id(
                "bc/store/channel/x",
                Some(&json!({"c": "bc/store/channel/"}))
            ),
            1
        );
        assert_eq!(
            channel_id("q", Some(&json!({"c": "bc/store/channel/2x"}))),
            1
        );
    }

    #[test]
    fn a_bad_mention_is_skipped_for_a_good_one() {
        assert_eq!(channel_id("bc/store/channel/ bc/store/channel/5", None), 5);
    }

    #[test]
    fn locales_mark_the_first_as_default() {
        let body = locales_body(&["de".into(), "fr".into()]);
        let edges = &body["data"]["store"]["locales"]["edges"];
        assert_eq!(
            edges[0]["node"],
            json!({"code": "de", "status": "ACTIVE", "isDefault": true})
        );
        assert_eq!(edges[1]["node"]["isDefault"], json!(false));
    }
}
