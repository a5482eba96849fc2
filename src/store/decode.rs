//! Reading column values as Laravel may have stored them: mappings as `{}`, `[]`, `null` or
//! nothing; timestamps as `DATETIME`, `TIMESTAMP` or text; booleans as `BOOLEAN` or `TINYINT`.
//! Pure functions over the text a query returned, so every shape is tested without a database.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;

use crate::model::StoreInfo;

/// Why one column of a stored row cannot be read; never holds the value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("column `{column}` {reason}")]
pub struct ColumnError {
    /// The column, as named in the table.
    pub column: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

fn bad(column: &'static str, reason: impl Into<String>) -> ColumnError {
    ColumnError {
        column,
        reason: reason.into(),
    }
}

fn json(column: &'static str, text: Option<&str>) -> Result<Value, ColumnError> {
    match text.map(str::trim) {
        None | Some("") => Ok(Value::Null),
        Some(text) => serde_json::from_str(text).map_err(|_| bad(column, "is not JSON")),
    }
}

/// A mapping column: an object of strings; `[]`, `{}`, `null` and nothing are empty.
pub fn mapping(
    column: &'static str,
    text: Option<&str>,
) -> Result<BTreeMap<String, String>, ColumnError> {
    match json(column, text)? {
        Value::Null => Ok(BTreeMap::new()),
        // PHP's empty array is a JSON list: that is how Laravel stores a cleared mapping.
        Value::Array(items) if items.is_empty() => Ok(BTreeMap::new()),
        Value::Object(map) => map
            .into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k, s)),
                _ => Err(bad(
                    column,
                    format!("maps `{k}` to something other than text"),
                )),
            })
            .collect(),
        _ => Err(bad(column, "is neither an object nor empty")),
    }
}

/// The `storeInfo` column: what bccreds last learnt from BigCommerce, rewritten on the next
/// verification; any other shape (`null`, `[]`, an object UnoPim wrote, even non-JSON) reads as
/// nothing rather than failing the credential.
pub fn store_info(text: Option<&str>) -> Option<StoreInfo> {
    match json("storeInfo", text).ok()? {
        value @ Value::Object(_) => serde_json::from_value(value).ok(),
        _ => None,
    }
}

/// A timestamp column read as text: `YYYY-MM-DD HH:MM:SS[.fff]`, with `T`, or RFC 3339.
pub fn timestamp(
    column: &'static str,
    text: Option<&str>,
) -> Result<Option<DateTime<Utc>>, ColumnError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    // PostgreSQL prints `timestamptz` as `2026-11-28 12:00:00+00`.
    if let Ok(t) = DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%#z") {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(Some(t.and_utc()));
        }
    }
    // MySQL's zero date, which some Laravel setups write for "never".
    if text.starts_with("0000-00-00") {
        return Ok(None);
    }
    Err(bad(column, "is not a timestamp"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn mappings_in_every_shape_laravel_stores() {
        for empty in [
            None,
            Some(""),
            Some("null"),
            Some("[]"),
            Some("{}"),
            Some(" [] "),
        ] {
            assert_eq!(mapping("m", empty), Ok(BTreeMap::new()), "{empty:?}");
        }
        let map = mapping("m", Some(r#"{"en_US":"en"}"#)).expect("object");
        assert_eq!(map.get("en_US").map(String::as_str), Some("en"));
        for broken in ["not json", "[1]", "\"x\"", r#"{"a":1}"#] {
            let err = mapping("localeMapping", Some(broken)).expect_err(broken);
            assert_eq!(err.column, "localeMapping");
            assert!(!err.to_string().contains(broken), "the value leaked: {err}");
        }
    }

    #[test]
    fn store_info_may_be_missing_or_empty() {
        for other in [
            None,
            Some("null"),
            Some("[]"),
            Some("{}"),
            Some("[1]"),
            Some("not json"),
            Some(r#"{"name":"no hash"}"#),
        ] {
            assert_eq!(store_info(other), None, "{other:?}");
        }
        let info = store_info(Some(r#"{"hash":"abc","name":"Shop"}"#));
        assert_eq!(info.map(|i| i.hash), Some("abc".to_string()));
    }

    #[test]
    fn timestamps_as_each_engine_prints_them() {
        let t = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 5).unwrap();
        for text in [
            "2026-11-28 12:00:05",
            "2026-11-28 12:00:05.000000",
            "2026-11-28T12:00:05",
            "2026-11-28T12:00:05Z",
            "2026-11-28 12:00:05+00",
            "2026-11-28 14:00:05+02:00",
        ] {
            assert_eq!(timestamp("t", Some(text)), Ok(Some(t)), "{text}");
        }
        assert_eq!(timestamp("t", None), Ok(None));
        assert_eq!(timestamp("t", Some("0000-00-00 00:00:00")), Ok(None));
        assert_eq!(
            timestamp("created_at", Some("yesterday")).map_err(|e| e.column),
            Err("created_at")
        );
    }
}
