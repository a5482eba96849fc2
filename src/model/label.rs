//! When two labels are the same label.

/// The comparison key of a credential label: labels are unique ignoring case and trailing
/// spaces, as MariaDB's default (PAD SPACE, case-insensitive) collation compares them. Every
/// check that two labels clash (validate's tree check, the planner, the incremental scan) uses
/// this one key, so that no path lets in what another refuses.
pub fn label_key(label: &str) -> String {
    label.trim_end().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_trailing_spaces_do_not_tell_labels_apart() {
        assert_eq!(label_key("Alpha "), label_key("alpha"));
        assert_eq!(label_key("ÉTÉ"), label_key("été"));
        // Leading spaces count in every engine's comparison.
        assert_ne!(label_key(" alpha"), label_key("alpha"));
    }
}
