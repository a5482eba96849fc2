//! The one printer of pass reports: `plan`, `apply` and the demo print items and the summary
//! line the same way.

use std::io::{self, Write};

use super::Output;
use crate::diagnostic::Diagnostic;
use crate::reconcile::PassReport;

/// Writes the problems of a scan, one per line.
pub fn write_problems(out: &mut impl Write, problems: &[Diagnostic]) -> io::Result<()> {
    for problem in problems {
        writeln!(out, "{problem}")?;
    }
    Ok(())
}

/// Writes one line per item (`Unchanged` ones only when `verbose`: the summary counts them),
/// then the summary line scripts grep for, always the last line:
/// `Plan: 1 to create, 0 to update, 0 to delete, 0 to orphan, 0 unchanged, 0 failing` for a
/// plan, `1 created, 0 updated, 0 deleted, 0 orphaned, 0 unchanged, 0 failed` after a pass.
pub fn write_text(out: &mut impl Write, report: &PassReport, verbose: bool) -> io::Result<()> {
    for item in &report.items {
        if !verbose && item.is_unchanged() {
            continue;
        }
        writeln!(out, "{item}")?;
        for change in &item.diff {
            writeln!(out, "    {change}")?;
        }
    }
    writeln!(out, "{}", report.summary_line())
}

/// Prints a report as `plan` and `apply` do: the scan's problems on stderr, the report on stdout
/// (JSON and YAML always with every item), through one buffer rather than a write per line.
pub fn print(
    report: &PassReport,
    problems: &[Diagnostic],
    output: Output,
    verbose: bool,
) -> io::Result<()> {
    write_problems(&mut io::BufWriter::new(io::stderr().lock()), problems)?;
    let mut out = io::BufWriter::new(io::stdout().lock());
    match output.document(report) {
        Some(doc) => write!(out, "{}", doc.map_err(io::Error::other)?)?,
        None => write_text(&mut out, report, verbose)?,
    }
    out.flush()
}
