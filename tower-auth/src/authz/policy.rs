//! The policy hook: an async decision over the principal and the request.

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use crate::clock::{Clock, SharedClock, SystemClock, unix_seconds};
use crate::error::{AuthError, AuthErrorKind, ConfigError};
use crate::principal::Principal;
use crate::view::RequestView;

/// The answer of a [`Policy`].
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The request proceeds.
    Allow,
    /// 403, a plain problem+json without an OAuth error code ([`AuthErrorKind::Forbidden`]).
    Deny,
    /// The policy could not decide (its engine is unreachable, say): 503 with `Retry-After`, fail
    /// closed ([`AuthErrorKind::Unavailable`]).
    Unavailable {
        /// Seconds after which the client may retry (at least 1).
        retry_after_secs: u64,
    },
}

impl Decision {
    /// [`Decision::Unavailable`], retry after `retry_after` (rounded up to whole seconds, at least 1).
    pub fn unavailable(retry_after: Duration) -> Self {
        let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        Self::Unavailable { retry_after_secs: secs.max(1) }
    }

    fn into_result(self) -> Result<(), AuthError> {
        match self {
            Self::Allow => Ok(()),
            Self::Deny => Err(AuthError::new(AuthErrorKind::Forbidden)),
            Self::Unavailable { retry_after_secs } => Err(AuthError::unavailable(retry_after_secs)),
        }
    }
}

impl From<bool> for Decision {
    /// `true` allows, `false` denies.
    fn from(allow: bool) -> Self {
        if allow { Self::Allow } else { Self::Deny }
    }
}

/// What a [`Policy`] decides on: the principal, the request (method, path, query, client IP) and
/// the time of its [`Clock`]. Owned, so the decision can be an `async move` block.
///
/// The client IP is the TCP peer the server saw (axum: `ConnectInfo`, read by
/// `tower_auth_axum::auth_layer`; actix-web: the connection). Behind a reverse proxy that is the
/// proxy's address: forwarding headers (`Forwarded`, `X-Forwarded-For`) are client-controlled and
/// never read here.
#[derive(Debug, Clone)]
pub struct PolicyContext {
    principal: Principal,
    method: String,
    path: String,
    query: Option<String>,
    client_ip: Option<IpAddr>,
    now: SystemTime,
}

impl PolicyContext {
    /// The context of `request` for `principal` at `now` (for adapters, and to test a policy).
    pub fn new<V: RequestView + ?Sized>(principal: Principal, request: &V, now: SystemTime) -> Self {
        Self {
            principal,
            method: request.method().to_owned(),
            path: request.path().to_owned(),
            query: request.query().map(str::to_owned),
            client_ip: request.peer_addr().map(|a| a.ip().to_canonical()),
            now,
        }
    }

    /// The authenticated principal.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The request method, e.g. `GET`.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The path of the request target.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The query of the request target, if any.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// The TCP peer's address (an IPv4-mapped IPv6 address is given as IPv4), when known.
    pub fn client_ip(&self) -> Option<IpAddr> {
        self.client_ip
    }

    /// The time of the decision, from the policy's clock.
    pub fn now(&self) -> SystemTime {
        self.now
    }

    /// The hour of [`now`](Self::now) in UTC, `0..=23`.
    pub fn utc_hour(&self) -> u8 {
        ((unix_seconds(self.now) / 3600) % 24) as u8
    }
}

type PolicyFuture = Pin<Box<dyn Future<Output = Decision> + Send + 'static>>;
type PolicyFn = dyn Fn(PolicyContext) -> PolicyFuture + Send + Sync;

/// An async decision over a [`PolicyContext`], for what configuration cannot express: a business
/// rule, a network range, office hours, or a call to a policy engine such as OPA.
///
/// Runs after authentication and after the route's [`Requirement`](super::Requirement), only for
/// authenticated callers (others get 401 first). Its [`Decision`]: allow, deny (403, never 401), or
/// unavailable (503, fail closed). The closure may return anything that converts into a
/// `Decision`, a `bool` included. Cheap to clone.
///
/// Restricting a route to an office network during office hours, tested with a [`ManualClock`]:
///
/// [`ManualClock`]: crate::ManualClock
///
/// ```
/// use std::time::Duration;
/// use http::Request;
/// use tower_auth::{ManualClock, Mechanism, PeerAddr, Principal};
/// use tower_auth::authz::{Decision, IpRange, Policy, PolicyContext};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let office: IpRange = "192.0.2.0/24".parse().unwrap();
/// let clock = ManualClock::at_unix(1_700_000_000 - 1_700_000_000 % 86_400 + 10 * 3600); // 10:00 UTC
/// let policy = Policy::from_fn(move |ctx: PolicyContext| async move {
///     let in_office = ctx.client_ip().is_some_and(|ip| office.contains(ip));
///     let office_hours = (8..18).contains(&ctx.utc_hour());
///     in_office && office_hours
/// })
/// .with_clock(clock.clone());
///
/// let alice = Principal::builder(Mechanism::Jwt, "alice").build();
/// let from = |ip: &str| {
///     let (parts, ()) = Request::get("/payroll").extension(PeerAddr(ip.parse().unwrap())).body(()).unwrap().into_parts();
///     parts
/// };
/// assert_eq!(policy.evaluate(policy.context(&alice, &from("192.0.2.10:5000"))).await, Decision::Allow);
/// assert_eq!(policy.evaluate(policy.context(&alice, &from("198.51.100.7:5000"))).await, Decision::Deny);
/// clock.advance(Duration::from_secs(9 * 3600)); // 19:00 UTC
/// assert_eq!(policy.evaluate(policy.context(&alice, &from("192.0.2.10:5000"))).await, Decision::Deny);
/// # }
/// ```
///
/// An OPA call plugs in the same way (`reqwest` here; any client works):
///
/// ```no_run
/// # use tower_auth::authz::{Decision, Policy};
/// # use std::time::Duration;
/// # struct Reqwest; impl Reqwest { async fn post_json(&self, _: &str, _: serde_json::Value) -> Result<serde_json::Value, ()> { Ok(serde_json::Value::Null) } }
/// # let http = std::sync::Arc::new(Reqwest);
/// let policy = Policy::from_fn(move |ctx| {
///     let http = http.clone();
///     async move {
///         let input = serde_json::json!({ "input": {
///             "sub": ctx.principal().subject(), "roles": ctx.principal().roles(),
///             "method": ctx.method(), "path": ctx.path(), "ip": ctx.client_ip(),
///         }});
///         match http.post_json("http://127.0.0.1:8181/v1/data/api/allow", input).await {
///             Ok(answer) => Decision::from(answer["result"] == true),
///             Err(_) => Decision::unavailable(Duration::from_secs(5)),
///         }
///     }
/// });
/// # let _ = policy;
/// ```
#[derive(Clone)]
pub struct Policy {
    decide: Arc<PolicyFn>,
    clock: SharedClock,
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy").field("clock", &self.clock).finish_non_exhaustive()
    }
}

impl Policy {
    /// A policy deciding with `decide`.
    pub fn from_fn<F, Fut, O>(decide: F) -> Self
    where
        F: Fn(PolicyContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = O> + Send + 'static,
        O: Into<Decision>,
    {
        let decide = move |ctx: PolicyContext| -> PolicyFuture {
            let fut = decide(ctx);
            Box::pin(async move { fut.await.into() })
        };
        Self { decide: Arc::new(decide), clock: Arc::new(SystemClock) }
    }

    /// The clock of [`PolicyContext::now`]. Defaults to the system clock.
    #[must_use]
    pub fn with_clock(self, clock: impl Clock) -> Self {
        self.with_shared_clock(Arc::new(clock))
    }

    pub(crate) fn with_shared_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The context of `request` for `principal`, at the time of this policy's clock.
    pub fn context<V: RequestView + ?Sized>(&self, principal: &Principal, request: &V) -> PolicyContext {
        PolicyContext::new(principal.clone(), request, self.clock.now())
    }

    /// The decision for `context`.
    pub fn evaluate(&self, context: PolicyContext) -> impl Future<Output = Decision> + Send + 'static {
        (self.decide)(context)
    }
}

/// The pending decision of a route's policies, as a `'static` future: `Ok` when every policy
/// allows; the first refusal otherwise (403 [`Forbidden`](AuthErrorKind::Forbidden), or 503).
#[must_use = "futures do nothing unless polled"]
pub struct PolicyCheck {
    fut: Pin<Box<dyn Future<Output = Result<(), AuthError>> + Send + 'static>>,
}

impl fmt::Debug for PolicyCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyCheck").finish_non_exhaustive()
    }
}

impl PolicyCheck {
    pub(crate) fn new(policies: Arc<[Policy]>, contexts: Vec<PolicyContext>) -> Self {
        let fut = async move {
            for (policy, context) in policies.iter().zip(contexts) {
                let subject = context.principal().subject().to_owned();
                let decision = policy.evaluate(context).await;
                if decision != Decision::Allow {
                    tracing::debug!(target: "tower_auth", subject = %subject.escape_debug(), ?decision, "refused by policy");
                    return decision.into_result();
                }
            }
            Ok(())
        };
        Self { fut: Box::pin(fut) }
    }
}

impl Future for PolicyCheck {
    type Output = Result<(), AuthError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.fut.as_mut().poll(cx)
    }
}

/// A range of IP addresses in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`; a bare address is a
/// range of one), for policies that restrict by network.
///
/// ```
/// use tower_auth::authz::IpRange;
///
/// let range: IpRange = "10.0.0.0/8".parse().unwrap();
/// assert!(range.contains("10.1.2.3".parse().unwrap()));
/// assert!(range.contains("::ffff:10.1.2.3".parse().unwrap())); // IPv4-mapped
/// assert!(!range.contains("192.0.2.1".parse().unwrap()));
/// assert!("10.0.0.1/8".parse::<IpRange>().is_err()); // host bits set: a typo, most likely
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpRange {
    network: IpAddr,
    prefix: u8,
}

impl IpRange {
    /// The range of `network` with a `prefix`-bit mask. Refuses a prefix longer than the address
    /// and a network address with host bits set.
    pub fn new(network: IpAddr, prefix: u8) -> Result<Self, ConfigError> {
        let network = network.to_canonical();
        let max = if network.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(ConfigError::new(format!("IP range prefix /{prefix} is longer than {max} bits")));
        }
        let range = Self { network, prefix };
        if bits(network) & !mask(prefix, max) != 0 {
            return Err(ConfigError::new(format!("IP range {network}/{prefix} has host bits set")));
        }
        Ok(range)
    }

    /// The network address.
    pub fn network(&self) -> IpAddr {
        self.network
    }

    /// The prefix length in bits.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` lies in the range (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        if ip.is_ipv4() != self.network.is_ipv4() {
            return false;
        }
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let m = mask(self.prefix, max);
        bits(ip) & m == bits(self.network) & m
    }
}

fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The mask of the top `prefix` bits of a `max`-bit address, in the low `max` bits of a `u128`.
fn mask(prefix: u8, max: u8) -> u128 {
    let all: u128 = if max == 128 { u128::MAX } else { (1u128 << max) - 1 };
    if prefix == 0 { 0 } else { all & !((1u128 << (max - prefix)) - 1) }
}

impl FromStr for IpRange {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || ConfigError::new(format!("invalid IP range {s:?}"));
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s.trim(), None),
        };
        let network: IpAddr = addr.parse().map_err(|_| invalid())?;
        let prefix = match prefix {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.len() <= 3 => {
                p.parse().map_err(|_| invalid())?
            }
            Some(_) => return Err(invalid()),
            None if network.to_canonical().is_ipv4() => 32,
            None => 128,
        };
        Self::new(network, prefix)
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::principal::Mechanism;
    use crate::view::PeerAddr;

    /// 2023-11-14T00:00:00Z.
    const MIDNIGHT: u64 = 1_699_920_000;

    fn request(peer: Option<&str>) -> http::request::Parts {
        let mut builder = http::Request::post("/payroll?month=11");
        if let Some(peer) = peer {
            builder = builder.extension(PeerAddr(peer.parse().unwrap()));
        }
        builder.body(()).unwrap().into_parts().0
    }

    fn alice() -> Principal {
        Principal::builder(Mechanism::Jwt, "alice").roles(["payroll"]).build()
    }

    fn office_policy(clock: &ManualClock) -> Policy {
        let office: IpRange = "192.0.2.0/24".parse().unwrap();
        Policy::from_fn(move |ctx: PolicyContext| async move {
            ctx.client_ip().is_some_and(|ip| office.contains(ip)) && (9..17).contains(&ctx.utc_hour())
        })
        .with_clock(clock.clone())
    }

    #[test]
    fn context_reads_the_request() {
        let clock = ManualClock::at_unix(MIDNIGHT + 13 * 3600 + 59 * 60);
        let policy = Policy::from_fn(|_| async { true }).with_clock(clock);
        let ctx = policy.context(&alice(), &request(Some("[::ffff:192.0.2.9]:443")));
        assert_eq!(ctx.method(), "POST");
        assert_eq!(ctx.path(), "/payroll");
        assert_eq!(ctx.query(), Some("month=11"));
        assert_eq!(ctx.client_ip(), Some("192.0.2.9".parse().unwrap()));
        assert_eq!(ctx.utc_hour(), 13);
        assert_eq!(ctx.principal().subject(), "alice");
        assert_eq!(unix_seconds(ctx.now()), MIDNIGHT + 13 * 3600 + 59 * 60);
        assert_eq!(policy.context(&alice(), &request(None)).client_ip(), None);
    }

    #[tokio::test]
    async fn allows_and_denies_by_ip() {
        let clock = ManualClock::at_unix(MIDNIGHT + 10 * 3600);
        let policy = office_policy(&clock);
        for (peer, expected) in [
            (Some("192.0.2.1:1000"), Decision::Allow),
            (Some("192.0.2.254:1000"), Decision::Allow),
            (Some("192.0.3.1:1000"), Decision::Deny),
            (Some("[2001:db8::1]:1000"), Decision::Deny),
            (None, Decision::Deny),
        ] {
            assert_eq!(policy.evaluate(policy.context(&alice(), &request(peer))).await, expected, "{peer:?}");
        }
    }

    #[tokio::test]
    async fn allows_and_denies_by_time() {
        let clock = ManualClock::at_unix(MIDNIGHT + 8 * 3600 + 3599);
        let policy = office_policy(&clock);
        let office = request(Some("192.0.2.1:1000"));
        assert_eq!(policy.evaluate(policy.context(&alice(), &office)).await, Decision::Deny);
        clock.advance(Duration::from_secs(1)); // 09:00
        assert_eq!(policy.evaluate(policy.context(&alice(), &office)).await, Decision::Allow);
        clock.advance(Duration::from_secs(8 * 3600 - 1)); // 16:59:59
        assert_eq!(policy.evaluate(policy.context(&alice(), &office)).await, Decision::Allow);
        clock.advance(Duration::from_secs(1)); // 17:00
        assert_eq!(policy.evaluate(policy.context(&alice(), &office)).await, Decision::Deny);
        clock.advance(Duration::from_secs(16 * 3600)); // 09:00 the next day
        assert_eq!(policy.evaluate(policy.context(&alice(), &office)).await, Decision::Allow);
    }

    #[tokio::test]
    async fn check_stops_at_the_first_refusal() {
        let clock = ManualClock::at_unix(MIDNIGHT);
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = calls.clone();
        let policies: Arc<[Policy]> = Arc::new([
            Policy::from_fn(|ctx| async move { ctx.principal().has_role("payroll") }),
            Policy::from_fn(|_| async { Decision::unavailable(Duration::from_millis(1500)) }),
            Policy::from_fn(move |_| {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async { Decision::Allow }
            }),
        ]);
        let contexts =
            policies.iter().map(|p| p.clone().with_clock(clock.clone()).context(&alice(), &request(None))).collect();
        let error = PolicyCheck::new(policies.clone(), contexts).await.unwrap_err();
        assert_eq!(error.kind(), AuthErrorKind::Unavailable);
        assert_eq!(error.retry_after(), Some(2));
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 0);

        let bob = Principal::builder(Mechanism::Jwt, "bob").build();
        let contexts = policies.iter().map(|p| p.context(&bob, &request(None))).collect();
        let error = PolicyCheck::new(policies, contexts).await.unwrap_err();
        assert_eq!(error.kind(), AuthErrorKind::Forbidden);
        assert_eq!(error.status(), http::StatusCode::FORBIDDEN);
        assert_eq!(error.www_authenticate(), None);
    }

    #[test]
    fn decisions() {
        assert_eq!(Decision::from(true), Decision::Allow);
        assert_eq!(Decision::from(false), Decision::Deny);
        assert_eq!(Decision::unavailable(Duration::ZERO), Decision::Unavailable { retry_after_secs: 1 });
        assert_eq!(Decision::unavailable(Duration::from_secs(30)), Decision::Unavailable { retry_after_secs: 30 });
        assert!(format!("{:?}", Policy::from_fn(|_| async { true })).starts_with("Policy"));
    }

    #[test]
    fn ip_ranges() {
        let v4: IpRange = "10.0.0.0/8".parse().unwrap();
        assert_eq!(v4.to_string(), "10.0.0.0/8");
        assert_eq!((v4.network(), v4.prefix()), ("10.0.0.0".parse().unwrap(), 8));
        assert!(v4.contains("10.255.255.255".parse().unwrap()));
        assert!(!v4.contains("11.0.0.0".parse().unwrap()));
        assert!(!v4.contains("::a00:1".parse().unwrap()));
        let host: IpRange = "192.0.2.7".parse().unwrap();
        assert_eq!(host.prefix(), 32);
        assert!(host.contains("192.0.2.7".parse().unwrap()));
        assert!(!host.contains("192.0.2.8".parse().unwrap()));
        let all: IpRange = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("203.0.113.1".parse().unwrap()));
        assert!(!all.contains("2001:db8::1".parse().unwrap()));
        let v6: IpRange = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:ffff::1".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        let all6: IpRange = "::/0".parse().unwrap();
        assert!(all6.contains("::1".parse().unwrap()));
        let one6: IpRange = "::1".parse().unwrap();
        assert_eq!(one6.prefix(), 128);
        assert!(one6.contains("::1".parse().unwrap()));
        assert_eq!("::ffff:10.0.0.0/8".parse::<IpRange>().unwrap(), v4);
        for bad in
            ["", "10.0.0.0/", "10.0.0.0/33", "10.0.0.1/8", "10.0.0.0/+8", "10.0.0.0/08x", "::/129", "x/8", "10.0.0/8"]
        {
            assert!(bad.parse::<IpRange>().is_err(), "{bad}");
        }
    }
}
