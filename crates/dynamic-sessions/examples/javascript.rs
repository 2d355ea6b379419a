//! JavaScript in a `NodeLTS` pool: state kept across executions, the last expression as the result,
//! top-level `await`, npm packages and `/mnt/data`.
//!
//! Run with the local emulator's NodeLTS pool:
//!
//! ```text
//! cargo run -p dynamic-sessions-emulator -- --pool js=NodeLTS &
//! POOL_MANAGEMENT_ENDPOINT=http://127.0.0.1:8484/subscriptions/local/resourceGroups/local/sessionPools/js \
//!     cargo run -p dynamic-sessions --example javascript
//! ```
//!
//! Against Azure, set `POOL_MANAGEMENT_ENDPOINT` to a NodeLTS pool's management endpoint and sign in with
//! `az login`.

use dynamic_sessions::{Error, PoolKind, SessionId, SessionPoolClient};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let client = SessionPoolClient::from_env()?;
    let metadata = client.metadata().await?;
    if metadata.kind() != PoolKind::JavaScript {
        eprintln!("this example needs a NodeLTS pool; {} is a {:?} pool", client.endpoint(), metadata.kind());
        return Ok(());
    }
    let runtime = metadata.runtimes.first().map(|r| format!("{} {:?}", r.name, r.version)).unwrap_or_default();
    println!("runtime: {runtime}, {} packages", metadata.preinstalled_packages.len());

    let session = client.session(SessionId::random());
    session.execute("const greet = (name) => `hello, ${name}`").await?;
    let run = session.execute("console.log(greet('log')); greet('result')").await?;
    println!("stdout: {}result: {:?}", run.stdout, run.result);

    session.files().upload("sales.csv", "region,amount\nnorth,120\nsouth,80\nnorth,40\n").await?;
    let code = "const fs = require('fs');\n\
                const rows = fs.readFileSync('/mnt/data/sales.csv', 'utf8').trim().split('\\n').slice(1).map((l) => l.split(','));\n\
                const totals = {};\n\
                for (const [region, amount] of rows) totals[region] = (totals[region] || 0) + Number(amount);\n\
                await new Promise((resolve) => setTimeout(resolve, 10));\n\
                totals";
    let run = session.execute(code).await?;
    println!("totals by region: {:?}", run.result);

    let failed = session.execute("null.property").await?;
    println!("a failure is reported, not swallowed: {}\n{}", failed.status, failed.stderr);
    session.delete().await?;
    Ok(())
}
