//! Pageable answers (`GET files`, `GET listSessions`): the `nextLink` loop, in one place.

use serde_json::Value;
use url::Url;

use crate::error::Error;
use crate::session_id::SessionId;
use crate::transport::{Op, Transport, read_json};
use crate::wire;

/// The most `nextLink` pages followed for one listing, against a service that keeps answering with one.
pub(crate) const MAX_PAGES: usize = 1000;

/// Requests `first` (with `method`) and every page its `nextLink`s lead to, collecting what `items` reads
/// from each page.
pub(crate) async fn collect<T>(
    t: &Transport,
    op: Op,
    method: reqwest::Method,
    session: Option<&SessionId>,
    first: Url,
    mut items: impl FnMut(&Value) -> Vec<T>,
) -> Result<Vec<T>, Error> {
    let mut url = first;
    let mut out = Vec::new();
    for _ in 0..MAX_PAGES {
        let response = t.send(op, session, |http| Ok(http.request(method.clone(), url.clone()))).await?;
        let page: Value = read_json(op, response).await?;
        out.extend(items(&page));
        match next_link(t, &page)? {
            Some(next) => url = next,
            None => return Ok(out),
        }
    }
    Err(Error::Decode {
        operation: op.name,
        message: format!("the service returned more than {MAX_PAGES} pages"),
        body_snippet: String::new(),
    })
}

/// The page's `nextLink`, resolved against the endpoint. A link to another origin is refused: following it
/// would send the pool token elsewhere. A link without `api-version` (the custom-container examples drop it)
/// gets the one this client speaks for pool-level calls.
pub(crate) fn next_link(t: &Transport, page: &Value) -> Result<Option<Url>, Error> {
    let Some(link) = wire::string(page, &["nextLink", "@odata.nextLink"]).filter(|l| !l.is_empty()) else {
        return Ok(None);
    };
    let url = t.endpoint.join(&link).map_err(|e| Error::Decode {
        operation: "nextLink",
        message: e.to_string(),
        body_snippet: link.clone(),
    })?;
    if !t.same_origin(&url) {
        return Err(Error::Decode {
            operation: "nextLink",
            message: "the next page is on another host; refusing to send the pool token there".to_owned(),
            body_snippet: link,
        });
    }
    let mut url = url;
    if !url.query_pairs().any(|(k, _)| k == "api-version") {
        url.query_pairs_mut().append_pair("api-version", t.management_version().as_str());
    }
    Ok(Some(url))
}
