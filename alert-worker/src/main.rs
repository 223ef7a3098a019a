use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "alert-worker: rule evaluation is not implemented yet; rules are stored but not evaluated"
    );
    ExitCode::FAILURE
}
