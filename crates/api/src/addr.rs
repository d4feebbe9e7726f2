//! Listen addresses as users write them in flags and config files.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// `:8080` (every interface), `localhost:8080`, `127.0.0.1:8080`, `[::1]:8080`. The error says
/// what is wrong, for the caller to prefix with which setting it was.
pub fn parse_listen_addr(addr: &str) -> Result<SocketAddr, &'static str> {
    let (host, port) = addr.rsplit_once(':').ok_or("expected HOST:PORT or :PORT")?;
    let port: u16 = port.parse().map_err(|_| "the port must be 0-65535")?;
    let ip = match host.trim_start_matches('[').trim_end_matches(']') {
        "" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        other => other
            .parse()
            .map_err(|_| "the host must be an IP address or localhost")?,
    };
    Ok(SocketAddr::new(ip, port))
}
