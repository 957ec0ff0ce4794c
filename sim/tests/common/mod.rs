//! What the engine's integration tests share.

use sim::net::TcpStream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Writes back everything read on `s` until the peer closes or the connection breaks.
pub async fn echo(mut s: TcpStream) {
    let mut buf = [0u8; 64];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if s.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}
