//! systemd readiness notification (`sd_notify`) over the `NOTIFY_SOCKET` datagram socket.
//!
//! Without `NOTIFY_SOCKET` (not started by systemd with `Type=notify`) every call is a no-op.

use std::os::unix::net::UnixDatagram;

/// Sends `state` (e.g. `READY=1`, `STOPPING=1`, `STATUS=...`) to systemd. Returns whether a
/// message was sent.
pub fn notify(state: &str) -> bool {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return false;
    };
    let Ok(sock) = UnixDatagram::unbound() else {
        return false;
    };
    let bytes = path.as_encoded_bytes();
    let sent = if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt as _;
        match std::os::unix::net::SocketAddr::from_abstract_name(name) {
            Ok(addr) => sock.send_to_addr(state.as_bytes(), &addr).is_ok(),
            Err(_) => false,
        }
    } else {
        sock.send_to(state.as_bytes(), &path).is_ok()
    };
    if !sent {
        tracing::debug!("sd_notify({state}) failed");
    }
    sent
}

/// The watchdog interval systemd asked for (`WATCHDOG_USEC`, for this process per
/// `WATCHDOG_PID`), if any. Pings should be sent at half this interval.
pub fn watchdog_interval() -> Option<std::time::Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Some(pid) = std::env::var("WATCHDOG_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        && pid != std::process::id()
    {
        return None;
    }
    (usec > 0).then(|| std::time::Duration::from_micros(usec))
}
