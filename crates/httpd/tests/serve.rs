//! The serving loop over real sockets: slow and idle clients are dropped, the connection cap
//! answers 503, shutdown is bounded, and hyper's own error answers are JSON.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use comet_httpd::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

async fn start(limits: Limits) -> Server {
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(120)).await;
                "late"
            }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(comet_httpd::serve(listener, app, limits, async {
        let _ = stopped.await;
    }));
    Server {
        addr,
        stop: Some(stop),
        task,
    }
}

fn limits(header_ms: u64, max_connections: usize, drain_ms: u64) -> Limits {
    Limits {
        header_timeout: Duration::from_millis(header_ms),
        max_connections,
        drain_timeout: Duration::from_millis(drain_ms),
    }
}

/// Everything the server sends until it closes (or 20 s pass, which fails the caller's checks).
async fn read_all(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

async fn get_health(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /health HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await
        .expect("write");
    read_all(&mut s).await
}

#[tokio::test]
async fn a_slowloris_client_and_an_idle_connection_are_closed() {
    let server = start(limits(300, 100, 1000)).await;
    // Headers trickled a byte at a time, never finished.
    let mut slow = TcpStream::connect(server.addr).await.expect("connect");
    let trickle = async {
        for b in b"GET /health HTTP/1.1\r\nX-a: " {
            if slow.write_all(&[*b]).await.is_err() {
                return true; // closed by the server
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut buf = [0u8; 64];
        matches!(
            tokio::time::timeout(Duration::from_secs(20), slow.read(&mut buf)).await,
            Ok(Ok(0) | Err(_))
        )
    };
    assert!(trickle.await, "the slow client was not disconnected");

    // A keep-alive connection that sends nothing after its first request.
    let mut idle = TcpStream::connect(server.addr).await.expect("connect");
    idle.write_all(b"GET /health HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .expect("write");
    let reply = read_all(&mut idle).await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    // read_all returned: the server closed the idle connection (else it would be empty after 20 s
    // of waiting and the assertion below would still see the one reply, so check the socket too).
    let mut buf = [0u8; 1];
    let closed = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut buf)).await;
    assert!(
        matches!(closed, Ok(Ok(0) | Err(_))),
        "idle connection left open"
    );
    assert!(get_health(server.addr).await.contains("ok"));
}

#[tokio::test]
async fn connections_over_the_cap_get_a_json_503_and_others_are_served_after() {
    let server = start(limits(2000, 3, 1000)).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(server.addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = get_health(server.addr).await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains("application/json") && refused.contains("too many open connections"));
    drop(held);
    // Their slots come back as the server sees them close.
    let mut answer = String::new();
    for _ in 0..100 {
        answer = get_health(server.addr).await;
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Hundreds of idle sockets under a larger cap do not keep /health from answering.
    let server = start(limits(30_000, 1000, 1000)).await;
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(TcpStream::connect(server.addr).await.expect("connect"));
    }
    assert!(get_health(server.addr).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn shutdown_waits_for_a_request_in_flight_only_as_long_as_the_drain_timeout() {
    let mut server = start(limits(30_000, 100, 300)).await;
    let mut busy = TcpStream::connect(server.addr).await.expect("connect");
    busy.write_all(b"GET /slow HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .expect("write");
    // And a half-open request, its headers unfinished.
    let mut half = TcpStream::connect(server.addr).await.expect("connect");
    half.write_all(b"POST /health HTTP/1.1\r\nhost: loc")
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let asked = Instant::now();
    let _ = server.stop.take().expect("stop").send(());
    let finished = tokio::time::timeout(Duration::from_secs(20), server.task).await;
    assert!(
        matches!(finished, Ok(Ok(Ok(())))),
        "serve did not return after the drain timeout"
    );
    assert!(asked.elapsed() < Duration::from_secs(20));
    let mut buf = [0u8; 16];
    assert!(matches!(busy.read(&mut buf).await, Ok(0) | Err(_)));
}

#[tokio::test]
async fn requests_hyper_refuses_are_answered_in_json() {
    let server = start(Limits::default()).await;
    let cases: [(Vec<u8>, &str); 3] = [
        (
            format!(
                "GET /health HTTP/1.1\r\nhost: localhost\r\nx-big: {}\r\n\r\n",
                "a".repeat(512 * 1024)
            )
            .into_bytes(),
            "431",
        ),
        (
            format!(
                "GET /{} HTTP/1.1\r\nhost: localhost\r\n\r\n",
                "a".repeat(70_000)
            )
            .into_bytes(),
            "414",
        ),
        (b"GARBAGE\x01 / HTTP/1.1\r\n\r\n".to_vec(), "400"),
    ];
    for (request, status) in cases {
        let mut s = TcpStream::connect(server.addr).await.expect("connect");
        let _ = s.write_all(&request).await;
        let reply = read_all(&mut s).await;
        assert!(
            reply.starts_with(&format!("HTTP/1.1 {status}")),
            "{status}: {reply}"
        );
        let (_, body) = reply.split_once("\r\n\r\n").expect("a head");
        let json: serde_json::Value = serde_json::from_str(body).expect("a JSON body");
        assert!(
            json["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{reply}"
        );
    }
}
