//! Shell commands in a `Shell` pool (api-version 2025-02-02-preview or later): exit codes, standard input,
//! argument lists without a shell, and the session's files.
//!
//! Run with the local emulator's Shell pool:
//!
//! ```text
//! cargo run -p dynamic-sessions-emulator -- --pool sh=Shell &
//! POOL_MANAGEMENT_ENDPOINT=http://127.0.0.1:8484/subscriptions/local/resourceGroups/local/sessionPools/sh \
//!     cargo run -p dynamic-sessions --example shell
//! ```

use dynamic_sessions::{Error, SessionId, SessionPoolClient};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let client = SessionPoolClient::from_env()?;
    let session = client.session(SessionId::random());

    let run = session.shell("echo Hello world!").await?;
    println!("exit {:?}: {}", run.exit_code, run.stdout);

    session.files().upload("words.txt", "pear\napple\nfig\n").await?;
    let run = session.shell("sort /mnt/data/words.txt | tee /mnt/data/sorted.txt | wc -l").await?;
    println!("sorted {} words", run.stdout.trim());

    let run = session.shell("tr a-z A-Z").stdin("from standard input").await?;
    println!("{}", run.stdout);

    let run = session.exec(["ls", "-l", "/mnt/data"]).await?;
    println!("{}", run.stdout);

    let run = session.shell("grep -q kiwi /mnt/data/words.txt").await?;
    println!("grep found no kiwi: exit code {:?}, success {}", run.exit_code, run.is_success());
    session.delete().await?;
    Ok(())
}
