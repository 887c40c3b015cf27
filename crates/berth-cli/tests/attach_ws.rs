//! `GET /containers/{id}/attach/ws` with a real WebSocket client: stdin in
//! messages, output raw (never multiplexed) in binary frames, text frames
//! for API versions before 1.28, the log replay, and Docker's errors.
//! Needs root, overlayfs and busybox-static.

mod common;

use common::Daemon;
use futures_util::{SinkExt, StreamExt};
use tokio::net::UnixStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

type Socket = WebSocketStream<UnixStream>;

async fn connect(d: &Daemon, path: &str) -> Socket {
    let unix = UnixStream::connect(d.sock_path()).await.unwrap();
    let (ws, resp) = tokio_tungstenite::client_async(format!("ws://localhost{path}"), unix)
        .await
        .unwrap_or_else(|e| panic!("websocket handshake for {path}: {e}"));
    assert_eq!(resp.status(), 101);
    ws
}

/// Every data message until the server closes, with whether all were
/// binary frames.
async fn read_all(ws: &mut Socket) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut binary = true;
    while let Some(msg) = ws.next().await {
        match msg {
            Ok(Message::Binary(b)) => out.extend_from_slice(&b),
            Ok(Message::Text(t)) => {
                binary = false;
                out.extend_from_slice(t.as_bytes());
            }
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    (out, binary)
}

/// Data messages until `want` has been read (or the server closed).
async fn read_until(ws: &mut Socket, want: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while !out.windows(want.len()).any(|w| w == want) {
        match ws.next().await {
            Some(Ok(Message::Binary(b))) => out.extend_from_slice(&b),
            Some(Ok(Message::Text(t))) => out.extend_from_slice(t.as_bytes()),
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
            Some(Ok(_)) => {}
        }
    }
    out
}

#[test]
fn websocket_attach_carries_stdin_and_raw_output() {
    let d = Daemon::start("attachws");
    d.busybox();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    // Live: stdin goes in, stdout and stderr come out raw, without the
    // 8-byte stdcopy headers a hijacked attach of a non-TTY gets.
    d.ok(&[
        "run",
        "-d",
        "-i",
        "--name",
        "cat",
        "busybox",
        "sh",
        "-c",
        "while read l; do echo \"out:$l\"; echo \"err:$l\" >&2; done",
    ]);
    rt.block_on(async {
        let path = "/v1.47/containers/cat/attach/ws?stream=1&stdin=1&stdout=1&stderr=1";
        let mut ws = connect(&d, path).await;
        ws.send(Message::text("hello\n")).await.unwrap();
        let got = read_until(&mut ws, b"err:hello\n").await;
        let got = String::from_utf8_lossy(&got);
        assert!(got.contains("out:hello\n"), "{got:?}");
        assert!(got.contains("err:hello\n"), "{got:?}");
        ws.send(Message::binary(b"again\n".to_vec())).await.unwrap();
        let got = read_until(&mut ws, b"out:again\n").await;
        assert!(String::from_utf8_lossy(&got).contains("out:again\n"));
        ws.close(None).await.unwrap();
    });
    // Like a hijacked attach, closing the socket leaves a container whose
    // stdin is not `StdinOnce` (`run -d -i`) running.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Running}}", "cat"]),
        "true\n"
    );
    d.ok(&["rm", "-f", "cat"]);

    // The log replay of an exited container (no `stream`: that would wait
    // for a start, as a hijacked attach does), then the socket closes; binary
    // frames from API 1.28 on, text frames for older clients.
    d.ok(&[
        "run",
        "--name",
        "done",
        "busybox",
        "sh",
        "-c",
        "echo one; echo two >&2",
    ]);
    rt.block_on(async {
        let q = "logs=1&stdout=1&stderr=1";
        let mut ws = connect(&d, &format!("/v1.47/containers/done/attach/ws?{q}")).await;
        let (out, binary) = read_all(&mut ws).await;
        assert_eq!(String::from_utf8_lossy(&out), "one\ntwo\n");
        assert!(binary);
        let mut ws = connect(&d, &format!("/v1.27/containers/done/attach/ws?{q}")).await;
        let (out, binary) = read_all(&mut ws).await;
        assert_eq!(String::from_utf8_lossy(&out), "one\ntwo\n");
        assert!(!binary);
        let mut ws = connect(&d, "/containers/done/attach/ws?logs=1&stdout=1").await;
        assert_eq!(read_all(&mut ws).await.0, b"one\n");
    });

    // An unknown container is Docker's 404, a request without the
    // WebSocket handshake a 400.
    let (code, body) = d.api("GET", "/v1.47/containers/nosuch/attach/ws", "");
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("No such container: nosuch"), "{body}");
    let (code, _) = d.api("GET", "/v1.47/containers/done/attach/ws", "");
    assert_eq!(code, 400);
}
