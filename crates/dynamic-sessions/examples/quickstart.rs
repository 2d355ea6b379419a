//! Executes code, uploads a file, lists the session's files and downloads one back.
//!
//! Run with the local emulator (or any pool):
//!
//! ```text
//! POOL_MANAGEMENT_ENDPOINT=http://127.0.0.1:8484 cargo run -p dynamic-sessions --example quickstart
//! ```
//!
//! Against Azure, set `POOL_MANAGEMENT_ENDPOINT` to the pool's management endpoint and sign in with
//! `az login` (or run where a managed identity is available).

use dynamic_sessions::{Error, SessionId, SessionPoolClient};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let client = SessionPoolClient::from_env()?;
    let session = client.session(SessionId::random());

    let run = session.execute("import sys\nprint(sys.version)\n6 * 7").await?;
    println!("status: {}\nstdout: {}result: {:?}", run.status, run.stdout, run.result);

    let uploaded = session.files().upload("numbers.csv", "n\n1\n2\n3\n").await?;
    println!("uploaded {} ({:?} bytes)", uploaded.path(), uploaded.size);

    let run = session.execute("sum(int(l) for l in open('/mnt/data/numbers.csv').read().split()[1:])").await?;
    println!("sum from Python: {:?}", run.result);

    let failed = session.execute("1 / 0").await?;
    println!("a failure is reported, not swallowed: {}\n{}", failed.status, failed.stderr);

    for file in session.files().list().await? {
        println!("file: {} {:?} bytes, modified {:?}", file.path(), file.size, file.last_modified);
    }

    let bytes = session.files().download("numbers.csv").await?.bytes().await?;
    println!("downloaded {} bytes: {:?}", bytes.len(), String::from_utf8_lossy(&bytes));

    session.delete().await?;
    Ok(())
}
