//! The `.management` calls: `stopSession` (every pool type, 2025-10-02-preview), and `getSession` and
//! `listSessions` as custom-container pools answer them.

use reqwest::Method;
use serde_json::Value;

use crate::client::SessionPoolClient;
use crate::error::Error;
use crate::paging;
use crate::pool::SessionInfo;
use crate::retry::Replay;
use crate::session_id::SessionId;
use crate::transport::{Transport, read_json};
use crate::wire;

/// The `.management` calls of a pool. Obtain with [`SessionPoolClient::management`].
///
/// Custom-container pools answer `getSession` and `listSessions` here (with `POST`); code-interpreter pools
/// answer [`Session::info`](crate::Session::info) and [`SessionPoolClient::list_sessions`] instead.
#[derive(Debug, Clone)]
pub struct Management {
    client: SessionPoolClient,
}

impl Management {
    pub(crate) fn new(client: SessionPoolClient) -> Self {
        Management { client }
    }

    fn transport(&self) -> &Transport {
        &self.client.transport
    }

    /// `POST .management/stopSession`: stops the session and frees its slot. A session that is already gone
    /// is not an error.
    ///
    /// # Errors
    /// Service and transport errors other than "not found".
    pub async fn stop_session(&self, id: &SessionId) -> Result<(), Error> {
        let t = self.transport();
        let url = t.url(&[".management", "stopSession"], &t.management_version(), Some(id), &[]);
        let op = t.op("management.stop_session", Replay::Idempotent, false);
        match t.send(op, Some(id), |http| Ok(http.post(url.clone()))).await {
            Ok(_) => Ok(()),
            Err(Error::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `POST .management/getSession`: a session's creation, last access and expiry times.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the pool does not know the session; service and transport errors.
    pub async fn get_session(&self, id: &SessionId) -> Result<SessionInfo, Error> {
        let t = self.transport();
        let url = t.url(&[".management", "getSession"], &t.management_version(), Some(id), &[]);
        let op = t.op("management.get_session", Replay::Idempotent, false);
        let response = t.send(op, Some(id), |http| Ok(http.post(url.clone()))).await?;
        let v: Value = read_json(op, response).await?;
        Ok(SessionInfo::from_json(&v))
    }

    /// `POST .management/listSessions?skip=0`: every session, following `nextLink` (pages of up to 300).
    ///
    /// # Errors
    /// Service and transport errors; [`Error::Decode`] for an unreadable answer.
    pub async fn list_sessions(&self) -> Result<Vec<SessionInfo>, Error> {
        let t = self.transport();
        let op = t.op("management.list_sessions", Replay::Idempotent, false);
        let first = t.url(&[".management", "listSessions"], &t.management_version(), None, &[("skip", "0")]);
        paging::collect(t, op, Method::POST, None, first, |page| {
            wire::items(wire::field(page, &["value", "sessions"]).unwrap_or(&Value::Null))
                .into_iter()
                .map(SessionInfo::from_json)
                .collect()
        })
        .await
    }
}
