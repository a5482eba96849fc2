//! Manifest names for exported rows: a DNS-1123 slug of the label, made distinct
//! deterministically, so that exporting twice gives the same names.

use std::collections::{BTreeMap, BTreeSet};

/// The longest name a slug makes: a DNS-1123 label, so it also fits where only labels do.
const MAX_SLUG: usize = 63;

/// A DNS-1123 label made from `label`: lowercase ASCII letters and digits, other runs turned
/// into one `-`, no `-` at either end; `credential` when nothing is left.
pub fn slug(label: &str) -> String {
    let mut out = String::new();
    for c in label.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.truncate(MAX_SLUG);
    let trimmed = out.trim_matches('-');
    if trimmed.is_empty() {
        "credential".to_string()
    } else {
        trimmed.to_string()
    }
}

/// A distinct name per row id: the slug of its label, and for every row but the lowest id of
/// those sharing a slug, the slug followed by `-` and the row's id (and `-2`, `-3` … in the rare
/// case that this is another label's slug). Ids do not change, so neither do the names.
pub fn names<'a>(rows: impl IntoIterator<Item = (i64, &'a str)>) -> BTreeMap<i64, String> {
    let mut by_slug: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (id, label) in rows {
        by_slug.entry(slug(label)).or_default().push(id);
    }
    // Every label's own slug is taken first, so that a suffixed name never steals one.
    let mut taken: BTreeSet<String> = by_slug.keys().cloned().collect();
    let mut out = BTreeMap::new();
    for (slug, mut ids) in by_slug {
        ids.sort_unstable();
        out.insert(ids[0], slug.clone());
        for &id in &ids[1..] {
            let name = (1..)
                .map(|n| {
                    let suffix = if n == 1 {
                        format!("-{id}")
                    } else {
                        format!("-{id}-{n}")
                    };
                    let keep = MAX_SLUG.saturating_sub(suffix.len()).min(slug.len());
                    format!("{}{suffix}", slug[..keep].trim_end_matches('-'))
                })
                .find(|name| !taken.contains(name))
                // Invariant: finitely many names are taken, so some n is free.
                .unwrap_or_default();
            taken.insert(name.clone());
            out.insert(id, name);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_dns_1123_labels() {
        for (label, want) in [
            ("Production Store", "production-store"),
            ("  Boutique Zürich – 東京 ", "boutique-z-rich"),
            ("EU/Shop #2", "eu-shop-2"),
            ("---", "credential"),
            ("東京", "credential"),
        ] {
            assert_eq!(slug(label), want, "{label}");
        }
        let long = slug(&"a".repeat(300));
        assert_eq!(long.len(), 63);
    }

    #[test]
    fn clashing_slugs_get_distinct_stable_names() {
        let rows = [
            (7, "Shop EU"),
            (3, "shop-eu"),
            (9, "Other"),
            (12, "SHOP  EU"),
        ];
        let first = names(rows);
        assert_eq!(first[&3], "shop-eu");
        assert_eq!(first[&7], "shop-eu-7");
        assert_eq!(first[&12], "shop-eu-12");
        assert_eq!(first[&9], "other");
        // Another run, rows in another order: the same names.
        let mut reversed = rows;
        reversed.reverse();
        assert_eq!(names(reversed), first);
        // A suffixed long name still fits.
        let long = "x".repeat(80);
        let named = names([(1, long.as_str()), (123456, long.as_str())]);
        assert!(named.values().all(|n| n.len() <= 63), "{named:?}");
        assert_ne!(named[&1], named[&123456]);
        // A suffixed name that is another label's own slug is passed over.
        let named = names([(1, "Shop"), (5, "shop!"), (9, "Shop 5")]);
        assert_eq!(named[&1], "shop");
        assert_eq!(named[&9], "shop-5");
        assert_eq!(named[&5], "shop-5-2");
    }
}
