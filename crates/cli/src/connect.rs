//! The client, from the command line and the environment, as the library's `from_env` would make it.

use dynamic_sessions::{ApiVersion, Auth, SessionId, SessionPoolClient, env};

use crate::cli::{PoolArgs, SessionArg};
use crate::failure::Failure;

/// The client of the pool the options and the environment name.
pub(crate) fn client(args: &PoolArgs) -> Result<SessionPoolClient, Failure> {
    let Some(endpoint) = args.endpoint.as_deref().filter(|e| !e.trim().is_empty()) else {
        return Err(Failure::usage(
            "no pool: give --endpoint or set POOL_MANAGEMENT_ENDPOINT (the pool's management endpoint, or \
             http://127.0.0.1:8484 for a local emulator)",
        ));
    };
    let auth = Auth::for_endpoint(endpoint).map_err(Failure::from)?;
    let mut builder = SessionPoolClient::builder(endpoint).auth(auth).user_agent("dyns");
    if let Some(version) = &args.api_version {
        builder = builder.api_version(ApiVersion::new(version.clone()).map_err(Failure::from)?);
    }
    if let Some(path) = std::env::var_os(env::DYNAMIC_SESSIONS_CA_CERT) {
        let pem = std::fs::read(&path).map_err(|e| {
            Failure::local(format!("cannot read {} ({}): {e}", path.to_string_lossy(), env::DYNAMIC_SESSIONS_CA_CERT))
        })?;
        builder = builder.ca_certificate_pem(&pem).map_err(Failure::from)?;
    }
    builder.build().map_err(Failure::from)
}

/// The session to use: the one given, or a new random one (said on stderr, so that the next command can use
/// it).
pub(crate) fn session(arg: &SessionArg, quiet: bool) -> Result<SessionId, Failure> {
    match &arg.session {
        Some(id) => SessionId::new(id.clone()).map_err(Failure::from),
        None => {
            let id = SessionId::random();
            if !quiet {
                eprintln!("session {id}");
            }
            Ok(id)
        }
    }
}
