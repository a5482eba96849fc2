//! `bccreds completions SHELL` and `bccreds man`: shell completions and man pages, generated
//! from the same clap definitions the commands parse with, so they never drift from them.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use clap_complete::Shell;

use super::out::errln;
use super::{EXIT_FAILED, EXIT_OK};

/// `bccreds completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: Shell,
}

/// `bccreds man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write bccreds.1 and one page per command (bccreds-apply.1, …) into this directory;
    /// without it, bccreds.1 goes to stdout.
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// Writes the completion script for one shell to stdout.
pub fn completions(args: &CompletionsArgs) -> u8 {
    let mut cmd = super::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "bccreds", &mut script);
    // A closed pipe ends the output, as everywhere else.
    let _ = std::io::stdout().lock().write_all(&script);
    EXIT_OK
}

/// Writes man pages: the top page to stdout, or every page into `--dir`.
pub fn man(args: &ManArgs) -> u8 {
    let cmd = super::command();
    match &args.dir {
        None => {
            let mut page = Vec::new();
            if let Err(e) = clap_mangen::Man::new(cmd).render(&mut page) {
                errln!("error: cannot render the man page: {e}");
                return EXIT_FAILED;
            }
            let _ = std::io::stdout().lock().write_all(&page);
            EXIT_OK
        }
        Some(dir) => match write_pages(cmd, dir) {
            Ok(n) => {
                errln!("wrote {n} man pages to {}", dir.display());
                EXIT_OK
            }
            Err(e) => {
                errln!("error: cannot write man pages to {}: {e}", dir.display());
                EXIT_FAILED
            }
        },
    }
}

fn write_pages(cmd: clap::Command, dir: &std::path::Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let mut written = 0;
    let mut render = |cmd: clap::Command, name: String| -> std::io::Result<()> {
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd)
            .title(name.clone())
            .render(&mut page)?;
        std::fs::write(dir.join(format!("{name}.1")), page)?;
        written += 1;
        Ok(())
    };
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("bccreds-{}", sub.get_name());
        // The page of a subcommand is titled with its full name, as git's are.
        render(sub.clone(), name)?;
    }
    render(cmd, "bccreds".to_string())?;
    Ok(written)
}
