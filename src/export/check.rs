//! Whether an exported row would come back as it is: its manifest must validate, the UnoPim
//! codes it names must be enabled, and secrets written out must survive the trip through a
//! secret source (which trims one trailing newline and refuses empty values).

use crate::reconcile::{disabled_among, NamedCodes};
use crate::secret::SecretValue;
use crate::store::{StoredData, UnoPimCodes};
use crate::validate::{validate_text, Report, ValidateOptions};

/// Why `value`, the stored `field`, cannot be exported as a secret source, or None. A file
/// (`files`) is written with one newline after the value, which reading trims, with a `\r`
/// before it.
pub fn secret_problem(field: &str, value: &SecretValue, files: bool) -> Option<String> {
    let text = value.expose();
    let why = if value.is_empty() {
        "is empty"
    } else if text.ends_with('\n') {
        "ends with a newline, which a secret source trims"
    } else if files && text.ends_with('\r') {
        "ends with a carriage return, which a secret file's trimmed line ending would take along"
    } else if field == "accessToken" && text.chars().any(char::is_control) {
        "holds control characters, which a manifest's accessToken may not"
    } else if value.is_keep_current() {
        "is `**********`, which a manifest reads as \"keep the stored value\""
    } else {
        return None;
    };
    Some(format!("the stored {field} {why}"))
}

/// The first problem `bccreds validate` finds in the exported documents `text`, or None.
pub fn manifest_problem(text: &str, opts: &ValidateOptions) -> Option<String> {
    let mut report = Report::default();
    validate_text("export", text, opts, &mut report);
    report.check_tree(opts);
    // The diagnostic names a place in a file that was never written: only its message helps.
    report.diagnostics.first().map(|d| d.message.clone())
}

/// The UnoPim codes of `row` that UnoPim has not enabled, as `plan` would report them.
pub fn codes_problem(row: &StoredData, codes: &UnoPimCodes) -> Option<String> {
    disabled_among(
        NamedCodes {
            default_locale: row.default_locale.as_ref(),
            locale_mapping: &row.locale_mapping,
            default_currency: row.default_currency.as_ref(),
            currency_mapping: &row.currency_mapping,
        },
        codes,
    )
    .map(|m| format!("it {m}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_that_would_not_come_back_are_named_without_their_value() {
        assert_eq!(
            secret_problem("accessToken", &SecretValue::new("tok"), true),
            None
        );
        // A carriage return survives a Secret's data, but not a file's line ending.
        let cr = SecretValue::new("LEAK-secret\r");
        assert_eq!(secret_problem("clientSecret", &cr, false), None);
        let problem = secret_problem("clientSecret", &cr, true).expect("files");
        assert!(problem.contains("carriage return") && !problem.contains("LEAK"));
        for (value, why) in [
            ("", "is empty"),
            ("LEAK-tok\n", "ends with a newline"),
            ("**********", "keep the stored value"),
            ("LEAK\ttok", "control characters"),
        ] {
            let problem =
                secret_problem("accessToken", &SecretValue::new(value), false).expect(why);
            assert!(problem.starts_with("the stored accessToken "), "{problem}");
            assert!(problem.contains(why), "{problem}");
            assert!(!problem.contains("LEAK"), "{problem}");
        }
    }

    #[test]
    fn a_manifest_problem_is_the_first_validation_message() {
        let opts = ValidateOptions::default();
        let good = "apiVersion: bigcommerce.unopim.io/v1alpha1\nkind: BigCommerceCredential\nmetadata:\n  name: a\nspec:\n  label: a\n  apiUrl: https://api.bigcommerce.com/stores/abc123/\n";
        assert_eq!(manifest_problem(good, &opts), None);
        let off_list = good.replace("api.bigcommerce.com", "evil.example.com");
        let problem = manifest_problem(&off_list, &opts).expect("off the allow-list");
        assert!(problem.contains("evil.example.com"), "{problem}");
    }

    #[test]
    fn disabled_codes_are_named() {
        let mut row = crate::export::manifest::tests::row();
        row.default_locale = Some("fr_FR".into());
        let codes = UnoPimCodes {
            locales: Some(vec!["en_US".into()]),
            currencies: None,
        };
        let problem = codes_problem(&row, &codes).expect("fr_FR is off");
        assert!(problem.contains("`fr_FR` (defaultLocale)"), "{problem}");
        assert_eq!(
            codes_problem(&crate::export::manifest::tests::row(), &codes),
            None
        );
    }
}
