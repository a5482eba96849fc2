//! The credential's fields by name, as manifests, `plan --diff` and drift messages spell them.

use serde::Serialize;

/// One field of a credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Field {
    /// `label`.
    #[serde(rename = "label")]
    Label,
    /// `apiUrl`.
    #[serde(rename = "apiUrl")]
    ApiUrl,
    /// `clientId`.
    #[serde(rename = "clientId")]
    ClientId,
    /// `clientSecret`, a secret.
    #[serde(rename = "clientSecret")]
    ClientSecret,
    /// `accessToken`, a secret.
    #[serde(rename = "accessToken")]
    AccessToken,
    /// `status` (active or inactive).
    #[serde(rename = "status")]
    Status,
    /// `defaultLocale`.
    #[serde(rename = "defaultLocale")]
    DefaultLocale,
    /// `defaultCurrency`.
    #[serde(rename = "defaultCurrency")]
    DefaultCurrency,
    /// `localeMapping`.
    #[serde(rename = "localeMapping")]
    LocaleMapping,
    /// `currencyMapping`.
    #[serde(rename = "currencyMapping")]
    CurrencyMapping,
}

impl Field {
    /// Every field, in the order drift messages and diffs list them.
    pub const ALL: [Field; 10] = [
        Field::Label,
        Field::ApiUrl,
        Field::ClientId,
        Field::ClientSecret,
        Field::AccessToken,
        Field::Status,
        Field::DefaultLocale,
        Field::DefaultCurrency,
        Field::LocaleMapping,
        Field::CurrencyMapping,
    ];

    /// The manifest's name of the field.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Label => "label",
            Field::ApiUrl => "apiUrl",
            Field::ClientId => "clientId",
            Field::ClientSecret => "clientSecret",
            Field::AccessToken => "accessToken",
            Field::Status => "status",
            Field::DefaultLocale => "defaultLocale",
            Field::DefaultCurrency => "defaultCurrency",
            Field::LocaleMapping => "localeMapping",
            Field::CurrencyMapping => "currencyMapping",
        }
    }

    /// Whether the field holds a secret, which is never shown.
    pub fn is_secret(self) -> bool {
        matches!(self, Field::ClientSecret | Field::AccessToken)
    }
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_and_text_spell_a_field_alike() {
        for field in Field::ALL {
            assert_eq!(
                serde_json::to_value(field).unwrap(),
                serde_json::Value::String(field.as_str().into())
            );
        }
    }
}
