//! The SDP proxy's socket as a test's client: sign in, send, read the next message, and answer
//! the proxy's pings while the test waits for the interviewer (as a real client does: the
//! proxy ends a connection that is silent for 10 s).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long a test waits for the proxy's next message.
const WAIT: Duration = Duration::from_secs(30);

/// A proxy connection signed in with `access_token` for `session`, past `ready`.
pub async fn open_proxy(url: &str, access_token: &str, session: &str) -> Socket {
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    say(
        &mut socket,
        json!({"type": "auth", "access_token": access_token, "session_id": session}),
    )
    .await;
    assert_eq!(next(&mut socket).await, Ok(json!({"type": "ready"})));
    socket
}

pub async fn say(socket: &mut Socket, value: Value) {
    socket.send(Message::text(value.to_string())).await.unwrap();
}

/// Runs `work` while reading the proxy socket, so the proxy's pings get their pongs and a long
/// wait for the interviewer is not silence.
pub async fn answering_pings<T>(
    socket: &mut Socket,
    work: impl std::future::Future<Output = T>,
) -> T {
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => return out,
            frame = socket.next() => match frame {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                other => panic!("the proxy said {other:?} while the call went on"),
            },
        }
    }
}

/// The next JSON message, or the close code.
pub async fn next(socket: &mut Socket) -> Result<Value, u16> {
    loop {
        match tokio::time::timeout(WAIT, socket.next()).await.unwrap() {
            Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(&text).unwrap()),
            Some(Ok(Message::Close(frame))) => return Err(frame.map_or(1005, |f| f.code.into())),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Err(1006),
        }
    }
}
