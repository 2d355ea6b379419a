//! [`ExecuteBuilder`]: options for one execution, synchronous or asynchronous with polling.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::model::{Execution, ExecutionStatus};
use super::submit::{self, is_properties_missing};
use super::{DEFAULT_OUTPUT_STREAMS_MAX_LENGTH, MAX_EXECUTION_TIMEOUT};
use crate::api_version::{ApiFamily, ApiVersion};
use crate::error::Error;
use crate::session::Session;

/// Options for one execution. Await it directly, or call [`ExecuteBuilder::send`].
#[derive(Debug)]
#[must_use = "an execution does nothing until it is awaited"]
pub struct ExecuteBuilder {
    session: Session,
    code: String,
    timeout: Option<Duration>,
    operation_id: Option<String>,
    asynchronous: bool,
    poll_interval: Duration,
    output_streams_max_length: Option<u32>,
    use_empty_kernel: Option<bool>,
    jupyter_format: Option<(bool, JupyterFlag)>,
}

/// How the Jupyter-format flag is spelled on the wire. The swagger and most published examples say
/// `returnJupyterFormatExecutionResult`; the examples in the TypeSpec sources say `returnJupyterFormat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum JupyterFlag {
    /// `returnJupyterFormatExecutionResult` (the swagger's name; the default).
    #[default]
    ReturnJupyterFormatExecutionResult,
    /// `returnJupyterFormat`.
    ReturnJupyterFormat,
}

impl JupyterFlag {
    fn field(self) -> &'static str {
        match self {
            JupyterFlag::ReturnJupyterFormatExecutionResult => "returnJupyterFormatExecutionResult",
            JupyterFlag::ReturnJupyterFormat => "returnJupyterFormat",
        }
    }
}

impl ExecuteBuilder {
    pub(crate) fn new(session: Session, code: String) -> Self {
        ExecuteBuilder {
            session,
            code,
            timeout: None,
            operation_id: None,
            asynchronous: false,
            poll_interval: Duration::from_millis(250),
            output_streams_max_length: None,
            use_empty_kernel: None,
            jupyter_format: None,
        }
    }

    /// The execution time limit sent as `timeoutInSeconds` (whole seconds, 1–220; default: the client's).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// A client-chosen execution id, sent as the `operation-id` header (current family).
    pub fn operation_id(mut self, id: impl Into<String>) -> Self {
        self.operation_id = Some(id.into());
        self
    }

    /// Submit as an asynchronous execution and poll `executions/{id}` until it finishes (current family
    /// only). Long runs then do not hold one HTTP request open.
    pub fn asynchronous(mut self) -> Self {
        self.asynchronous = true;
        self
    }

    /// The first polling interval of an asynchronous execution (default 250 ms; grows to 2 s).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// `outputStreamsMaxLength`: the most characters of stdout and of stderr the service returns
    /// (2025-10-02-preview and later). Without it the service cuts each stream at 4,096 characters, silently;
    /// [`Execution::output_may_be_truncated`] tells when that may have happened.
    pub fn output_streams_max_length(mut self, characters: u32) -> Self {
        self.output_streams_max_length = Some(characters);
        self
    }

    /// `useEmptyKernel`: run in a kernel without the preloaded libraries (2025-10-02-preview and later).
    pub fn use_empty_kernel(mut self, empty: bool) -> Self {
        self.use_empty_kernel = Some(empty);
        self
    }

    /// `returnJupyterFormatExecutionResult`: the result of a primitive value (bool, int, float, str, None)
    /// comes back as Jupyter shows it, a string such as `'nan'` (quotes included) or `nan`, or null for
    /// `None` (2025-10-02-preview and later). Without it the result keeps its JSON type.
    pub fn jupyter_format(self, jupyter: bool) -> Self {
        self.jupyter_format_as(jupyter, JupyterFlag::default())
    }

    /// [`ExecuteBuilder::jupyter_format`] with the flag spelled `spelling` on the wire.
    pub fn jupyter_format_as(mut self, jupyter: bool, spelling: JupyterFlag) -> Self {
        self.jupyter_format = Some((jupyter, spelling));
        self
    }

    /// Runs the code.
    ///
    /// Returns `Ok` with [`ExecutionStatus::Failed`](super::ExecutionStatus::Failed) when the code raised
    /// (a Python exception, a JavaScript error); `Err` only when the call itself failed. The request is repeated only if it provably never
    /// reached the service, so code never runs twice.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for empty code, a timeout outside 1–220 s, an asynchronous execution on a
    /// legacy api-version, or an option the api-version does not have; [`Error::Timeout`] when no answer came
    /// within the limit (the code may have run); [`Error::PoolFull`] when no session can be allocated; auth,
    /// service and transport errors.
    pub async fn send(self) -> Result<Execution, Error> {
        let t = &self.session.client.transport;
        let version = &t.api_version;
        let limit = self.timeout.unwrap_or(t.execution_timeout);
        validate(&self.code, limit)?;
        if self.asynchronous && version.family() == ApiFamily::Legacy {
            return Err(needs(version, ApiVersion::V2024_10_02_PREVIEW, "asynchronous execution"));
        }
        let options = self.options_json()?;
        let seconds = limit.as_secs().max(1);
        let deadline = Instant::now() + limit + t.execution_grace;
        let operation_id = match (&self.operation_id, self.asynchronous) {
            (Some(id), _) => Some(id.clone()),
            (None, true) => Some(uuid::Uuid::new_v4().to_string()),
            (None, false) => None,
        };
        let execution_type = if self.asynchronous { "Asynchronous" } else { "Synchronous" };
        let mut flat = json!({
            "codeInputType": "Inline",
            "executionType": execution_type,
            "code": self.code,
            "timeoutInSeconds": seconds,
        });
        if let Some(body) = flat.as_object_mut() {
            body.extend(options);
        }
        let answer = match version.family() {
            ApiFamily::Legacy => {
                let wrapped = json!({"properties": {
                    "codeInputType": "inline",
                    "executionType": "synchronous",
                    "code": self.code,
                    "timeoutInSeconds": seconds,
                }});
                match submit::post(&self.session, &["code", "execute"], &wrapped, None, limit).await {
                    // `SessionPropertiesMissing` means "send it flat" (a 400: the code did not run, so sending
                    // it again is safe). The reverse never helps: a flat body is never re-sent wrapped.
                    Err(e) if is_properties_missing(&e) => {
                        tracing::debug!("the pool wants a flat body (SessionPropertiesMissing); resending flat");
                        submit::post(&self.session, &["code", "execute"], &flat, None, limit).await?
                    }
                    other => other?,
                }
            }
            _ => submit::post(&self.session, &["executions"], &flat, operation_id.as_deref(), limit).await?,
        };
        let mut execution = checked(&answer.body)?;
        execution.id = execution.id.or(answer.operation_id).or(operation_id);
        if !execution.status.is_terminal() {
            let exec_id = execution.id.clone().ok_or_else(|| Error::Decode {
                operation: "execute",
                message: format!("the execution is {} but the service sent no id to poll", execution.status),
                body_snippet: String::new(),
            })?;
            let after = limit + t.execution_grace;
            let done = |v: &Value| checked(v).map(|e| e.status.is_terminal());
            let finished = submit::poll(&self.session, &exec_id, self.poll_interval, deadline, after, done).await?;
            execution = checked(&finished)?;
            execution.id.get_or_insert(exec_id);
        }
        execution.output_limit = self.output_limit(version);
        Ok(execution)
    }

    /// The options of 2025-10-02-preview that were set, as body fields; refused on older versions (silently
    /// dropping them would make code behave differently from what the caller asked).
    fn options_json(&self) -> Result<Map<String, Value>, Error> {
        let version = &self.session.client.transport.api_version;
        let mut fields = Map::new();
        let jupyter = self.jupyter_format.map(|(on, spelling)| (spelling.field(), Value::from(on)));
        let options = [
            ("outputStreamsMaxLength", self.output_streams_max_length.map(Value::from)),
            ("useEmptyKernel", self.use_empty_kernel.map(Value::from)),
            jupyter.map(|(field, on)| (field, Some(on))).unwrap_or(("returnJupyterFormatExecutionResult", None)),
        ];
        for (name, value) in options {
            if let Some(value) = value {
                if !version.has_execution_options() {
                    return Err(needs(version, ApiVersion::V2025_10_02_PREVIEW, name));
                }
                fields.insert(name.to_owned(), value);
            }
        }
        Ok(fields)
    }

    fn output_limit(&self, version: &ApiVersion) -> Option<usize> {
        match self.output_streams_max_length {
            Some(n) => Some(n as usize),
            None => version.has_execution_options().then_some(DEFAULT_OUTPUT_STREAMS_MAX_LENGTH),
        }
    }
}

/// "`what` needs api-version `from` or later".
pub(crate) fn needs(version: &ApiVersion, from: &str, what: &str) -> Error {
    Error::invalid(format!("{what} needs api-version {from} or later; this client uses {version}"))
}

/// Reads an execution, refusing an answer without a status (it would look like neither success nor failure).
pub(crate) fn checked(v: &Value) -> Result<Execution, Error> {
    let execution = Execution::from_json(v);
    if execution.status == ExecutionStatus::Other(String::new()) {
        return Err(Error::Decode {
            operation: "execute",
            message: "the answer has no execution status".to_owned(),
            body_snippet: v.to_string().chars().take(256).collect(),
        });
    }
    Ok(execution)
}

fn validate(code: &str, limit: Duration) -> Result<(), Error> {
    if code.trim().is_empty() {
        return Err(Error::invalid("there is no code to execute (the code is empty)"));
    }
    if limit.is_zero() || limit > MAX_EXECUTION_TIMEOUT {
        return Err(Error::invalid(format!(
            "execution timeout {limit:?} is outside 1-220 s; the service stops every execution after 220 seconds, \
             so split long work into several executions (state persists between them)"
        )));
    }
    Ok(())
}

impl IntoFuture for ExecuteBuilder {
    type Output = Result<Execution, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}
