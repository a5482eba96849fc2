//! UnoPim-side codes: where the store's database holds UnoPim's `locales` and `currencies`
//! tables, a credential may only name codes that UnoPim has enabled.

use super::desired::{Entry, Invalid};
use crate::model::Reason;
use crate::store::UnoPimCodes;

/// The first UnoPim code `entry` names that UnoPim has not enabled, as a message.
pub fn unknown_code(entry: &Entry, codes: &UnoPimCodes) -> Option<String> {
    let Entry::Desired(d) = entry else {
        return None;
    };
    let data = &d.data;
    let check = |what: &str, field: &str, code: &str, enabled: &Option<Vec<String>>| {
        let enabled = enabled.as_ref()?;
        (!enabled.iter().any(|e| e == code)).then(|| {
            format!(
                "{field} names UnoPim {what} `{code}`, which UnoPim does not have enabled (enabled: {})",
                if enabled.is_empty() { "none".to_string() } else { enabled.join(", ") }
            )
        })
    };
    let locales = data
        .default_locale
        .iter()
        .map(|c| ("defaultLocale", c))
        .chain(data.locale_mapping.keys().map(|c| ("localeMapping", c)));
    let currencies = data
        .default_currency
        .iter()
        .map(|c| ("defaultCurrency", c))
        .chain(data.currency_mapping.keys().map(|c| ("currencyMapping", c)));
    locales
        .filter_map(|(field, code)| check("locale", field, code, &codes.locales))
        .chain(
            currencies
                .filter_map(|(field, code)| check("currency", field, code, &codes.currencies)),
        )
        .next()
}

/// The scan's entries with those naming disabled UnoPim codes turned invalid (rows kept).
pub fn apply_codes(entries: &[Entry], codes: &UnoPimCodes) -> Vec<Entry> {
    entries
        .iter()
        .map(|entry| match unknown_code(entry, codes) {
            Some(message) => Entry::Invalid(Invalid {
                key: entry.key().clone(),
                label: entry.label().map(str::to_string),
                generation: entry.generation(),
                reason: Reason::InvalidSpec,
                message,
            }),
            None => entry.clone(),
        })
        .collect()
}
