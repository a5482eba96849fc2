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

/// Writes one line per item, then the summary line scripts grep for.
pub fn write_text(out: &mut impl Write, report: &PassReport) -> io::Result<()> {
    for item in &report.items {
        writeln!(out, "{item}")?;
        for change in &item.diff {
            writeln!(out, "    {change}")?;
        }
    }
    writeln!(out, "{}", report.summary)
}

/// Prints a report as `plan` and `apply` do: the scan's problems on stderr, the report on stdout.
pub fn print(report: &PassReport, problems: &[Diagnostic], output: Output) -> io::Result<()> {
    write_problems(&mut io::stderr().lock(), problems)?;
    let mut out = io::stdout().lock();
    match output.document(report) {
        Some(doc) => write!(out, "{}", doc.map_err(io::Error::other)?),
        None => write_text(&mut out, report),
    }
}
