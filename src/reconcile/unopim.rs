//! UnoPim-side codes: where the store's database holds UnoPim's `locales` and `currencies`
//! tables, a credential may only name codes that UnoPim has enabled.

use std::collections::BTreeMap;

use super::desired::{Entry, Invalid};
use crate::model::Reason;
use crate::store::UnoPimCodes;

/// Every UnoPim code `entry` names that UnoPim has not enabled, as one message, or None.
pub fn disabled_codes(entry: &Entry, codes: &UnoPimCodes) -> Option<String> {
    let Entry::Desired(d) = entry else {
        return None;
    };
    let data = &d.data;
    disabled_among(
        NamedCodes {
            default_locale: data.default_locale.as_ref(),
            locale_mapping: &data.locale_mapping,
            default_currency: data.default_currency.as_ref(),
            currency_mapping: &data.currency_mapping,
        },
        codes,
    )
}

/// The UnoPim codes a credential names: its defaults and the keys of its mappings.
#[derive(Clone, Copy, Debug)]
pub struct NamedCodes<'a> {
    /// `defaultLocale`.
    pub default_locale: Option<&'a String>,
    /// `localeMapping`, keyed by UnoPim locale.
    pub locale_mapping: &'a BTreeMap<String, String>,
    /// `defaultCurrency`.
    pub default_currency: Option<&'a String>,
    /// `currencyMapping`, keyed by UnoPim currency.
    pub currency_mapping: &'a BTreeMap<String, String>,
}

/// Every code of `named` that UnoPim has not enabled, as one message, or None.
pub fn disabled_among(named: NamedCodes<'_>, codes: &UnoPimCodes) -> Option<String> {
    let locales: Vec<(&str, &String)> = named
        .default_locale
        .into_iter()
        .map(|c| ("defaultLocale", c))
        .chain(named.locale_mapping.keys().map(|c| ("localeMapping", c)))
        .collect();
    let currencies: Vec<(&str, &String)> = named
        .default_currency
        .into_iter()
        .map(|c| ("defaultCurrency", c))
        .chain(
            named
                .currency_mapping
                .keys()
                .map(|c| ("currencyMapping", c)),
        )
        .collect();
    let parts: Vec<String> = [
        ("locale", "locales", &locales, &codes.locales),
        ("currency", "currencies", &currencies, &codes.currencies),
    ]
    .into_iter()
    .filter_map(|(one, many, named, enabled)| {
        let enabled = enabled.as_ref()?;
        let mut seen = std::collections::BTreeSet::new();
        let off: Vec<String> = named
            .iter()
            .filter(|(_, code)| !enabled.contains(code) && seen.insert(code.as_str()))
            .map(|(field, code)| format!("`{code}` ({field})"))
            .collect();
        (!off.is_empty()).then(|| {
            let what = if off.len() == 1 { one } else { many };
            let on = if enabled.is_empty() {
                "none".to_string()
            } else {
                enabled.join(", ")
            };
            format!(
                "names UnoPim {what} {} that UnoPim does not have enabled (enabled {many}: {on})",
                off.join(", ")
            )
        })
    })
    .collect();
    (!parts.is_empty()).then(|| parts.join("; it also "))
}

/// The scan's entries with those naming disabled UnoPim codes turned invalid (rows kept).
pub fn apply_codes(entries: &[Entry], codes: &UnoPimCodes) -> Vec<Entry> {
    entries
        .iter()
        .map(|entry| match disabled_codes(entry, codes) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::plan_tests::{desired, entry};

    fn desired_with_codes(
        default_locale: Option<&str>,
        locales: &[&str],
        default_currency: Option<&str>,
        currencies: &[&str],
    ) -> Entry {
        let mut d = desired("a", "A");
        d.data.default_locale = default_locale.map(str::to_string);
        d.data.locale_mapping = locales
            .iter()
            .map(|c| (c.to_string(), "en".into()))
            .collect();
        d.data.default_currency = default_currency.map(str::to_string);
        d.data.currency_mapping = currencies
            .iter()
            .map(|c| (c.to_string(), c.to_string()))
            .collect();
        entry(d)
    }

    #[test]
    fn every_disabled_code_is_named_once() {
        let codes = UnoPimCodes {
            locales: Some(vec!["en_US".into()]),
            currencies: Some(vec!["USD".into()]),
        };
        let entry = desired_with_codes(
            Some("fr_FR"),
            &["fr_FR", "de_DE", "en_US"],
            Some("EUR"),
            &["EUR", "USD"],
        );
        assert_eq!(
            disabled_codes(&entry, &codes).as_deref(),
            Some(
                "names UnoPim locales `fr_FR` (defaultLocale), `de_DE` (localeMapping) that UnoPim does not have enabled (enabled locales: en_US); it also names UnoPim currency `EUR` (defaultCurrency) that UnoPim does not have enabled (enabled currencies: USD)"
            )
        );
        let fine = desired_with_codes(Some("en_US"), &["en_US"], None, &["USD"]);
        assert_eq!(disabled_codes(&fine, &codes), None);
        // Without UnoPim's tables nothing is checked.
        let absent = UnoPimCodes {
            locales: None,
            currencies: None,
        };
        assert_eq!(disabled_codes(&entry, &absent), None);
    }
}
