//! Domain types that cross the boundary between Nova (control plane) and Comet (data plane).
//!
//! Nothing here does I/O. Nova turns what a user wrote into a [`FunctionConfig`], validates it,
//! stores it as a [`Function`], and hands Comet a resolved [`FunctionSpec`]; Comet answers an
//! [`InvokeRequest`] with an [`InvokeResponse`]. The CLI, the HTTP API and the data plane all
//! speak these types, so each concept has exactly one home.

mod addr;
mod alias;
mod function;
mod invoke;
mod logs;
pub mod package;
mod qualifier;
mod validate;

pub use addr::parse_listen_addr;
pub use alias::{
    AliasError, FunctionAlias, MAX_ALIAS_DESCRIPTION, parse_weight, validate_alias_name,
};
pub use function::{
    DEFAULT_HANDLER, Function, FunctionConfig, FunctionPatch, FunctionSpec, FunctionVersion,
    IGNORED_FUNCTION_FIELDS, Limits, Mode, Network, Runtime, code_hash, drop_ignored_fields,
};
pub use invoke::{InvokeRequest, InvokeResponse};
pub use logs::InvocationEntry;
pub use qualifier::{LATEST, Qualifier, QualifierError};
pub use validate::{ValidationError, preview, validate_env_key, validate_name};
