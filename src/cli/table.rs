//! Plain-text tables that fit a terminal width, shrinking the widest columns first.

/// How a column gives way when the table is too wide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shrink {
    /// Never truncated.
    Fixed,
    /// Truncated at the end, down to this width.
    End(usize),
    /// Truncated in the middle, keeping the tail, down to this width.
    Middle(usize),
    /// A URL: drops the scheme, then the host (keeping the path with the store hash), then
    /// truncates in the middle, down to this width.
    Url(usize),
}

/// A column: header and how it shrinks.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    /// Header text.
    pub header: &'static str,
    /// Shrinking rule.
    pub shrink: Shrink,
}

const GAP: &str = "  ";

fn chars(s: &str) -> usize {
    s.chars().count()
}

fn truncate(cell: &str, width: usize, shrink: Shrink) -> String {
    let len = chars(cell);
    if len <= width {
        return cell.to_string();
    }
    let keep = width.saturating_sub(1);
    if let Shrink::Url(_) = shrink {
        let no_scheme = cell.split_once("://").map_or(cell, |(_, rest)| rest);
        let path_only = no_scheme.find('/').map(|i| format!("…{}", &no_scheme[i..]));
        for candidate in [Some(no_scheme.to_string()), path_only]
            .into_iter()
            .flatten()
        {
            if chars(&candidate) <= width {
                return candidate;
            }
        }
        return truncate(no_scheme, width, Shrink::Middle(width));
    }
    match shrink {
        Shrink::Middle(_) => {
            let tail = keep * 2 / 3;
            let head = keep - tail;
            let start: String = cell.chars().take(head).collect();
            let end: String = cell.chars().skip(len - tail).collect();
            format!("{start}…{end}")
        }
        _ => format!("{}…", cell.chars().take(keep).collect::<String>()),
    }
}

/// Renders `rows` under `columns` in at most `width` characters per line where the shrink
/// minimums allow it.
pub fn render(columns: &[Column], rows: &[Vec<String>], width: usize) -> String {
    // Cells come from the store and from BigCommerce: never let them drive the terminal.
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|c| crate::redact::escape_controls(c).into_owned())
                .collect()
        })
        .collect();
    let rows = &rows;
    let mut widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |s| chars(s)))
                .max()
                .unwrap_or(0)
                .max(chars(c.header))
        })
        .collect();
    let total = |w: &[usize]| w.iter().sum::<usize>() + GAP.len() * w.len().saturating_sub(1);
    // Take one character at a time from the widest shrinkable column until the table fits.
    while total(&widths) > width {
        let candidate = columns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| match c.shrink {
                Shrink::End(min) | Shrink::Middle(min) | Shrink::Url(min)
                    if widths[i] > min.max(chars(c.header)) =>
                {
                    Some((widths[i], i))
                }
                _ => None,
            })
            .max();
        match candidate {
            Some((_, i)) => widths[i] -= 1,
            None => break,
        }
    }
    let line = |cells: Vec<String>| -> String {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}", w = *w))
            .collect();
        padded.join(GAP).trim_end().to_string()
    };
    let mut out = line(columns.iter().map(|c| c.header.to_uppercase()).collect());
    out.push('\n');
    for row in rows {
        let cells = columns
            .iter()
            .enumerate()
            .map(|(i, c)| truncate(row.get(i).map_or("", String::as_str), widths[i], c.shrink))
            .collect();
        out.push_str(&line(cells));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLS: [Column; 3] = [
        Column {
            header: "Label",
            shrink: Shrink::End(8),
        },
        Column {
            header: "API URL",
            shrink: Shrink::Url(16),
        },
        Column {
            header: "Status",
            shrink: Shrink::Fixed,
        },
    ];

    #[test]
    fn fits_the_width_by_shrinking_the_widest_column() {
        let rows = vec![vec![
            "A rather long production label".to_string(),
            "https://api.bigcommerce.com/stores/abc123/".to_string(),
            "Inactive".to_string(),
        ]];
        let out = render(&COLS, &rows, 50);
        for line in out.lines() {
            assert!(
                line.chars().count() <= 50,
                "{line:?} is {} wide",
                line.chars().count()
            );
        }
        assert!(
            out.contains("stores/abc123/"),
            "the tail of the URL stays: {out}"
        );
        assert!(out.contains("Inactive"));
        assert!(out.starts_with("LABEL"));
    }

    #[test]
    fn a_narrow_table_is_left_alone() {
        let rows = vec![vec![
            "Shop".to_string(),
            "u".to_string(),
            "Active".to_string(),
        ]];
        assert_eq!(
            render(&COLS, &rows, 80),
            "LABEL  API URL  STATUS\nShop   u        Active\n"
        );
    }
}
