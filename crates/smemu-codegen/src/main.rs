//! `cargo run -p smemu-codegen` (`make codegen`) regenerates `crates/smemu-types/src/generated/`;
//! `-- --check` (`make codegen-check`) only compares, and fails listing every stale file.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let check = match args.as_slice() {
        [] => false,
        [flag] if flag == "--check" => true,
        _ => {
            eprintln!("usage: smemu-codegen [--check]");
            return ExitCode::from(2);
        }
    };
    let root = smemu_codegen::workspace_root();
    let (files, report) = match smemu_codegen::generate(&root) {
        Ok(generated) => generated,
        Err(e) => {
            eprintln!("smemu-codegen: {e}");
            return ExitCode::FAILURE;
        }
    };
    for (file, shape, why) in &report.skipped_patterns {
        eprintln!("smemu-codegen: api-models/{file}: pattern of `{shape}` not checked: {why}");
    }
    let result = if check {
        smemu_codegen::stale(&root, &files).map(|stale| {
            for path in &stale {
                eprintln!("stale: {}", path.display());
            }
            if !stale.is_empty() {
                eprintln!("run: make codegen");
            }
            stale.is_empty()
        })
    } else {
        smemu_codegen::write(&root, &files).map(|changed| {
            for path in &changed {
                println!("updated: {}", path.display());
            }
            true
        })
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("smemu-codegen: {e}");
            ExitCode::FAILURE
        }
    }
}
