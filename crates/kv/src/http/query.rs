//! Strict query strings: a parameter that is not valid percent-encoded UTF-8 is refused (400)
//! instead of being read with replacement characters, which would name another key.

use crate::error::KvError;

/// The `(name, value)` pairs of `query` (`+` is a space), in order.
pub fn pairs(query: &str) -> Result<Vec<(String, String)>, KvError> {
    query
        .split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            Ok((decode(name)?, decode(value)?))
        })
        .collect()
}

fn decode(text: &str) -> Result<String, KvError> {
    let bad = |why: &str| KvError::BadRequest(format!("bad query string: {why}"));
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| bad("'%' must be followed by two hex digits"))?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| bad("a parameter is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_refuses_what_is_not_utf8() {
        assert_eq!(
            pairs("keys=a%2Fb&keys=c+d&&keys[]=%C3%A9&flag").unwrap(),
            [
                ("keys".into(), "a/b".into()),
                ("keys".into(), "c d".into()),
                ("keys[]".into(), "é".into()),
                ("flag".into(), String::new()),
            ]
        );
        for bad in [
            "keys=%FF", "keys=%", "keys=%4", "keys=%zz", "keys=%+1", "%FF=a",
        ] {
            assert!(matches!(pairs(bad), Err(KvError::BadRequest(_))), "{bad}");
        }
    }
}
