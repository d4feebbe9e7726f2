//! The Comet guest agent protocol, shared by the host and the guest.
//!
//! A frame is a big-endian `u32` length followed by that many bytes of JSON,
//! `{"type": <int>, "payload": {…}}`, at most [`MAX_FRAME_LEN`] bytes. The frames travel over a
//! Unix socket pair (the process sandbox); nothing in them is tied to that transport. [`frame`]
//! reads and writes bytes; [`message`] gives the bytes their meaning. A frame that is oversized,
//! truncated or malformed is an error for that connection only: nothing here panics on input.

pub mod contract;
pub mod frame;
pub mod message;
pub mod sandbox;

#[cfg(feature = "async")]
pub mod async_io;

pub use frame::{FrameError, MAX_FRAME_LEN, read_message, write_message};
pub use message::{ExecPayload, InitPayload, Message, MessageType, RespPayload};
pub use sandbox::{NamespaceSpec, Rlimits, SandboxSpec};
// The runtime and mode an Init carries, re-exported so the agent names them without nova-api.
pub use nova_api::{Mode, Runtime};
