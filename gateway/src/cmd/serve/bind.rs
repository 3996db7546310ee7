//! The bind rule (issue 16): `serve` listens on loopback only, unless `--insecure-bind`.
//!
//! auditgate speaks plain HTTP. Beyond loopback, the bearer tokens of every request and the
//! audit data in the answers (arguments, results, approvals) would cross the network in clear,
//! so an address that is not loopback (127.0.0.0/8, ::1, or the name `localhost`) is refused
//! before anything is written to the ledger. The way to serve other hosts is a TLS-terminating
//! proxy in front of a loopback bind; `--insecure-bind` is for a network path protected some
//! other way (a private link, a VPN, a mesh with mTLS). The check reads the address as written:
//! a name other than `localhost` is refused without being resolved.
use std::net::SocketAddr;

use thiserror::Error;

/// Why an address given to `--http` or `--admin` cannot be bound.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BindError {
    /// Not `HOST:PORT`.
    #[error("{flag} {addr}: expected HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:8080")]
    NotHostPort {
        /// The flag that gave it.
        flag: &'static str,
        /// The address as given.
        addr: String,
    },
    /// Beyond loopback, without `--insecure-bind`.
    #[error(
        "refusing to bind {flag} {addr}: it is not a loopback address, and auditgate speaks plain \
         HTTP, so bearer tokens and the audit data would cross the network in clear. Bind \
         loopback (127.0.0.1, ::1 or localhost) and put a TLS-terminating proxy in front, or pass \
         --insecure-bind if the network path is otherwise protected"
    )]
    NotLoopback {
        /// The flag that gave it.
        flag: &'static str,
        /// The address as given.
        addr: String,
    },
}

/// Whether a listen address stays on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// 127.0.0.0/8, ::1 (IPv4-mapped included) or `localhost`.
    Loopback,
    /// Anything else: another interface, every interface, or a name.
    Network,
}

/// Where `addr` (`HOST:PORT`, as `--http` and `--admin` take it) would listen.
pub fn reach(flag: &'static str, addr: &str) -> Result<Reach, BindError> {
    if let Ok(socket) = addr.parse::<SocketAddr>() {
        return Ok(if socket.ip().to_canonical().is_loopback() {
            Reach::Loopback
        } else {
            Reach::Network
        });
    }
    let not_host_port = || BindError::NotHostPort {
        flag,
        addr: addr.to_owned(),
    };
    let (host, port) = addr.rsplit_once(':').ok_or_else(not_host_port)?;
    if host.is_empty() || host.contains(':') || port.parse::<u16>().is_err() {
        return Err(not_host_port());
    }
    Ok(if host.eq_ignore_ascii_case("localhost") {
        Reach::Loopback
    } else {
        Reach::Network
    })
}

/// Checks one listen address: loopback passes; beyond it, `insecure` (`--insecure-bind`) lets it
/// pass with a warning, else it is refused.
pub fn check(flag: &'static str, addr: &str, insecure: bool) -> Result<(), BindError> {
    match reach(flag, addr)? {
        Reach::Loopback => Ok(()),
        Reach::Network if insecure => {
            tracing::warn!(
                "{flag} {addr} is not loopback and --insecure-bind was given: auditgate speaks \
                 plain HTTP, so bearer tokens and the audit data cross the network in clear \
                 unless the network path is otherwise protected"
            );
            Ok(())
        }
        Reach::Network => Err(BindError::NotLoopback {
            flag,
            addr: addr.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_127_slash_8_ipv6_loopback_and_localhost() {
        for addr in [
            "127.0.0.1:8080",
            "127.0.0.1:0",
            "127.1.2.3:80",
            "[::1]:8080",
            "[::ffff:127.0.0.1]:8080",
            "localhost:8080",
            "LocalHost:0",
        ] {
            assert_eq!(reach("--http", addr), Ok(Reach::Loopback), "{addr}");
        }
    }

    #[test]
    fn everything_else_reaches_the_network() {
        for addr in [
            "0.0.0.0:8080",
            "[::]:8080",
            "10.0.0.5:8080",
            "192.0.2.1:80",
            "[fe80::1]:80",
            "[::ffff:10.0.0.1]:80",
            "gateway.example.com:8080",
            "localhost.example.com:8080",
            "ip6-localhost:8080",
        ] {
            assert_eq!(reach("--http", addr), Ok(Reach::Network), "{addr}");
        }
    }

    #[test]
    fn an_address_without_a_port_is_not_an_address() {
        for addr in [
            "127.0.0.1",
            "localhost",
            ":8080",
            "::1",
            "localhost:http",
            "host:99999",
        ] {
            assert!(
                matches!(reach("--admin", addr), Err(BindError::NotHostPort { .. })),
                "{addr}"
            );
        }
    }

    #[test]
    fn beyond_loopback_needs_insecure_bind_and_the_refusal_says_why() {
        assert_eq!(check("--http", "127.0.0.1:8080", false), Ok(()));
        assert_eq!(check("--http", "0.0.0.0:8080", true), Ok(()));
        let why = check("--admin", "0.0.0.0:8080", false)
            .unwrap_err()
            .to_string();
        for part in [
            "--admin 0.0.0.0:8080",
            "plain HTTP",
            "in clear",
            "TLS",
            "--insecure-bind",
        ] {
            assert!(why.contains(part), "{part}: {why}");
        }
    }
}
