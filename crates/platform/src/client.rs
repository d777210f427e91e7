//! Who is on the other end. The gateway is the only public entry: it works
//! out the client's address — its peer, or, when the peer is one of
//! `TRUSTED_PROXIES` (the web front), the address that proxy appended to
//! `X-Forwarded-For` — and passes it on in `x-client-address`, replacing
//! whatever a client sent. Services read that header, else their own peer.

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{HeaderMap, HeaderName, request::Parts},
};
use ipnet::IpNet;
use std::{
    convert::Infallible,
    net::{IpAddr, Ipv4Addr, SocketAddr},
};

pub const CLIENT_ADDRESS: HeaderName = HeaderName::from_static("x-client-address");
pub const FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Development default of `TRUSTED_PROXIES`: the web front on this machine.
pub const DEV_TRUSTED_PROXIES: &str = "127.0.0.1/32,::1/128";

/// Parses `TRUSTED_PROXIES`: addresses or CIDR blocks, comma-separated.
pub fn parse_trusted(list: &str) -> anyhow::Result<Vec<IpNet>> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    anyhow::anyhow!("TRUSTED_PROXIES: `{s}` is not an address or CIDR block")
                })
        })
        .collect()
}

/// The client of a request that reached us from `peer`: `peer` itself,
/// unless it is a trusted proxy, in which case the last address that proxy
/// appended to `X-Forwarded-For` (one hop of trust: the web front).
pub fn behind_proxies(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    if !trusted.iter().any(|net| net.contains(&peer)) {
        return peer;
    }
    headers
        .get_all(FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .next_back()
        .unwrap_or(peer)
}

/// Appends `peer` to `X-Forwarded-For`, as every proxy hop does.
pub fn append_forwarded_for(headers: &mut HeaderMap, peer: IpAddr) {
    let chain = headers
        .get_all(FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(", ");
    let value = if chain.is_empty() {
        peer.to_string()
    } else {
        format!("{chain}, {peer}")
    };
    if let Ok(v) = value.parse() {
        headers.insert(FORWARDED_FOR, v);
    }
}

/// The peer address of a request, when the server recorded it.
pub fn peer(parts_extensions: &axum::http::Extensions) -> Option<IpAddr> {
    parts_extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

/// A service's view of its caller's client: `x-client-address` (set by the
/// gateway), else the peer; unspecified when neither is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let from_gateway = parts
            .headers
            .get(CLIENT_ADDRESS)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        Ok(Self(
            from_gateway
                .or_else(|| peer(&parts.extensions))
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(FORWARDED_FOR, v.parse().unwrap());
        h
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let trusted = parse_trusted(DEV_TRUSTED_PROXIES).unwrap();
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(behind_proxies(peer, &xff("1.2.3.4"), &trusted), peer);
    }

    #[test]
    fn behind_a_trusted_proxy_the_address_it_appended_is_the_client() {
        let trusted = parse_trusted("127.0.0.1, 10.0.0.0/8").unwrap();
        let peer: IpAddr = "10.1.2.3".parse().unwrap();
        // A forged entry first, then what the proxy appended.
        let got = behind_proxies(peer, &xff("6.6.6.6, 198.51.100.7"), &trusted);
        assert_eq!(got, "198.51.100.7".parse::<IpAddr>().unwrap());
        assert_eq!(behind_proxies(peer, &HeaderMap::new(), &trusted), peer);
    }

    #[test]
    fn hops_append_and_bad_lists_are_refused() {
        let mut h = xff("1.1.1.1");
        append_forwarded_for(&mut h, "127.0.0.1".parse().unwrap());
        assert_eq!(h[FORWARDED_FOR], "1.1.1.1, 127.0.0.1");
        assert!(parse_trusted("10.0.0.0/33").is_err());
        assert!(parse_trusted("proxy.local").is_err());
    }
}
