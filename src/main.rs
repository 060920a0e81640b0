//! The `watchword` command; everything it does lives in [`watchword::cli`].

fn main() -> std::process::ExitCode {
    watchword::cli::main()
}
