//! Credential selection: `Authorization` (Bearer, DPoP, ApiKey schemes), the API-key header and
//! query parameter, the `DPoP` header — over header bytes no HTTP library would have let through.
use tower_auth::AuthErrorKind;
use tower_auth::fuzzing::{self, FoundCredential};

use crate::common::FuzzView;

fn visible_ascii(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (0x21..0x7f).contains(&b))
}

// Input: one flag byte (bit 0: every source; bits 1-2: number of `Authorization` fields; bit 3: an
// `x-api-key` field; bit 4: a `dpop` field; bit 5: a query), then the values separated by 0x00.
/// One input.
pub fn run(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else { return };
    let mut values = rest.split(|b| *b == 0);
    let mut view = FuzzView { method: "GET".into(), path: "/".into(), ..FuzzView::default() };
    let authorizations = usize::from((flags >> 1) & 0b11);
    for _ in 0..authorizations {
        view.headers.push(("authorization".into(), values.next().unwrap_or_default().to_vec()));
    }
    if flags & 0b1000 != 0 {
        view.headers.push(("x-api-key".into(), values.next().unwrap_or_default().to_vec()));
    }
    if flags & 0b1_0000 != 0 {
        view.headers.push(("dpop".into(), values.next().unwrap_or_default().to_vec()));
    }
    if flags & 0b10_0000 != 0 {
        view.query = Some(String::from_utf8_lossy(values.next().unwrap_or_default()).into_owned());
    }
    let every_source = flags & 1 != 0;
    let found = fuzzing::credentials(&view, every_source);
    if authorizations >= 2 {
        assert_eq!(found, Err(AuthErrorKind::MultipleCredentials));
    }
    match found {
        Ok(Some(FoundCredential::Bearer(token) | FoundCredential::Dpop(token))) => {
            assert!(fuzzing::is_b64token(token) && visible_ascii(token), "{token:?}");
            let field = &view.headers.iter().find(|(n, _)| n == "authorization").expect("from Authorization").1;
            assert!(field.windows(token.len()).any(|w| w == token.as_bytes()));
        }
        Ok(Some(FoundCredential::ApiKey(key))) => {
            assert!(every_source && visible_ascii(key), "{key:?}");
        }
        Ok(None) | Err(_) => {}
    }
}
