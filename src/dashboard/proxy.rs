//! `sidegate dashboard`: the `/ui` page on a loopback TCP port for a host whose daemon has no
//! TCP listener. Each `GET /ui...` is forwarded over the daemon's Unix socket (so the daemon
//! sees the peer credentials of the user running this command, and applies its caller check to
//! them); nothing else is forwarded: the proxy is read-only, and refuses a non-loopback `Host`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, UnixStream};

/// Why the dashboard could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("--listen {0}: the dashboard listens on a loopback address only")]
    NotLoopback(SocketAddr),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// The headers of a daemon answer that are passed on to the browser.
const PASSED: [&str; 6] = [
    "content-type",
    "content-security-policy",
    "x-content-type-options",
    "referrer-policy",
    "cache-control",
    "x-sidegate-request-id",
];

/// Listens on `addr` (loopback) and forwards `/ui` requests to the daemon at `socket` until
/// the process is stopped.
pub async fn serve(addr: SocketAddr, socket: PathBuf) -> Result<(), ProxyError> {
    let listener = bind(addr).await?;
    let local = listener.local_addr().unwrap_or(addr);
    println!("sidegate dashboard: http://{local}/ui (from {})", socket.display());
    run(listener, socket).await;
    Ok(())
}

/// Binds `addr`, refusing anything but loopback.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ProxyError> {
    if !addr.ip().is_loopback() {
        return Err(ProxyError::NotLoopback(addr));
    }
    TcpListener::bind(addr).await.map_err(|source| ProxyError::Listen { addr, source })
}

/// Serves connections on `listener` forever.
pub async fn run(listener: TcpListener, socket: PathBuf) {
    let socket: std::sync::Arc<Path> = socket.into();
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed on the dashboard port");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let socket = socket.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let socket = socket.clone();
                async move { Ok::<_, Infallible>(forward(req, &socket).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
        });
    }
}

fn text(status: StatusCode, msg: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(msg)));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

/// One browser request: checked, then asked of the daemon over the socket.
async fn forward(req: Request<Incoming>, socket: &Path) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if path == "/" {
        let mut r = text(StatusCode::FOUND, "see /ui\n".into());
        r.headers_mut().insert("location", HeaderValue::from_static("/ui"));
        return r;
    }
    if !(path == "/ui" || path.starts_with("/ui/")) {
        return text(StatusCode::NOT_FOUND, format!("{path}: only /ui is served here\n"));
    }
    if req.method() != Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "the dashboard is read-only: GET only\n".into());
    }
    let host = req.headers().get(HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    if !super::host_is_loopback(host) {
        return text(StatusCode::FORBIDDEN, format!("Host `{host}` is not a loopback name\n"));
    }
    let target = req.uri().path_and_query().map_or(path.to_string(), |p| p.as_str().to_string());
    match ask_daemon(socket, &target).await {
        Ok(r) => r,
        Err(e) => text(StatusCode::BAD_GATEWAY, format!("cannot reach the daemon at {}: {e}\n", socket.display())),
    }
}

/// `GET target` over the socket, one connection per request; the answer read whole (the
/// dashboard's answers are small).
async fn ask_daemon(socket: &Path, target: &str) -> Result<Response<Full<Bytes>>, Box<dyn std::error::Error>> {
    let stream = UnixStream::connect(socket).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = Request::get(target).header(HOST, "localhost").body(Empty::<Bytes>::new())?;
    let answer = sender.send_request(req).await?;
    let (parts, body) = answer.into_parts();
    let bytes = body.collect().await?.to_bytes();
    let mut r = Response::new(Full::new(bytes));
    *r.status_mut() = parts.status;
    for name in PASSED {
        if let Some(v) = parts.headers.get(name) {
            r.headers_mut().insert(name, v.clone());
        }
    }
    Ok(r)
}
