//! Typed messages and their JSON envelope.

use std::collections::BTreeMap;

use nova_api::{Mode, Runtime};
use serde::de::IntoDeserializer;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

use crate::frame::FrameError;
use crate::sandbox::SandboxSpec;

/// The wire value of each message type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum MessageType {
    Init = 1,
    Exec = 2,
    Resp = 3,
    Ping = 4,
    Stop = 5,
}

/// Host → guest, once per instance: what to run and how.
///
/// `runtime` and `mode` travel as the lowercase names of [`Runtime`] and [`Mode`] (`"python"`,
/// `"persistent"`), the strings the wire has always carried. `runtime` is required; every other
/// field may be absent. An absent or empty `mode` means [`Mode::Process`], as it did when mode was
/// a plain string. An unknown name fails to decode, and the agent answers that frame with an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InitPayload {
    pub runtime: Runtime,
    #[serde(default)]
    pub handler: String,
    #[serde(default)]
    pub env_vars: BTreeMap<String, String>,
    /// How to run the code once: the program and its leading arguments. In `process` mode the agent
    /// appends the input file's path; in `persistent` mode it starts this once (Python gets a
    /// bootstrap around it).
    #[serde(default)]
    pub command: Vec<String>,
    #[serde(default, deserialize_with = "mode_or_empty")]
    pub mode: Mode,
    #[serde(default)]
    pub function_name: String,
    #[serde(default)]
    pub function_version: u64,
    #[serde(default)]
    pub memory_mb: u32,
    #[serde(default)]
    pub timeout_s: u32,
    /// Directory holding the function's code, exported as `NOVA_CODE_DIR`.
    #[serde(default)]
    pub code_dir: String,
    /// Confinement to enter before anything runs; only the first Init may carry it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxSpec>,
}

impl InitPayload {
    /// An Init for `runtime` running `command`, in process mode, with every other field empty.
    pub fn new(runtime: Runtime, command: Vec<String>) -> Self {
        InitPayload {
            runtime,
            handler: String::new(),
            env_vars: BTreeMap::new(),
            command,
            mode: Mode::default(),
            function_name: String::new(),
            function_version: 0,
            memory_mb: 0,
            timeout_s: 0,
            code_dir: String::new(),
            sandbox: None,
        }
    }
}

/// Reads a mode name; `""` is [`Mode::Process`], what hosts that sent mode as a string meant by it.
fn mode_or_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Mode, D::Error> {
    let name = String::deserialize(deserializer)?;
    if name.is_empty() {
        return Ok(Mode::Process);
    }
    Mode::deserialize(name.as_str().into_deserializer())
}

/// Host → guest: run the handler once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecPayload {
    pub request_id: String,
    /// The JSON event, passed through untouched.
    pub input: Box<RawValue>,
    /// Seconds before the handler is killed; `0` uses the Init timeout.
    #[serde(default)]
    pub timeout_s: u32,
}

/// Guest → host: the answer to any request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RespPayload {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub request_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Box<RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: u64,
    /// Microseconds, for sub-millisecond handlers.
    pub duration_us: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stdout: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stderr: String,
    /// Set in replies to Init, Ping and Stop: `ready`, `ok`, `stopping`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// True when the handler ran past its timeout and was killed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub timed_out: bool,
}

impl RespPayload {
    /// A reply that only carries a status word.
    pub fn status(status: &str) -> Self {
        RespPayload {
            status: Some(status.to_string()),
            ..RespPayload::default()
        }
    }

    /// A reply that only carries an error.
    pub fn error(request_id: &str, error: impl Into<String>) -> Self {
        RespPayload {
            request_id: request_id.to_string(),
            error: Some(error.into()),
            ..RespPayload::default()
        }
    }
}

/// One decoded frame.
#[derive(Debug, Clone)]
pub enum Message {
    Init(InitPayload),
    Exec(ExecPayload),
    Resp(RespPayload),
    Ping,
    Stop,
}

#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    r#type: u8,
    payload: &'a T,
}

#[derive(Deserialize)]
struct RawEnvelope<'a> {
    r#type: u8,
    #[serde(borrow, default)]
    payload: Option<&'a RawValue>,
}

impl Message {
    pub fn kind(&self) -> MessageType {
        match self {
            Message::Init(_) => MessageType::Init,
            Message::Exec(_) => MessageType::Exec,
            Message::Resp(_) => MessageType::Resp,
            Message::Ping => MessageType::Ping,
            Message::Stop => MessageType::Stop,
        }
    }

    /// The JSON body of the frame (without the length prefix).
    pub fn to_json(&self) -> Result<Vec<u8>, FrameError> {
        let kind = self.kind() as u8;
        let empty = serde_json::Map::new();
        let json = match self {
            Message::Init(p) => envelope(kind, p),
            Message::Exec(p) => envelope(kind, p),
            Message::Resp(p) => envelope(kind, p),
            Message::Ping | Message::Stop => envelope(kind, &empty),
        };
        json.map_err(FrameError::Malformed)
    }

    /// Parses a frame body. Unknown types and payloads of the wrong shape are errors.
    pub fn from_json(body: &[u8]) -> Result<Message, FrameError> {
        let raw: RawEnvelope<'_> = serde_json::from_slice(body).map_err(FrameError::Malformed)?;
        let payload = raw.payload.map_or("{}", RawValue::get);
        let parse = |s: &str| -> Result<_, FrameError> {
            Ok(match raw.r#type {
                1 => Message::Init(serde_json::from_str(s)?),
                2 => Message::Exec(serde_json::from_str(s)?),
                3 => Message::Resp(serde_json::from_str(s)?),
                4 => Message::Ping,
                5 => Message::Stop,
                other => return Err(FrameError::UnknownType(other)),
            })
        };
        parse(payload)
    }
}

fn envelope<T: Serialize>(kind: u8, payload: &T) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(&Envelope {
        r#type: kind,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).expect("valid JSON")
    }

    #[test]
    fn every_type_round_trips() {
        let messages = [
            Message::Init(InitPayload::new(
                Runtime::Python,
                vec!["python3".into(), "/code/handler".into()],
            )),
            Message::Exec(ExecPayload {
                request_id: "r1".into(),
                input: raw(r#"{"name":"W"}"#),
                timeout_s: 3,
            }),
            Message::Resp(RespPayload {
                request_id: "r1".into(),
                output: Some(raw("[1,2]")),
                duration_ms: 4,
                ..RespPayload::default()
            }),
            Message::Ping,
            Message::Stop,
        ];
        for m in messages {
            let json = m.to_json().expect("encodes");
            let back = Message::from_json(&json).expect("decodes");
            assert_eq!(back.to_json().expect("encodes"), json);
        }
    }

    #[test]
    fn wire_shape_matches_the_seed() {
        let json = Message::Ping.to_json().expect("encodes");
        assert_eq!(json, br#"{"type":4,"payload":{}}"#);
        let stop = Message::from_json(br#"{"type":5}"#).expect("payload may be absent");
        assert!(matches!(stop, Message::Stop));
    }

    fn init_from(payload: &str) -> Result<InitPayload, FrameError> {
        let body = format!(r#"{{"type":1,"payload":{payload}}}"#);
        match Message::from_json(body.as_bytes())? {
            Message::Init(init) => Ok(init),
            other => panic!("expected Init, got {other:?}"),
        }
    }

    #[test]
    fn runtime_and_mode_travel_as_their_lowercase_names() {
        for runtime in Runtime::ALL {
            for mode in [Mode::Process, Mode::Persistent] {
                let init = InitPayload {
                    mode,
                    ..InitPayload::new(runtime, vec!["run".into()])
                };
                let json = Message::Init(init.clone()).to_json().expect("encodes");
                let value: serde_json::Value = serde_json::from_slice(&json).expect("JSON");
                assert_eq!(value["payload"]["runtime"], runtime.as_str());
                assert_eq!(value["payload"]["mode"], mode.as_str());
                let back = Message::from_json(&json).expect("decodes");
                assert!(
                    matches!(back, Message::Init(b) if b == init),
                    "{runtime} {mode}"
                );
            }
        }
    }

    #[test]
    fn the_strings_hosts_have_always_sent_still_decode() {
        let init = init_from(
            r#"{"runtime":"python","handler":"main.handler","env_vars":{"A":"1"},
                "command":["python3","/code/main.py"],"mode":"persistent","function_name":"f",
                "function_version":2,"memory_mb":128,"timeout_s":5,"code_dir":"/code"}"#,
        )
        .expect("the old wire decodes");
        assert_eq!(
            (init.runtime, init.mode),
            (Runtime::Python, Mode::Persistent)
        );
        assert_eq!(init.handler, "main.handler");
        let go = init_from(r#"{"runtime":"go","mode":"process"}"#).expect("decodes");
        assert_eq!((go.runtime, go.mode), (Runtime::Go, Mode::Process));
    }

    #[test]
    fn absent_or_empty_mode_is_process() {
        let empty = init_from(r#"{"runtime":"rust","mode":""}"#).expect("empty mode decodes");
        assert_eq!(empty.mode, Mode::Process);
        let absent = init_from(r#"{"runtime":"wasm"}"#).expect("absent mode decodes");
        assert_eq!(
            (absent.runtime, absent.mode),
            (Runtime::Wasm, Mode::Process)
        );
    }

    #[test]
    fn unknown_or_missing_runtime_and_unknown_mode_are_decode_errors() {
        for (payload, says) in [
            (r#"{"runtime":"ruby"}"#, "unknown variant `ruby`"),
            (r#"{"runtime":""}"#, "unknown variant ``"),
            (r#"{"runtime":"Python"}"#, "unknown variant `Python`"),
            (r#"{"mode":"process"}"#, "missing field `runtime`"),
            (
                r#"{"runtime":"python","mode":"forever"}"#,
                "unknown variant `forever`",
            ),
            (r#"{"runtime":"python","mode":null}"#, "invalid type: null"),
        ] {
            match init_from(payload) {
                Err(FrameError::Malformed(e)) => {
                    assert!(e.to_string().contains(says), "{payload}: {e}")
                }
                other => panic!("{payload}: expected a decode error, got {other:?}"),
            }
        }
    }

    #[test]
    fn unknown_type_and_bad_payload_are_errors() {
        assert!(matches!(
            Message::from_json(br#"{"type":9,"payload":{}}"#),
            Err(FrameError::UnknownType(9))
        ));
        assert!(matches!(
            Message::from_json(br#"{"type":2,"payload":{"request_id":5}}"#),
            Err(FrameError::Malformed(_))
        ));
        assert!(Message::from_json(b"not json").is_err());
    }
}
