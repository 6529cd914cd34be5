//! Unix socket plumbing (interprocess): binding with the file mode set before `bind()` (no
//! umask race), refusing to steal a live daemon's socket, replacing a stale one, and
//! connecting as a client. The rest of the crate sees only these wrappers.

use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use interprocess::local_socket::traits::tokio::Listener as _;
use interprocess::local_socket::{ConnectOptions, GenericFilePath, ListenerOptions, ToFsName};
use interprocess::os::unix::local_socket::ListenerOptionsExt;

pub use interprocess::os::unix::uds_local_socket::tokio::{Listener as UdsListener, Stream as UdsStream};

/// Binds `path` with `mode`. Creates the parent directory; replaces a socket file left by a
/// crashed daemon; refuses (AddrInUse) when a live daemon answers on it.
pub async fn bind(path: &Path, mode: u32) -> io::Result<UdsListener> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
        && !dir.exists()
    {
        std::fs::create_dir_all(dir)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if connect(path).await.is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("another sidegate is already listening on {}", path.display()),
                ));
            }
            std::fs::remove_file(path)?;
        }
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket; not replacing it", path.display()),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let name = path.to_fs_name::<GenericFilePath>()?;
    let listener = ListenerOptions::new()
        .name(name)
        .mode(mode as libc_mode::Mode)
        .reclaim_name(true)
        .create_tokio_as::<UdsListener>()?;
    // The pre-bind fchmod is still filtered by the umask on Linux; set the exact mode now.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(listener)
}

/// Accepts one connection.
pub async fn accept(l: &UdsListener) -> io::Result<UdsStream> {
    l.accept().await
}

/// Connects to a daemon's socket.
pub async fn connect(path: &Path) -> io::Result<UdsStream> {
    let name = path.to_fs_name::<GenericFilePath>()?;
    ConnectOptions::new().name(name).connect_tokio_as::<UdsStream>().await
}

mod libc_mode {
    /// `mode_t` on Linux.
    pub type Mode = u32;
}

/// One half of a shared stream: `&UdsStream` reads and writes, so two `Arc` clones make a
/// reader and a writer with no lock. The socket closes when both are dropped.
pub struct Half(std::sync::Arc<UdsStream>);

/// Splits a stream into a read half and a write half.
pub fn split(s: UdsStream) -> (Half, Half) {
    let a = std::sync::Arc::new(s);
    (Half(a.clone()), Half(a))
}

impl tokio::io::AsyncRead for Half {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut &*self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Half {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        std::pin::Pin::new(&mut &*self.0).poll_write(cx, buf)
    }
    fn poll_flush(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut &*self.0).poll_flush(cx)
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut &*self.0).poll_shutdown(cx)
    }
}
