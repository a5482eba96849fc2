//! What changed between two scans of the same source, so that `watch` passes over those
//! credentials only. Full passes still run at start, on resync and after lost events: they are
//! what checks drift, repeats old verifications and deletes.

use std::collections::{HashMap, HashSet};

use super::desired::{Coverage, EntryDigest, Scan, SourceKey};
use super::report::PassReport;

/// The digest of every entry of the last pass, by key; `None` for an entry that failed, which
/// every later pass tries again, and whose removal still needs a full pass.
#[derive(Debug, Default)]
pub struct DesiredIndex {
    seen: HashMap<SourceKey, Option<EntryDigest>>,
    /// Whether a complete pass was recorded: before one, only a full pass will do.
    ready: bool,
}

impl DesiredIndex {
    /// The entries of `scan` that differ from the recorded ones, as a scan of those entries;
    /// None when only a full pass will do: nothing recorded yet, a scan that is not complete,
    /// or a credential gone (deletions are decided by full passes, with their guards).
    pub fn changes(&self, scan: &Scan) -> Option<Scan> {
        if !self.ready || scan.coverage != Coverage::Complete {
            return None;
        }
        let mut keys: HashSet<&SourceKey> = HashSet::with_capacity(scan.entries.len());
        let mut changed = Vec::new();
        for entry in &scan.entries {
            let key = entry.key();
            if self.seen.get(key) != Some(&Some(entry.digest())) {
                changed.push(entry.clone());
            }
            keys.insert(key);
        }
        if self.seen.keys().any(|k| !keys.contains(k)) {
            return None;
        }
        Some(Scan {
            entries: changed,
            coverage: Coverage::Entries,
            scope: scan.scope.clone(),
            problems: scan.problems.clone(),
        })
    }

    /// Records `scan` after a pass (full, or of its changes) that reported `report`. Entries
    /// that failed are kept without a digest, so that the next change tries them again as a full
    /// pass would, and their removal is noticed.
    pub fn record(&mut self, scan: &Scan, report: &PassReport) {
        self.clear();
        if scan.coverage == Coverage::Complete {
            self.record_entries(scan, report);
            self.ready = true;
        }
    }

    /// Records a pass of some entries (the scan of a few changed files): only their
    /// fingerprints change.
    pub fn record_entries(&mut self, scan: &Scan, report: &PassReport) {
        let failed: HashSet<&SourceKey> = report
            .items
            .iter()
            .filter(|i| i.failed())
            .map(|i| &i.key)
            .collect();
        for entry in &scan.entries {
            let key = entry.key();
            let digest = (!failed.contains(key)).then(|| entry.digest());
            self.seen.insert(key.clone(), digest);
        }
    }

    /// Whether a complete pass was recorded and nothing failed since: only then may a pass
    /// cover less than everything.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// Forgets everything, so that the next pass is a full one.
    pub fn clear(&mut self) {
        self.seen.clear();
        self.ready = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Reason;
    use crate::reconcile::Entry;
    use crate::reconcile::Invalid;

    fn invalid(name: &str, message: &str) -> Entry {
        Entry::Invalid(Invalid {
            key: SourceKey {
                namespace: "default".into(),
                name: name.into(),
            },
            label: Some(name.into()),
            generation: None,
            reason: Reason::InvalidSpec,
            message: message.into(),
        })
    }

    fn scan(entries: Vec<Entry>, coverage: Coverage) -> Scan {
        Scan {
            entries,
            coverage,
            scope: None,
            problems: Vec::new(),
        }
    }

    fn names(scan: &Scan) -> Vec<String> {
        scan.entries.iter().map(|e| e.key().name.clone()).collect()
    }

    #[test]
    fn only_changed_and_new_entries_are_passed_and_a_removal_needs_a_full_pass() {
        let mut index = DesiredIndex::default();
        let first = scan(
            vec![invalid("a", "x"), invalid("b", "x")],
            Coverage::Complete,
        );
        assert!(index.changes(&first).is_none(), "nothing recorded yet");
        assert!(!index.is_ready());
        index.record(&first, &PassReport::default());
        assert!(index.is_ready());

        let same = index.changes(&first).expect("a delta");
        assert!(same.entries.is_empty());
        assert_eq!(same.coverage, Coverage::Entries);

        let edited = scan(
            vec![invalid("a", "x"), invalid("b", "y"), invalid("c", "x")],
            Coverage::Complete,
        );
        assert_eq!(names(&index.changes(&edited).expect("a delta")), ["b", "c"]);

        let removed = scan(vec![invalid("a", "x")], Coverage::Complete);
        assert!(index.changes(&removed).is_none());
        let incomplete = scan(
            vec![invalid("a", "x"), invalid("b", "x")],
            Coverage::Incomplete,
        );
        assert!(index.changes(&incomplete).is_none());
        index.record(&incomplete, &PassReport::default());
        assert!(
            index.changes(&first).is_none(),
            "an incomplete pass resets it"
        );
    }

    #[test]
    fn failed_entries_are_passed_again_with_the_next_change() {
        let mut index = DesiredIndex::default();
        let first = scan(
            vec![invalid("a", "x"), invalid("b", "x")],
            Coverage::Complete,
        );
        let report = PassReport {
            items: vec![{
                let mut item = crate::reconcile::ItemReport::new(
                    crate::model::SourceKey::new("default", "b"),
                    "b",
                    crate::reconcile::Action::Skip,
                    Reason::InvalidSpec,
                    "x".into(),
                );
                item.result = Some(crate::reconcile::ItemResult::Failed);
                item
            }],
            ..PassReport::default()
        };
        index.record(&first, &report);
        assert_eq!(names(&index.changes(&first).expect("a delta")), ["b"]);
        // The failed entry's file deleted: its status and problems go only with a full pass.
        let without_b = scan(vec![invalid("a", "x")], Coverage::Complete);
        assert!(index.changes(&without_b).is_none(), "b is gone");
        index.clear();
        assert!(index.changes(&first).is_none());
    }
}
