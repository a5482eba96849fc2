//! Fault modes: RBAC denying everything (403 Forbidden) and an API server that is gone
//! (ECONNREFUSED), and the serving generations that make the latter possible on one port.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::http::Method;
use serde_json::{json, Map, Value};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::resources::ApiError;

/// What the server does to requests; see [`super::FakeApiServer::set_fault`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fault {
    /// Serves normally.
    #[default]
    None,
    /// Every request is 403 Forbidden (a `Status` as RBAC denies it); open watches end.
    Forbidden,
    /// Nothing listens on the port (ECONNREFUSED); open connections and watches are cut.
    Refuse,
}

/// The user named in 403 messages: the chart's ServiceAccount.
pub const FORBIDDEN_USER: &str = "system:serviceaccount:bccreds:bccreds";

/// How long [`rebind`] retries when the port is briefly taken.
const REBIND_FOR: Duration = Duration::from_secs(5);

/// The 403 Kubernetes answers when RBAC denies a request, worded as the API server's
/// `forbiddenMessage` and `NewForbidden` word it.
pub fn forbidden(method: &Method, path: &str, watch: bool) -> ApiError {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let rest = match segs.as_slice() {
        ["api", _version, rest @ ..] => Some(("", rest)),
        ["apis", group, _version, rest @ ..] => Some((*group, rest)),
        _ => None,
    };
    let info = rest.and_then(|(group, rest)| {
        let (namespace, rest) = match rest {
            ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(*ns), rest),
            _ => (None, rest),
        };
        let (resource, name, sub) = match rest {
            [resource] => (*resource, None, None),
            [resource, name] => (*resource, Some(*name), None),
            [resource, name, sub, ..] => (*resource, Some(*name), Some(*sub)),
            _ => return None,
        };
        // The namespace of a Namespace is itself.
        let namespace = namespace.or(name.filter(|_| resource == "namespaces"));
        Some((group, namespace, resource, name, sub))
    });
    let user = FORBIDDEN_USER;
    let Some((group, namespace, resource, name, sub)) = info else {
        let verb = method.as_str().to_lowercase();
        let mut err = ApiError::new(
            403,
            "Forbidden",
            format!("forbidden: User \"{user}\" cannot {verb} path \"{path}\""),
        );
        err.details = Some(json!({}));
        return err;
    };
    let verb = match *method {
        Method::GET | Method::HEAD if watch => "watch",
        Method::GET | Method::HEAD if name.is_some() => "get",
        Method::GET | Method::HEAD => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if name.is_some() => "delete",
        Method::DELETE => "deletecollection",
        _ => "unknown",
    };
    let full = match sub {
        Some(sub) => format!("{resource}/{sub}"),
        None => resource.to_string(),
    };
    let scope = match namespace {
        Some(ns) => format!("in the namespace \"{ns}\""),
        None => "at the cluster scope".to_string(),
    };
    let qualified = if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    };
    let subject = match name {
        Some(name) => format!("{qualified} \"{name}\""),
        None => qualified,
    };
    let mut details = Map::new();
    if let Some(name) = name {
        details.insert("name".into(), json!(name));
    }
    if !group.is_empty() {
        details.insert("group".into(), json!(group));
    }
    details.insert("kind".into(), json!(resource));
    let mut err = ApiError::new(
        403,
        "Forbidden",
        format!(
            "{subject} is forbidden: User \"{user}\" cannot {verb} resource \"{full}\" in API group \"{group}\" {scope}"
        ),
    );
    err.details = Some(Value::Object(details));
    err
}

/// `http://127.0.0.1:PORT` for a port nothing listens on (it was free a moment ago).
pub fn refused_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    drop(listener);
    format!("http://{addr}")
}

/// A listening socket on `addr`, with SO_REUSEADDR as `TcpListener::bind` sets it, so that
/// the port can be listened on again while connections closed by a previous listener linger
/// in TIME_WAIT. Needs a tokio runtime.
pub fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// [`listen`] on a port that was served before, retrying for a while if something else
/// holds it for a moment.
pub fn rebind(addr: SocketAddr) -> TcpListener {
    let deadline = Instant::now() + REBIND_FOR;
    loop {
        match listen(addr) {
            Ok(listener) => return listener,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("listening on {addr} again: {e}"),
        }
    }
}

/// One listening socket and the connections accepted on it, served by axum in a task.
pub struct Generation {
    listener: Arc<Mutex<Option<TcpListener>>>,
    kill: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Generation {
    pub fn serve(listener: TcpListener, app: axum::Router) -> Generation {
        let addr = listener.local_addr().expect("local address");
        let slot = Arc::new(Mutex::new(Some(listener)));
        let kill = watch::channel(false).0;
        let listener = Killable {
            slot: slot.clone(),
            kill: kill.subscribe(),
            addr,
        };
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serving");
        });
        Generation {
            listener: slot,
            kill,
            task,
        }
    }

    /// Closes the listening socket now (new connections are refused) and lets the open
    /// connections finish their requests, as a graceful stop does.
    pub fn close(&self) {
        drop(
            self.listener
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
        // Aborting the accept loop drops axum's shutdown receiver: connections finish the
        // request in flight (a watch, until it ends) and close.
        self.task.abort();
    }

    /// Closes the listening socket now and cuts every open connection, as a crashed or
    /// partitioned API server does.
    pub fn kill(&self) {
        self.close();
        self.kill.send_replace(true);
    }
}

/// axum's listener for one generation: the socket can be taken away from outside.
struct Killable {
    slot: Arc<Mutex<Option<TcpListener>>>,
    kill: watch::Receiver<bool>,
    addr: SocketAddr,
}

impl axum::serve::Listener for Killable {
    type Io = KillableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (KillableStream, SocketAddr) {
        loop {
            let accepted = std::future::poll_fn(|cx| {
                match self.slot.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                    Some(listener) => listener.poll_accept(cx),
                    // Closed: the task is being aborted.
                    None => Poll::Pending,
                }
            })
            .await;
            match accepted {
                Ok((stream, addr)) => {
                    return (KillableStream::new(stream, self.kill.clone()), addr)
                }
                // A connection reset before it was accepted, or out of descriptors.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }
}

/// An accepted connection that fails every read and write once its generation is killed,
/// so that hyper drops it and the socket closes.
pub struct KillableStream {
    inner: TcpStream,
    killed: Pin<Box<dyn Future<Output = ()> + Send>>,
    dead: bool,
}

impl KillableStream {
    fn new(inner: TcpStream, mut kill: watch::Receiver<bool>) -> KillableStream {
        let killed = Box::pin(async move {
            if kill.wait_for(|killed| *killed).await.is_err() {
                // The generation is gone without a kill: never.
                std::future::pending::<()>().await;
            }
        });
        KillableStream {
            inner,
            killed,
            dead: false,
        }
    }

    /// An error once killed; registers the task to be woken by the kill otherwise.
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if !self.dead && self.killed.as_mut().poll(cx).is_ready() {
            self.dead = true;
        }
        if self.dead {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the fake API server refuses connections",
            ));
        }
        Ok(())
    }
}

impl AsyncRead for KillableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Err(e) = this.check(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Err(e) = this.check(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Err(e) = this.check(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Err(e) = this.check(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
