//! The `bccreds` binary.

fn main() -> std::process::ExitCode {
    bccreds::cli::run()
}
