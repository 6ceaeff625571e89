//! Bounded memory of the in-memory rate limiter: 1,000,000 distinct partitions (client addresses)
//! must not grow memory without bound. Prints the figures quoted in the README
//! (`cargo test -p tower-auth --test ratelimit_memory -- --nocapture`).
//!
//! One test in its own binary, so no other test's allocations disturb the resident-set readings.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use tower_auth::ratelimit::{Quota, RateLimiter};
use tower_auth::{HeaderLookup, ManualClock, RequestView};

/// A request that only has a peer address: anonymous requests are partitioned by it.
struct Peer(SocketAddr);

impl RequestView for Peer {
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
    fn header(&self, _name: &str) -> HeaderLookup<'_> {
        HeaderLookup::Missing
    }
    fn peer_addr(&self) -> Option<SocketAddr> {
        Some(self.0)
    }
    fn client_certificate(&self) -> Option<&[u8]> {
        None
    }
}

/// The resident set of this process in MiB (`/proc/self/statm`, second field, in pages of 4 KiB).
fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm (Linux)");
    let pages: f64 = statm.split_whitespace().nth(1).expect("resident field").parse().expect("a number");
    pages * 4096.0 / (1024.0 * 1024.0)
}

fn peer(i: u32) -> Peer {
    // 10.0.0.0/8 and beyond: one distinct IPv4 address per key.
    Peer(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)), 40_000))
}

const KEYS: u32 = 1_000_000;
const MAX_KEYS: usize = 100_000;

#[tokio::test(flavor = "current_thread")]
async fn a_million_distinct_keys_stay_bounded() {
    let before = rss_mib();

    // 1. A flood: a million fresh addresses inside one refill time. The store fills to its cap;
    //    the rest share the overflow partition (and are refused once it is spent).
    let clock = ManualClock::at_unix(1_700_000_000);
    let limiter = RateLimiter::builder().quota(Quota::per_minute(10)).clock(clock.clone()).build().expect("limiter");
    let mut admitted = 0u32;
    let mut peak = 0usize;
    for i in 0..KEYS {
        if limiter.check(None, &peer(i)).await.is_ok() {
            admitted += 1;
        }
        if i % 50_000 == 0 {
            peak = peak.max(limiter.tracked_partitions());
        }
    }
    let flooded = limiter.tracked_partitions();
    let rss_flooded = rss_mib();
    assert!(flooded <= MAX_KEYS + 1, "{flooded} partitions for a cap of {MAX_KEYS}");
    assert!(admitted <= MAX_KEYS as u32 + 10, "new keys past the cap share one quota: {admitted} admitted");
    // Once their refill time (and one more interval) has passed, every partition is idle and swept.
    clock.advance(Duration::from_secs(120));
    limiter.sweep_idle();
    let swept = limiter.tracked_partitions();
    let rss_swept = rss_mib();
    assert_eq!(swept, 0);

    // 2. Steady churn: a million addresses arriving at 10,000 per second of the injected clock,
    //    quota 10/s (idle after one second), sweeps every second: the store stays small without
    //    ever reaching its cap.
    let clock = ManualClock::at_unix(1_700_000_000);
    let churn = RateLimiter::builder()
        .quota(Quota::per_second(10))
        .clock(clock.clone())
        .cleanup_interval(Duration::from_secs(1))
        .build()
        .expect("limiter");
    let mut churn_peak = 0usize;
    for i in 0..KEYS {
        assert!(churn.check(None, &peer(i)).await.is_ok(), "a fresh address is admitted");
        if i % 10 == 9 {
            // ManualClock counts milliseconds: ten addresses per millisecond.
            clock.advance(Duration::from_millis(1));
        }
        churn_peak = churn_peak.max(churn.tracked_partitions());
    }
    let rss_churn = rss_mib();
    assert!(churn_peak < MAX_KEYS / 2, "steady churn peaked at {churn_peak} partitions");
    // Memory: a capped store of 100,000 small keys is a few MiB; far below what a million
    // unbounded entries would take. The bound is loose on purpose (allocator behaviour varies).
    assert!(rss_flooded - before < 64.0, "flood grew the resident set by {:.1} MiB", rss_flooded - before);
    assert!(rss_churn - before < 64.0, "churn grew the resident set by {:.1} MiB", rss_churn - before);

    // 3. For scale: the same flood with the cap lifted, what an unbounded store would hold.
    drop((limiter, churn));
    let uncapped = RateLimiter::builder()
        .quota(Quota::per_minute(10))
        .clock(ManualClock::at_unix(1_700_000_000))
        .max_keys(2 * KEYS as usize)
        .build()
        .expect("limiter");
    let rss_start_uncapped = rss_mib();
    for i in 0..KEYS {
        assert!(uncapped.check(None, &peer(i)).await.is_ok());
    }
    let uncapped_len = uncapped.tracked_partitions();
    let rss_uncapped = rss_mib();
    assert_eq!(uncapped_len, KEYS as usize);

    println!("\n## Rate limiter memory, 1,000,000 distinct client addresses (max_keys = {MAX_KEYS})\n");
    println!("| scenario | partitions tracked | resident set |");
    println!("|---|---:|---:|");
    println!("| before | 0 | {before:.1} MiB |");
    println!("| flood inside one refill time (peak) | {} | {rss_flooded:.1} MiB |", peak.max(flooded));
    println!("| flood, after the refill time and a sweep | {swept} | {rss_swept:.1} MiB |");
    println!("| steady churn, 10,000 new addresses/s, quota 10/s (peak) | {churn_peak} | {rss_churn:.1} MiB |");
    println!(
        "| for scale: the flood with the cap lifted | {uncapped_len} | {rss_uncapped:.1} MiB (+{:.1} MiB) |",
        rss_uncapped - rss_start_uncapped
    );
    println!("\nadmitted during the flood: {admitted} of {KEYS}");
}
