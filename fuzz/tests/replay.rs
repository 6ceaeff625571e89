//! Runs every fuzz target on stable: each seed in `seeds/<target>/`, then deterministic mutations of
//! the seeds (bit flips, interesting bytes, insertions, deletions, duplications, splices) and random
//! inputs. Not a substitute for `cargo +nightly fuzz run` (no coverage feedback), but it keeps the
//! targets building, their properties true on the seeds, and the crashes they once found fixed.

use std::path::PathBuf;

/// Mutated inputs per target.
const MUTATIONS: usize = 3_000;

/// xorshift64*: deterministic, so a failure names an input that can be rebuilt.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
}

const INTERESTING: &[u8] = b"\x00\xff\x7f\x80.\"{}[]:,=+/-_ \t\r\n\\0aA";

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    if seeds.is_empty() || rng.below(10) == 0 {
        let len = rng.below(256);
        return (0..len).map(|_| rng.next() as u8).collect();
    }
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..=rng.below(4) {
        let at = rng.below(data.len() + 1);
        match rng.below(6) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => data.insert(at, INTERESTING[rng.below(INTERESTING.len())]),
            3 if !data.is_empty() => {
                let end = (at + 1 + rng.below(16)).min(data.len());
                data.drain(at.min(data.len() - 1)..end);
            }
            4 if !data.is_empty() => {
                let start = rng.below(data.len());
                let end = (start + 1 + rng.below(32)).min(data.len());
                let piece = data[start..end].to_vec();
                let at = rng.below(data.len() + 1);
                data.splice(at..at, piece);
            }
            _ => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len() + 1);
                data.truncate(at);
                data.extend_from_slice(&other[from..]);
            }
        }
    }
    data
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("seeds").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()))).collect()
}

#[test]
fn every_target_on_its_seeds_and_their_mutations() {
    for (name, run) in tower_auth_fuzz::TARGETS {
        let seeds = seeds(name);
        assert!(!seeds.is_empty(), "{name} has no seeds");
        for seed in &seeds {
            run(seed);
        }
        let mut rng =
            Rng(name.bytes().fold(0x9e37_79b9_7f4a_7c15, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)));
        for i in 0..MUTATIONS {
            let input = mutate(&mut rng, &seeds);
            let outcome = std::panic::catch_unwind(|| run(&input));
            assert!(outcome.is_ok(), "{name}: mutation {i} panicked on input {input:?}");
        }
        println!("{name}: {} seeds + {MUTATIONS} mutations, no failure", seeds.len());
    }
}

/// The seeds reach the acceptance paths, so mutations of them explore the checks after parsing.
#[test]
fn seeds_reach_acceptance() {
    let seed = |target: &str, name: &str| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("seeds").join(target).join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    assert!(tower_auth_fuzz::compact_jws::accepts(&seed("compact_jws", "rfc7515_a1")));
    assert!(tower_auth_fuzz::compact_jws::accepts(&seed("compact_jws", "rfc9449_proof")));
    assert!(!tower_auth_fuzz::compact_jws::accepts(&seed("compact_jws", "rfc7519_unsecured")));
    assert!(tower_auth_fuzz::dpop_proof::accepts(&seed("dpop_proof", "rfc9449_resource_request")));
    assert!(!tower_auth_fuzz::dpop_proof::accepts(&seed("dpop_proof", "rfc9449_token_request")));
    assert!(tower_auth_fuzz::introspection::accepts(&seed("introspection", "rfc7662_active")));
    assert!(!tower_auth_fuzz::introspection::accepts(&seed("introspection", "inactive")));
    assert!(tower_auth_fuzz::api_key::accepts(&seed("api_key", "valid")));
    assert!(!tower_auth_fuzz::api_key::accepts(&seed("api_key", "bad_checksum")));
    for name in ["client_cert", "client_cert_chain", "nginx", "xfcc", "der"] {
        assert!(tower_auth_fuzz::cert_headers::accepts(&seed("cert_headers", name)), "cert_headers/{name}");
    }
    assert!(!tower_auth_fuzz::cert_headers::accepts(&seed("cert_headers", "truncated_der")));
}
