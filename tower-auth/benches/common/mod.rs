//! Helpers every bench shares: driving a future that never waits, and a median-of-rounds timer.

#![allow(dead_code)] // each bench uses what it needs

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

/// Polls a future that completes without waiting (static keys, warm caches, no I/O) to its output.
pub(crate) fn ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    match f.as_mut().poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the benchmarked future waited"),
    }
}

/// Median nanoseconds per call over `rounds` rounds of `iters` calls, after a warm-up of `iters / 4`.
pub(crate) fn measure(iters: u32, rounds: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..iters / 4 {
        f();
    }
    let mut samples: Vec<f64> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iters {
                f();
            }
            start.elapsed().as_nanos() as f64 / f64::from(iters)
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[rounds / 2]
}
