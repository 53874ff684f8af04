//! The admin's commands beside `run`: `backup`, `restore`, `verify` and `doctor`. They sit
//! above `http` (they may ask a running daemon over its loopback API) and below `main`, which
//! only parses arguments and turns these errors into exit statuses.

pub mod backup;
pub mod doctor;

use crate::config::{Config, Role};

/// The address to reach the daemon's API on this machine: a wildcard listen address is
/// reached on loopback.
pub fn local_api(config: &Config) -> String {
    let mut addr = config.http.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    format!("http://{addr}")
}

/// The first admin token of the config: the commands speak to the daemon with it.
pub fn admin_token(config: &Config) -> Option<&str> {
    config.tokens.iter().find(|t| t.role == Role::Admin).map(|t| t.token.expose())
}
