//! Which partition a request counts against: the key extractors.

use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};

use serde_json::Value;

use crate::principal::{Binding, Mechanism, Principal};
use crate::view::RequestView;

/// Picks the partition a request counts against, from the principal the authentication put into
/// the request (none for an anonymous request) and the request itself.
///
/// `None` leaves the request unlimited (and without rate-limit headers). Implement it for your own
/// partitions (a tenant claim, say); combine extractors with [`or`](KeyExtractor::or).
///
/// **Never key on a forwarding header** (`X-Forwarded-For`, `Forwarded`, `X-Real-IP`) unless
/// every request reaches you through a proxy you run that overwrites it: any client can send such
/// a header with a fresh value on every request and so get a fresh quota each time. The built-in
/// [`PeerIp`] reads the address of the TCP connection only.
///
/// ```
/// use tower_auth::{Principal, RequestView};
/// use tower_auth::ratelimit::KeyExtractor;
///
/// /// One quota per tenant, from a `tenant` claim.
/// #[derive(Clone)]
/// struct Tenant;
///
/// impl KeyExtractor for Tenant {
///     type Key = String;
///     fn extract<V: RequestView + ?Sized>(&self, principal: Option<&Principal>, _request: &V) -> Option<String> {
///         principal?.claim("tenant")?.as_str().map(str::to_owned)
///     }
/// }
/// ```
pub trait KeyExtractor: Clone + Send + Sync + 'static {
    /// The partition key. Kept in memory per active partition (bounded); for the Redis store, a
    /// SHA-256 of its `Hash` output names the Redis key, so the raw value never leaves the process.
    type Key: Clone + Hash + Eq + Send + Sync + 'static;

    /// The partition of this request; `None` = not limited.
    fn extract<V: RequestView + ?Sized>(&self, principal: Option<&Principal>, request: &V) -> Option<Self::Key>;

    /// This extractor, else `other` when this one finds no key.
    fn or<B>(self, other: B) -> Or<Self, B>
    where
        Self: Sized,
        B: KeyExtractor<Key = Self::Key>,
    {
        Or(self, other)
    }
}

/// The partition key of the built-in extractors.
///
/// Subjects and key ids are identifiers, not secrets; still, with the Redis store only a hash of
/// the key is stored, and no key is ever sent in a response (no `pk` parameter).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RateLimitKey {
    /// A principal: its issuer (none for API keys and client certificates) and subject (the
    /// client id for a token without a user).
    Principal {
        /// The issuer, for tokens.
        issuer: Option<String>,
        /// The subject.
        subject: String,
    },
    /// An API key, by its id (never its secret).
    ApiKey(String),
    /// A client certificate, by its SHA-256 thumbprint (`x5t#S256`).
    Certificate(String),
    /// The TCP peer: an IPv4 address, or the /64 prefix of an IPv6 one (see [`normalize_ip`]).
    Ip(IpAddr),
    /// An anonymous request whose peer address the server did not make known.
    UnknownPeer,
    /// Every request.
    Global,
}

/// The peer address as a rate-limit partition: IPv4 addresses as they are (an IPv4-mapped IPv6
/// address counts as its IPv4 address), IPv6 addresses by their /64 prefix — a single host usually
/// holds a whole /64 and could otherwise switch addresses for a fresh quota.
///
/// ```
/// use std::net::IpAddr;
/// use tower_auth::ratelimit::normalize_ip;
///
/// let v6: IpAddr = "2001:db8:1:2:aaaa:bbbb:cccc:dddd".parse().unwrap();
/// assert_eq!(normalize_ip(v6), "2001:db8:1:2::".parse::<IpAddr>().unwrap());
/// let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
/// assert_eq!(normalize_ip(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
/// ```
pub fn normalize_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
    }
}

/// Every principal by its issuer and subject (for a client-credentials token the subject is its
/// client id). Anonymous requests: no key (not limited).
#[derive(Debug, Clone, Copy, Default)]
pub struct PrincipalKey;

impl KeyExtractor for PrincipalKey {
    type Key = RateLimitKey;

    fn extract<V: RequestView + ?Sized>(&self, principal: Option<&Principal>, _request: &V) -> Option<RateLimitKey> {
        let p = principal?;
        Some(RateLimitKey::Principal { issuer: p.issuer().map(str::to_owned), subject: p.subject().to_owned() })
    }
}

/// API keys by their id (the `key_id` claim the API-key mechanism sets): each key its own quota,
/// even when one owner holds several. Other requests: no key.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiKeyId;

impl KeyExtractor for ApiKeyId {
    type Key = RateLimitKey;

    fn extract<V: RequestView + ?Sized>(&self, principal: Option<&Principal>, _request: &V) -> Option<RateLimitKey> {
        let p = principal.filter(|p| p.mechanism() == Mechanism::ApiKey)?;
        match p.claim("key_id") {
            Some(Value::String(id)) => Some(RateLimitKey::ApiKey(id.clone())),
            _ => None,
        }
    }
}

/// Certificate-bound principals (RFC 8705) by the thumbprint of their certificate, `x5t#S256`.
/// Other requests: no key.
#[derive(Debug, Clone, Copy, Default)]
pub struct CertificateThumbprint;

impl KeyExtractor for CertificateThumbprint {
    type Key = RateLimitKey;

    fn extract<V: RequestView + ?Sized>(&self, principal: Option<&Principal>, _request: &V) -> Option<RateLimitKey> {
        match principal?.binding()? {
            Binding::Mtls { x5t_s256 } => Some(RateLimitKey::Certificate(x5t_s256.clone())),
            _ => None,
        }
    }
}

/// Every request by the address of its TCP peer ([`normalize_ip`]), authenticated or not. Requests
/// whose peer the server does not make known: no key.
///
/// Behind a load balancer or reverse proxy every request has the proxy's address: limit per
/// principal instead, or let the proxy limit per client. Forwarding headers are not read (they are
/// spoofable; see [`KeyExtractor`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct PeerIp;

impl KeyExtractor for PeerIp {
    type Key = RateLimitKey;

    fn extract<V: RequestView + ?Sized>(&self, _principal: Option<&Principal>, request: &V) -> Option<RateLimitKey> {
        request.peer_addr().map(|addr| RateLimitKey::Ip(normalize_ip(addr.ip())))
    }
}

/// One partition for every request: a ceiling for the whole service (or route).
#[derive(Debug, Clone, Copy, Default)]
pub struct GlobalKey;

impl KeyExtractor for GlobalKey {
    type Key = RateLimitKey;

    fn extract<V: RequestView + ?Sized>(&self, _principal: Option<&Principal>, _request: &V) -> Option<RateLimitKey> {
        Some(RateLimitKey::Global)
    }
}

/// The default: an authenticated request by its credential's natural identity, an anonymous one by
/// its peer address.
///
/// | request | key |
/// |---|---|
/// | API key | [`ApiKeyId`] |
/// | client certificate (mechanism `client_cert`) | [`CertificateThumbprint`] when bound, else the subject |
/// | token (JWT, introspection) | [`PrincipalKey`]: issuer and subject |
/// | anonymous (optional authentication) | [`PeerIp`]; when the peer is unknown, one shared [`RateLimitKey::UnknownPeer`] partition |
#[derive(Debug, Clone, Copy, Default)]
pub struct PrincipalOrPeerIp;

impl KeyExtractor for PrincipalOrPeerIp {
    type Key = RateLimitKey;

    fn extract<V: RequestView + ?Sized>(&self, principal: Option<&Principal>, request: &V) -> Option<RateLimitKey> {
        let Some(p) = principal else {
            return PeerIp.extract(None, request).or(Some(RateLimitKey::UnknownPeer));
        };
        let specific = match p.mechanism() {
            Mechanism::ApiKey => ApiKeyId.extract(principal, request),
            Mechanism::ClientCert => CertificateThumbprint.extract(principal, request),
            _ => None,
        };
        specific.or_else(|| PrincipalKey.extract(principal, request))
    }
}

/// The first extractor's key, else the second's. Built by [`KeyExtractor::or`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Or<A, B>(A, B);

impl<A, B> KeyExtractor for Or<A, B>
where
    A: KeyExtractor,
    B: KeyExtractor<Key = A::Key>,
{
    type Key = A::Key;

    fn extract<V: RequestView + ?Sized>(&self, principal: Option<&Principal>, request: &V) -> Option<A::Key> {
        self.0.extract(principal, request).or_else(|| self.1.extract(principal, request))
    }
}

/// What a principal is, for [quotas by kind](crate::ratelimit::RateLimiterBuilder::api_key_quota).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalKind {
    /// Authenticated with an API key.
    ApiKey,
    /// A client acting for itself: a client-credentials token (its subject is its client id, or it
    /// names no subject), or a client certificate.
    Client,
    /// A token issued for a user.
    User,
}

impl PrincipalKind {
    /// The kind of `principal`.
    ///
    /// ```
    /// use tower_auth::{Mechanism, Principal};
    /// use tower_auth::ratelimit::PrincipalKind;
    ///
    /// let service = Principal::builder(Mechanism::Jwt, "billing").client_id("billing").build();
    /// let user = Principal::builder(Mechanism::Jwt, "alice").client_id("web-app").build();
    /// assert_eq!(PrincipalKind::of(&service), PrincipalKind::Client);
    /// assert_eq!(PrincipalKind::of(&user), PrincipalKind::User);
    /// ```
    pub fn of(principal: &Principal) -> Self {
        match principal.mechanism() {
            Mechanism::ApiKey => Self::ApiKey,
            Mechanism::ClientCert => Self::Client,
            _ if principal.client_id() == Some(principal.subject()) => Self::Client,
            // A token with claims but no `sub`: issued to a client, for no user.
            _ if !principal.claims().is_empty() && !principal.claims().contains_key("sub") => Self::Client,
            _ => Self::User,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct View(Option<std::net::SocketAddr>);

    impl RequestView for View {
        fn method(&self) -> &str {
            "GET"
        }
        fn path(&self) -> &str {
            "/"
        }
        fn query(&self) -> Option<&str> {
            None
        }
        fn authority(&self) -> Option<&str> {
            None
        }
        fn header(&self, _name: &str) -> crate::HeaderLookup<'_> {
            crate::HeaderLookup::Missing
        }
        fn peer_addr(&self) -> Option<std::net::SocketAddr> {
            self.0
        }
        fn client_certificate(&self) -> Option<&[u8]> {
            None
        }
    }

    fn claims(v: serde_json::Value) -> serde_json::Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn built_in_keys() {
        let peer = View(Some("192.0.2.1:443".parse().unwrap()));
        let api = Principal::builder(Mechanism::ApiKey, "owner")
            .claims(claims(json!({"sub": "owner", "key_id": "k1", "tier": null})))
            .build();
        let jwt = Principal::builder(Mechanism::Jwt, "alice").issuer("https://iss").build();
        let mtls =
            Principal::builder(Mechanism::Jwt, "svc").binding(Binding::Mtls { x5t_s256: "thumb".into() }).build();
        assert_eq!(ApiKeyId.extract(Some(&api), &peer), Some(RateLimitKey::ApiKey("k1".into())));
        assert_eq!(ApiKeyId.extract(Some(&jwt), &peer), None);
        assert_eq!(
            PrincipalKey.extract(Some(&jwt), &peer),
            Some(RateLimitKey::Principal { issuer: Some("https://iss".into()), subject: "alice".into() })
        );
        assert_eq!(PrincipalKey.extract(None, &peer), None);
        assert_eq!(CertificateThumbprint.extract(Some(&mtls), &peer), Some(RateLimitKey::Certificate("thumb".into())));
        assert_eq!(CertificateThumbprint.extract(Some(&jwt), &peer), None);
        assert_eq!(PeerIp.extract(Some(&jwt), &peer), Some(RateLimitKey::Ip("192.0.2.1".parse().unwrap())));
        assert_eq!(PeerIp.extract(None, &View(None)), None);
        assert_eq!(GlobalKey.extract(None, &View(None)), Some(RateLimitKey::Global));

        assert_eq!(PrincipalOrPeerIp.extract(Some(&api), &peer), Some(RateLimitKey::ApiKey("k1".into())));
        assert_eq!(PrincipalOrPeerIp.extract(None, &peer), Some(RateLimitKey::Ip("192.0.2.1".parse().unwrap())));
        assert_eq!(PrincipalOrPeerIp.extract(None, &View(None)), Some(RateLimitKey::UnknownPeer));
        let either = CertificateThumbprint.or(PeerIp);
        assert_eq!(either.extract(Some(&jwt), &peer), Some(RateLimitKey::Ip("192.0.2.1".parse().unwrap())));
    }

    #[test]
    fn kinds() {
        let api = Principal::builder(Mechanism::ApiKey, "o").build();
        let no_sub =
            Principal::builder(Mechanism::Introspection, "svc").claims(claims(json!({"client_id": "svc"}))).build();
        let user = Principal::builder(Mechanism::Jwt, "alice")
            .claims(claims(json!({"sub": "alice", "client_id": "web"})))
            .build();
        assert_eq!(PrincipalKind::of(&api), PrincipalKind::ApiKey);
        assert_eq!(PrincipalKind::of(&no_sub), PrincipalKind::Client);
        assert_eq!(PrincipalKind::of(&user), PrincipalKind::User);
    }

    #[test]
    fn ipv6_by_prefix() {
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let b: IpAddr = "2001:db8::ffff:1".parse().unwrap();
        assert_eq!(normalize_ip(a), normalize_ip(b));
        let c: IpAddr = "2001:db8:0:1::1".parse().unwrap();
        assert_ne!(normalize_ip(a), normalize_ip(c));
    }
}
