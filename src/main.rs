//! The `rdsync` command.
fn main() {
    let code = rdsync::run_cli(std::env::args_os().skip(1).collect());
    std::process::exit(code);
}
