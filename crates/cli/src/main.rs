//! `dyns`: a command line for session pools (Azure Container Apps dynamic sessions) and the local emulator.
//!
//! Named for what it talks to, *dyn*amic *s*essions, in four letters a person types often; no common tool on
//! Debian, Homebrew or crates.io is called that.

mod cli;
mod connect;
mod exec;
mod failure;
mod files;
mod output;
mod progress;
mod repl;
mod sessions;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};
use failure::Failure;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return Failure::local(format!("cannot start: {e}")).report(cli.json),
    };
    match runtime.block_on(run(&cli)) {
        Ok(code) => code,
        Err(failure) => failure.report(cli.json),
    }
}

async fn run(cli: &Cli) -> Result<ExitCode, Failure> {
    if let Command::Completions { shell } = &cli.command {
        cli::completions(*shell);
        return Ok(ExitCode::SUCCESS);
    }
    let client = connect::client(&cli.pool)?;
    let out = output::Output::new(cli.json);
    match &cli.command {
        Command::Exec(args) => exec::code(&client, args, &out).await,
        Command::Shell(args) => exec::shell(&client, args, &out).await,
        Command::Repl(args) => repl::run(&client, args).await,
        Command::Files(command) => files::run(&client, command, &out).await,
        Command::Sessions(command) => sessions::run(&client, command, &out).await,
        Command::Pool(command) => sessions::pool(&client, command, &out).await,
        Command::Completions { .. } => Ok(ExitCode::SUCCESS),
    }
}
