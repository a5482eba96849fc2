//! Printing results and messages without `println!`'s panic: a reader that goes away (`| head`,
//! `| true`, a closed terminal) ends the output, not the command, which finishes its work and
//! exits with its own code, as ripgrep and kubectl do.

use std::io::{self, Write};

/// Writes `text` to stdout; a closed pipe or any other write error only stops the output.
pub fn stdout(text: std::fmt::Arguments<'_>) {
    let _ = io::stdout().lock().write_fmt(text);
}

/// Writes `text` to stderr; errors are dropped, as there is nowhere left to report them.
/// Messages quote what operators and manifests typed (a table prefix, a store URL, a path, a
/// label), so every control character but the line breaks prints as a visible escape.
pub fn stderr(text: std::fmt::Arguments<'_>) {
    let text = text.to_string();
    let lines: Vec<_> = text
        .split('\n')
        .map(crate::redact::escape_controls)
        .collect();
    let _ = io::stderr().lock().write_all(lines.join("\n").as_bytes());
}

/// `print!` that never panics.
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::out::stdout(format_args!($($arg)*)) };
}

/// `println!` that never panics.
macro_rules! outln {
    () => { $crate::cli::out::stdout(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cli::out::stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `eprintln!` that never panics.
macro_rules! errln {
    ($($arg:tt)*) => { $crate::cli::out::stderr(format_args!("{}\n", format_args!($($arg)*))) };
}

pub(crate) use {errln, out, outln};

/// A writer for commands that write through `impl Write` (the demo): once the reader is gone,
/// further output is dropped and the command goes on, as with the macros above.
pub struct PipeSafe<W: Write> {
    inner: W,
    closed: bool,
}

impl<W: Write> PipeSafe<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        PipeSafe {
            inner,
            closed: false,
        }
    }
}

impl<W: Write> Write for PipeSafe<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        match self.inner.write(buf) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(buf.len())
            }
            other => other,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.inner.flush() {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            _ if self.closed => Ok(()),
            other => other,
        }
    }
}
