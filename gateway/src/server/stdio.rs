//! `auditgate serve --stdio`: newline-delimited JSON-RPC on stdin/stdout, one session for the
//! life of the process. stdout carries only MCP messages (logs go to stderr). Requests after
//! `initialize` run concurrently; `initialize` itself is handled before the next line is read,
//! so `session.open` precedes every entry of the session. EOF or SIGINT/SIGTERM: in-flight calls
//! finish, then `session.close` and `gateway.stop` are recorded. A live reload that changed the
//! catalog or the policy is announced with `notifications/tools/list_changed`.
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::Gateway;
use super::session::{Session, Transport, new_session_id};
use crate::enforcement::Progress;
use crate::mcp::jsonrpc::{ErrorObject, Frame, Message, code};
use crate::principal::Principal;

/// Why the stdio loop ended abnormally.
#[derive(Debug, thiserror::Error)]
pub enum StdioError {
    #[error("reading stdin: {0}")]
    Read(std::io::Error),
    #[error(transparent)]
    Start(#[from] crate::audit::AuditError),
    #[error("no session id: {0}")]
    Random(std::io::Error),
}

/// How the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Eof,
    Signal,
}

/// Runs one stdio session until EOF or `stop` resolves.
pub async fn serve<R, W>(
    gateway: Arc<Gateway>,
    principal: Principal,
    input: R,
    output: W,
    stop: impl std::future::Future<Output = ()>,
) -> Result<StopReason, StdioError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    gateway.record_start("stdio", "stdio").await?;
    let session = Arc::new(Session::new(
        new_session_id().map_err(StdioError::Random)?,
        principal,
        Transport::Stdio,
        None,
        gateway.server_info.clone(),
    ));
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    let writer = tokio::spawn(async move {
        let mut output = output;
        while let Some(message) = rx.recv().await {
            let mut line = message.to_bytes();
            line.push(b'\n');
            if output.write_all(&line).await.is_err() || output.flush().await.is_err() {
                // The client went away; keep draining so senders never block.
                continue;
            }
        }
    });
    let notices = tell_of_changes(&gateway, &session, tx.clone());
    let limit = gateway.config.server.max_body_bytes;
    let mut reader = BufReader::new(input);
    let mut tasks = JoinSet::new();
    let mut line = Vec::new();
    let mut overlong = false;
    tokio::pin!(stop);
    let reason = loop {
        let chunk = tokio::select! {
            biased;
            () = &mut stop => break StopReason::Signal,
            chunk = reader.fill_buf() => chunk.map_err(StdioError::Read)?,
        };
        if chunk.is_empty() {
            break StopReason::Eof;
        }
        let (take, complete) = match chunk.iter().position(|&b| b == b'\n') {
            Some(pos) => (pos, true),
            None => (chunk.len(), false),
        };
        if line.len() + take > limit {
            overlong = true;
        } else {
            line.extend_from_slice(&chunk[..take]);
        }
        reader.consume(take + usize::from(complete));
        if !complete {
            continue;
        }
        let raw = std::mem::take(&mut line);
        if std::mem::take(&mut overlong) {
            let error = ErrorObject::new(
                code::INVALID_REQUEST,
                format!("Invalid Request: message longer than {limit} bytes"),
            );
            let reply = gateway
                .refuse(Some(&session), &session.principal, &[], None, None, error)
                .await;
            let _ = tx.send(reply);
            continue;
        }
        let raw = trim_line(raw);
        if raw.is_empty() {
            continue;
        }
        let frame = match Frame::parse(raw.as_slice()) {
            Ok(f) => f,
            Err(e) => {
                tracing::debug!(error = %e, "stdio: not a JSON-RPC message");
                let reply = gateway
                    .refuse_frame(Some(&session), &session.principal, &raw, &e)
                    .await;
                let _ = tx.send(reply);
                continue;
            }
        };
        let (raw, message) = frame.into_parts();
        if message.method() == Some("initialize") {
            if let Some(reply) = gateway.handle(&session, &raw, message, None).await {
                let _ = tx.send(reply);
            }
            continue;
        }
        let progress = message.progress_token().cloned().map(|token| Progress {
            token,
            sink: tx.clone(),
        });
        let (gateway, session, tx) = (gateway.clone(), session.clone(), tx.clone());
        tasks.spawn(async move {
            if let Some(reply) = gateway.handle(&session, &raw, message, progress).await {
                let _ = tx.send(reply);
            }
        });
        // Reap finished tasks so the set stays small on long sessions.
        while tasks.try_join_next().is_some() {}
    };
    // The client is gone (EOF) or the gateway stops: nothing may wait for a human any longer.
    let expiry = match reason {
        StopReason::Eof => "session_closed",
        StopReason::Signal => "gateway_shutdown",
    };
    gateway
        .enforcer
        .approvals
        .expire_where(Some(&session.id), expiry)
        .await;
    while tasks.join_next().await.is_some() {}
    let close = match reason {
        StopReason::Eof => "eof",
        StopReason::Signal => "shutdown",
    };
    gateway.close_session(&session, close).await;
    let stop = match reason {
        StopReason::Eof => "eof",
        StopReason::Signal => "signal",
    };
    gateway
        .record_stop(stop, u64::from(session.is_open()))
        .await;
    notices.abort();
    drop(tx);
    let _ = writer.await;
    Ok(reason)
}

/// Sends `notifications/tools/list_changed` to the session after each reload that changed the
/// catalog or the policy (once the session is ready).
fn tell_of_changes(
    gateway: &Gateway,
    session: &Arc<Session>,
    tx: mpsc::UnboundedSender<Message>,
) -> tokio::task::JoinHandle<()> {
    let mut changes = gateway.reload.subscribe();
    let session = session.clone();
    tokio::spawn(async move {
        while changes.changed().await.is_ok() {
            let generation = *changes.borrow_and_update();
            if session.claim_notice(generation) {
                let _ = tx.send(crate::mcp::lifecycle::list_changed());
            }
        }
    })
}

/// Drops a trailing `\r` and surrounding ASCII whitespace.
fn trim_line(mut raw: Vec<u8>) -> Vec<u8> {
    while raw.last().is_some_and(u8::is_ascii_whitespace) {
        raw.pop();
    }
    let start = raw.iter().take_while(|b| b.is_ascii_whitespace()).count();
    raw.drain(..start);
    raw
}
