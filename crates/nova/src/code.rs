//! Function code as it arrives (source text or base64) and as it is kept (bytes + SHA-256).

use base64::Engine as _;
use nova_api::{FunctionConfig, Runtime, ValidationError};

/// Largest code Nova accepts: 32 MiB (a statically linked binary fits comfortably).
pub const MAX_CODE_BYTES: usize = 32 * 1024 * 1024;

/// Why code was refused.
#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    #[error(transparent)]
    Missing(#[from] ValidationError),
    #[error("code_base64 is not valid base64: {0}")]
    Base64(base64::DecodeError),
    #[error("code is {size} bytes; the limit is {max} bytes")]
    TooLarge { size: usize, max: usize },
    #[error(
        "code for runtime {runtime} must be a Linux executable (an ELF binary or a #! script); build it first"
    )]
    NotExecutable { runtime: Runtime },
    #[error("code for runtime python must be UTF-8 source text")]
    NotText,
    #[error("{0}")]
    Rejected(String),
}

/// The bytes of the code a config carries, if it carries any.
pub fn decode(config: &FunctionConfig) -> Result<Option<Vec<u8>>, CodeError> {
    let bytes = match (&config.code, &config.code_base64) {
        (Some(_), Some(_)) => return Err(ValidationError::TwoCodes.into()),
        (Some(text), None) => text.clone().into_bytes(),
        (None, Some(b64)) => base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(CodeError::Base64)?,
        (None, None) => return Ok(None),
    };
    if bytes.is_empty() {
        return Err(ValidationError::EmptyCode.into());
    }
    if bytes.len() > MAX_CODE_BYTES {
        return Err(CodeError::TooLarge {
            size: bytes.len(),
            max: MAX_CODE_BYTES,
        });
    }
    Ok(Some(bytes))
}

/// Catches the commonest mistake early: source code registered under a native runtime.
pub fn check_runtime(runtime: Runtime, code: &[u8]) -> Result<(), CodeError> {
    match runtime {
        Runtime::Go | Runtime::Rust
            if !(code.starts_with(b"\x7fELF") || code.starts_with(b"#!")) =>
        {
            Err(CodeError::NotExecutable { runtime })
        }
        Runtime::Python if std::str::from_utf8(code).is_err() => Err(CodeError::NotText),
        _ => Ok(()),
    }
}

pub use nova_api::code_hash as hash;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_base64_both_and_neither() {
        let mut c = FunctionConfig {
            code: Some("print(1)".into()),
            ..FunctionConfig::default()
        };
        assert_eq!(decode(&c).expect("text"), Some(b"print(1)".to_vec()));
        c.code_base64 = Some("cHJpbnQoMSk=".into());
        assert!(decode(&c).is_err());
        c.code = None;
        assert_eq!(decode(&c).expect("b64"), Some(b"print(1)".to_vec()));
        c.code_base64 = Some("***".into());
        assert!(matches!(decode(&c), Err(CodeError::Base64(_))));
        c.code_base64 = None;
        assert_eq!(decode(&c).expect("none"), None);
    }

    #[test]
    fn native_code_must_be_executable() {
        assert!(check_runtime(Runtime::Go, b"\x7fELF....").is_ok());
        assert!(check_runtime(Runtime::Rust, b"#!/bin/sh\necho {}").is_ok());
        assert!(check_runtime(Runtime::Go, b"package main").is_err());
        assert!(check_runtime(Runtime::Python, &[0xff, 0xfe]).is_err());
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            hash(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
