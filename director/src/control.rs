//! The control API: HTTP/1.1 + JSON over a Unix socket (mode 0660), and its client.
//!
//! Endpoints (v1):
//! - `GET /healthz`
//! - `GET /api/v1/status`, `GET /api/v1/jobs`
//! - `POST /api/v1/jobs/{id}/run` with `{"wait": bool, "dry_run": bool}`
//! - `POST /api/v1/run` (every job of the instance, like SIGHUP)
//! - `GET /api/v1/runs?job=&limit=`, `GET /api/v1/runs/{id}`, `GET /api/v1/runs/{id}/log`
//! - `POST /api/v1/runs/{id}/cancel`, `GET /api/v1/locks` (lock files held now)
//! - `POST /api/v1/reload`, `POST /api/v1/pause`, `POST /api/v1/resume`

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};
use thiserror::Error;
use tokio::net::{UnixListener, UnixStream};

use crate::admission::{Admission, Trigger};
use crate::http::{self, Request, Response};

/// An error of the control endpoint or client.
#[derive(Debug, Error)]
pub enum ControlError {
    /// The socket could not be created.
    #[error("cannot listen on control socket {path}: {source}")]
    Bind {
        /// The socket path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The daemon could not be reached.
    #[error("cannot reach the director at {path}: {source} (is it running? see --socket/--config)")]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The daemon answered with an error.
    #[error("director answered {status}: {message}")]
    Status {
        /// HTTP status.
        status: u16,
        /// The error message.
        message: String,
    },
}

/// Reloads the configuration; returns a summary or the validation error.
pub type ReloadFn = Arc<dyn Fn() -> Result<String, String> + Send + Sync>;

/// What the control endpoint serves.
#[derive(Clone)]
pub struct ControlContext {
    /// The admission point.
    pub admission: Admission,
    /// Reloads the configuration.
    pub reload: ReloadFn,
}

/// Binds the control socket (replacing a stale one; the pid file guarantees we own the id).
pub fn bind(path: &Path) -> Result<UnixListener, ControlError> {
    let err = |source| ControlError::Bind {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let _ = std::fs::remove_file(path);
    let l = UnixListener::bind(path).map_err(err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(err)?;
    Ok(l)
}

/// Serves requests until the task is dropped.
pub async fn serve(listener: UnixListener, ctx: ControlContext) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!("control accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        if let Ok(cred) = stream.peer_cred() {
            tracing::debug!(
                "control connection from uid {} pid {:?}",
                cred.uid(),
                cred.pid()
            );
        }
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let (rd, wr) = stream.into_split();
            let req = tokio::time::timeout(http::REQUEST_TIMEOUT, http::read_request(rd)).await;
            let resp = match req.unwrap_or_else(|_| Err(std::io::Error::other("request timeout"))) {
                Ok(Some(req)) => handle(&ctx, req).await,
                Ok(None) => return,
                Err(e) => Response::json(400, &json!({"error": e.to_string()})),
            };
            let _ = http::write_response(wr, &resp).await;
        });
    }
}

fn err(status: u16, msg: impl Into<String>) -> Response {
    Response::json(status, &json!({"error": msg.into()}))
}

async fn handle(ctx: &ControlContext, req: Request) -> Response {
    let parts: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    let body: Value = if req.body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&req.body) {
            Ok(v) => v,
            Err(e) => return err(400, format!("invalid JSON body: {e}")),
        }
    };
    let a = &ctx.admission;
    match (req.method.as_str(), parts.as_slice()) {
        ("GET", ["healthz"]) => Response::json(200, &json!({"ok": true})),
        ("GET", ["api", "v1", "status"]) => Response::json(200, &a.status().await),
        ("GET", ["api", "v1", "jobs"]) => {
            let s = a.status().await;
            Response::json(200, &s["jobs"])
        }
        ("GET", ["api", "v1", "jobs", id]) => {
            let s = a.status().await;
            match s["jobs"]
                .as_array()
                .and_then(|j| j.iter().find(|j| j["id"] == *id))
            {
                Some(j) => Response::json(200, j),
                None => err(404, format!("unknown job {id:?}")),
            }
        }
        ("POST", ["api", "v1", "jobs", id, "run"]) => {
            let wait = body["wait"].as_bool().unwrap_or(false);
            let dry = body["dry_run"].as_bool().unwrap_or(false);
            match a.trigger(id, Trigger::Api, dry, wait).await {
                Err(e) if e.starts_with("unknown job") => err(404, e),
                Err(e) => err(409, e),
                Ok((reply, None)) => Response::json(202, &json!(reply)),
                Ok((reply, Some(rx))) => match rx.await {
                    Ok(rec) => Response::json(200, &json!({"trigger": reply, "run": rec})),
                    Err(_) => err(
                        503,
                        "the run was dropped (director stopping or run cancelled while queued)",
                    ),
                },
            }
        }
        ("GET", ["api", "v1", "locks"]) => {
            let s = a.status().await;
            let mut out = Vec::new();
            for j in s["jobs"].as_array().into_iter().flatten() {
                for l in j["locks_held"].as_array().into_iter().flatten() {
                    out.push(json!({"job": j["id"], "run_id": j["run_id"], "lock": l}));
                }
            }
            Response::json(200, &json!(out))
        }
        ("POST", ["api", "v1", "run"]) => {
            let replies = a.trigger_all(Trigger::Api).await;
            Response::json(202, &json!(replies))
        }
        ("GET", ["api", "v1", "runs"]) => {
            let limit = req
                .param("limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(20);
            let runs = a.history(req.param("job").map(str::to_string), limit).await;
            Response::json(200, &json!(runs))
        }
        ("GET", ["api", "v1", "runs", id]) => match a.find(id).await {
            Some((rec, finished)) => {
                Response::json(200, &json!({"finished": finished, "run": rec}))
            }
            None => err(404, format!("unknown run {id:?}")),
        },
        ("GET", ["api", "v1", "runs", id, "log"]) => match a.find(id).await {
            Some((rec, _)) => match rec.log.as_ref().map(std::fs::read) {
                Some(Ok(bytes)) => Response::text(200, bytes),
                Some(Err(e)) => err(404, format!("no log for run {id}: {e}")),
                None => err(404, format!("run {id} has no log (dry run)")),
            },
            None => err(404, format!("unknown run {id:?}")),
        },
        ("POST", ["api", "v1", "runs", id, "cancel"]) => {
            if a.cancel(id).await {
                Response::json(200, &json!({"cancelled": id}))
            } else {
                err(404, format!("run {id:?} is neither running nor queued"))
            }
        }
        ("POST", ["api", "v1", "reload"]) => {
            let f = ctx.reload.clone();
            match tokio::task::spawn_blocking(move || f()).await {
                Ok(Ok(summary)) => {
                    Response::json(200, &json!({"reloaded": true, "summary": summary}))
                }
                Ok(Err(e)) => err(400, format!("reload failed, old configuration kept: {e}")),
                Err(e) => err(500, e.to_string()),
            }
        }
        ("POST", ["api", "v1", "pause"]) => {
            a.set_paused(true);
            Response::json(200, &json!({"paused": true}))
        }
        ("POST", ["api", "v1", "resume"]) => {
            a.set_paused(false);
            Response::json(200, &json!({"paused": false}))
        }
        ("GET" | "POST", _) => err(404, format!("no such endpoint {} {}", req.method, req.path)),
        _ => err(405, "method not allowed"),
    }
}

/// Sends one request to the daemon and returns the JSON (or text) answer.
pub async fn call(
    socket: &Path,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<Vec<u8>, ControlError> {
    let stream = UnixStream::connect(socket)
        .await
        .map_err(|source| ControlError::Connect {
            path: socket.to_path_buf(),
            source,
        })?;
    let body = body.map(|b| serde_json::to_vec(b).unwrap_or_default());
    let (status, out) = http::client_request(stream, method, path, body.as_deref())
        .await
        .map_err(|source| ControlError::Connect {
            path: socket.to_path_buf(),
            source,
        })?;
    if status >= 400 {
        let message = serde_json::from_slice::<Value>(&out)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&out).into_owned());
        return Err(ControlError::Status { status, message });
    }
    Ok(out)
}
