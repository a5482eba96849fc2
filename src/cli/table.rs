//! Plain-text tables that fit a terminal width.
//!
//! Every column starts at its natural width (its header or its widest cell). When the table is
//! too wide, the shrinkable columns go down to their floors and the room left is handed out
//! from left to right, so the first column (a label, a name) is cut last. Room a column cannot
//! use (a URL whose shorter form is narrower than its share, a wrapped message whose lines end
//! early) goes back to the others.

/// How a column gives way when the table is too wide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shrink {
    /// Never truncated.
    Fixed,
    /// Truncated at the end, down to this width.
    End(usize),
    /// A URL, down to this width: whole; without its scheme; without its trailing slash; the
    /// host cut in the middle, keeping the whole path with the store hash; the path alone.
    Url(usize),
    /// Wrapped at spaces onto continuation lines, down to this width.
    Wrap(usize),
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
const ELLIPSIS: char = '…';
/// How far notes under a row are indented.
const NOTE_INDENT: &str = "    ";
/// The fewest characters of a host kept before `…/path`; below that, the path alone.
const MIN_HOST_HEAD: usize = 3;

/// The width to fit: `COLUMNS` when it is set and sensible, else 80.
pub fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse().ok())
        .filter(|w: &usize| *w >= 40)
        .unwrap_or(80)
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

fn first(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

fn last(s: &str, n: usize) -> String {
    let len = chars(s);
    s.chars().skip(len.saturating_sub(n)).collect()
}

/// `cell` cut at the end to `width` characters, `…` included.
fn cut_end(cell: &str, width: usize) -> String {
    if chars(cell) <= width {
        return cell.to_string();
    }
    format!("{}{ELLIPSIS}", first(cell, width.saturating_sub(1)))
}

/// `cell` cut in the middle to `width` characters, keeping more of the tail.
fn cut_middle(cell: &str, width: usize) -> String {
    if chars(cell) <= width {
        return cell.to_string();
    }
    let keep = width.saturating_sub(1);
    let tail = keep * 2 / 3;
    format!("{}{ELLIPSIS}{}", first(cell, keep - tail), last(cell, tail))
}

/// A URL in at most `width` characters (see [`Shrink::Url`]).
pub fn shorten_url(url: &str, width: usize) -> String {
    if chars(url) <= width {
        return url.to_string();
    }
    let bare = url.split_once("://").map_or(url, |(_, rest)| rest);
    if chars(bare) <= width {
        return bare.to_string();
    }
    let trimmed = match bare.trim_end_matches('/') {
        "" => bare,
        t => t,
    };
    if chars(trimmed) <= width {
        return trimmed.to_string();
    }
    if let Some(slash) = trimmed.find('/').filter(|&i| i > 0) {
        let (host, path) = trimmed.split_at(slash);
        let head = width.saturating_sub(chars(path) + 1);
        if head >= MIN_HOST_HEAD {
            return format!("{}{ELLIPSIS}{path}", first(host, head));
        }
        if chars(path) < width {
            return format!("{ELLIPSIS}{path}");
        }
    }
    cut_middle(trimmed, width)
}

/// `text` wrapped at spaces into lines of at most `width` characters; a longer word is split.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let mut word = word.to_string();
        loop {
            let (used, len) = (chars(&line), chars(&word));
            if used == 0 && len <= width {
                line = word;
                break;
            }
            if used > 0 && used + 1 + len <= width {
                line.push(' ');
                line.push_str(&word);
                break;
            }
            if used > 0 {
                lines.push(std::mem::take(&mut line));
                continue;
            }
            lines.push(first(&word, width));
            word = word.chars().skip(width).collect();
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// The lines `cell` takes in a column `width` wide.
fn fit(cell: &str, width: usize, shrink: Shrink) -> Vec<String> {
    match shrink {
        Shrink::Fixed => vec![cell.to_string()],
        Shrink::End(_) => vec![cut_end(cell, width)],
        Shrink::Url(_) => vec![shorten_url(cell, width)],
        Shrink::Wrap(_) if chars(cell) <= width => vec![cell.to_string()],
        Shrink::Wrap(_) => wrap(cell, width),
    }
}

/// Cells from the store and from BigCommerce: never let them drive the terminal.
fn escaped(rows: &[Vec<String>]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| {
            r.iter()
                .map(|c| crate::redact::escape_controls(c).into_owned())
                .collect()
        })
        .collect()
}

fn cell(row: &[String], i: usize) -> &str {
    row.get(i).map_or("", String::as_str)
}

fn total(widths: &[usize]) -> usize {
    widths.iter().sum::<usize>() + GAP.len() * widths.len().saturating_sub(1)
}

/// Column widths for escaped `rows` in `width` characters (more only where the floors need it).
fn allocate(columns: &[Column], rows: &[Vec<String>], width: usize) -> Vec<usize> {
    let natural: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            rows.iter()
                .map(|r| chars(cell(r, i)))
                .max()
                .unwrap_or(0)
                .max(chars(c.header))
        })
        .collect();
    if total(&natural) <= width {
        return natural;
    }
    let mut widths: Vec<usize> = columns
        .iter()
        .zip(&natural)
        .map(|(c, &n)| match c.shrink {
            Shrink::Fixed => n,
            Shrink::End(min) | Shrink::Url(min) | Shrink::Wrap(min) => {
                n.min(min.max(chars(c.header)))
            }
        })
        .collect();
    let mut room = width.saturating_sub(total(&widths));
    // Columns that gave back room they could not use; they get no more.
    let mut settled = vec![false; columns.len()];
    for _ in 0..=columns.len() {
        for (i, w) in widths.iter_mut().enumerate() {
            if !settled[i] {
                let more = room.min(natural[i] - *w);
                *w += more;
                room -= more;
            }
        }
        let mut freed = 0;
        for (i, c) in columns.iter().enumerate() {
            if settled[i] || widths[i] >= natural[i] {
                continue;
            }
            let used = rows
                .iter()
                .flat_map(|r| fit(cell(r, i), widths[i], c.shrink))
                .map(|l| chars(&l))
                .max()
                .unwrap_or(0)
                .max(chars(c.header));
            if used < widths[i] {
                freed += widths[i] - used;
                widths[i] = used;
                settled[i] = true;
            }
        }
        if freed == 0 {
            break;
        }
        room += freed;
    }
    widths
}

/// Whether `rows` under `columns` fit in `width` characters per line.
pub fn fits(columns: &[Column], rows: &[Vec<String>], width: usize) -> bool {
    total(&allocate(columns, &escaped(rows), width)) <= width
}

/// Renders `rows` under `columns` in at most `width` characters per line where the shrink
/// floors allow it.
pub fn render(columns: &[Column], rows: &[Vec<String>], width: usize) -> String {
    render_with_notes(columns, rows, &[], width)
}

/// As [`render`], with `notes[i]` (when not empty) wrapped and indented under row `i`.
pub fn render_with_notes(
    columns: &[Column],
    rows: &[Vec<String>],
    notes: &[String],
    width: usize,
) -> String {
    let rows = escaped(rows);
    let widths = allocate(columns, &rows, width);
    let line = |cells: &[String]| -> String {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}", w = *w))
            .collect();
        padded.join(GAP).trim_end().to_string()
    };
    let headers: Vec<String> = columns.iter().map(|c| c.header.to_uppercase()).collect();
    let mut out = line(&headers);
    out.push('\n');
    for (r, row) in rows.iter().enumerate() {
        let fitted: Vec<Vec<String>> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| fit(cell(row, i), widths[i], c.shrink))
            .collect();
        let height = fitted.iter().map(Vec::len).max().unwrap_or(1);
        for k in 0..height {
            let cells: Vec<String> = fitted
                .iter()
                .map(|lines| lines.get(k).cloned().unwrap_or_default())
                .collect();
            out.push_str(&line(&cells));
            out.push('\n');
        }
        if let Some(note) = notes.get(r).filter(|n| !n.is_empty()) {
            let note = crate::redact::escape_controls(note);
            let room = width.saturating_sub(NOTE_INDENT.len()).max(20);
            for l in wrap(&note, room) {
                out.push_str(NOTE_INDENT);
                out.push_str(&l);
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://api.bigcommerce.com/stores/abc123/";

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

    fn widest(out: &str) -> usize {
        out.lines().map(chars).max().unwrap_or(0)
    }

    #[test]
    fn a_url_keeps_its_host_until_only_the_path_fits() {
        assert_eq!(shorten_url(URL, 80), URL);
        assert_eq!(shorten_url(URL, 41), "api.bigcommerce.com/stores/abc123/");
        assert_eq!(shorten_url(URL, 33), "api.bigcommerce.com/stores/abc123");
        assert_eq!(shorten_url(URL, 24), "api.bigco…/stores/abc123");
        assert_eq!(shorten_url(URL, 18), "api…/stores/abc123");
        assert_eq!(shorten_url(URL, 16), "…/stores/abc123");
        let short = shorten_url(URL, 10);
        assert_eq!(chars(&short), 10, "{short}");
        assert!(short.ends_with("abc123"), "{short}");
        assert_eq!(shorten_url("not a url at all, long", 10), "not…, long");
    }

    #[test]
    fn words_wrap_and_long_words_split() {
        assert_eq!(wrap("a bb ccc dddd", 6), ["a bb", "ccc", "dddd"]);
        assert_eq!(wrap("abcdefgh", 3), ["abc", "def", "gh"]);
        assert_eq!(wrap("", 5), [""]);
    }

    #[test]
    fn fits_the_width_and_the_label_is_cut_last() {
        let rows = vec![vec![
            "A rather long production label".to_string(),
            URL.to_string(),
            "Inactive".to_string(),
        ]];
        let out = render(&COLS, &rows, 50);
        assert!(widest(&out) <= 50, "{out}");
        assert!(out.contains("…/stores/abc123"), "the path stays: {out}");
        assert!(out.contains("Inactive"));
        assert!(out.starts_with("LABEL"));
        // Wider: the label is whole before the URL gets more than its floor.
        let out = render(&COLS, &rows, 60);
        assert!(out.contains("A rather long production label"), "{out}");
        assert!(widest(&out) <= 60, "{out}");
    }

    #[test]
    fn room_a_short_url_form_cannot_use_goes_to_the_label() {
        let rows = vec![vec![
            "A label that is rather too long to fit beside the URL".to_string(),
            URL.to_string(),
            "Active".to_string(),
        ]];
        for width in 40..=110 {
            let out = render(&COLS, &rows, width);
            let row = out.lines().nth(1).expect("a row");
            assert!(chars(row) <= width, "{width}: {out}");
            if !row.contains("beside the URL") {
                // The label is cut: then the line is exactly as wide as the terminal, no
                // padding left behind the URL.
                assert_eq!(chars(row), width, "{width}: {out}");
            }
        }
    }

    #[test]
    fn a_wrapped_column_continues_on_the_next_lines() {
        let cols = [
            Column {
                header: "Name",
                shrink: Shrink::Fixed,
            },
            Column {
                header: "Message",
                shrink: Shrink::Wrap(10),
            },
        ];
        let rows = vec![vec![
            "a".to_string(),
            "one two three four five six".to_string(),
        ]];
        assert_eq!(
            render(&cols, &rows, 20),
            "NAME  MESSAGE\na     one two three\n      four five six\n"
        );
        assert!(fits(&cols, &rows, 20));
        assert!(!fits(&cols, &rows, 12));
    }

    #[test]
    fn notes_go_under_their_row() {
        let rows = vec![vec!["a".to_string()], vec!["b".to_string()]];
        let cols = [Column {
            header: "Name",
            shrink: Shrink::Fixed,
        }];
        let notes = ["first note".to_string(), String::new()];
        assert_eq!(
            render_with_notes(&cols, &rows, &notes, 40),
            "NAME\na\n    first note\nb\n"
        );
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
