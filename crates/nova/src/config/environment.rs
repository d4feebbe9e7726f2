//! The environment, read once: the one place Nova looks at process environment variables that
//! its flags do not already take (clap reads those beside their flags). Everything below
//! [`Settings::resolve`](super::Settings::resolve) gets its values from here, so a test or an
//! embedding program states the environment instead of mutating the process's.

use std::ffi::OsString;
use std::path::PathBuf;

/// Environment variables that are settings of their own (no flag carries them).
#[derive(Default, Clone)]
pub struct Environment {
    /// `NOVA_COMET_TOKEN`: the token comet workers require (over `comet.token`).
    pub comet_token: Option<String>,
    /// `NOVA_ALLOW_ANONYMOUS`: true/false, 1/0, yes/no, on/off (over `auth.allow_anonymous`).
    pub allow_anonymous: Option<String>,
    /// `NOVA_REDIS_ADDR`, `NOVA_REDIS_PASSWORD`, `NOVA_REDIS_DB`: for commands whose flags do not
    /// carry them (over the `redis:` section).
    pub redis_addr: Option<String>,
    pub redis_password: Option<String>,
    pub redis_db: Option<String>,
    /// `NOVA_ISOLATION`: auto, required or off (over `sandbox.isolation`).
    pub isolation: Option<String>,
    /// `NOVA_MASTER_KEY`: the secrets' master key itself, base64 (over any key file).
    pub master_key: Option<String>,
    /// `NOVA_MASTER_KEY_FILE` (over `secrets.master_key_file`).
    pub master_key_file: Option<PathBuf>,
    /// `NOVA_PYTHON`: the interpreter Python functions run on (over `runtimes.python`).
    pub python: Option<PathBuf>,
    /// `COMET_AGENT`: the guest agent binary (over `runtimes.agent`).
    pub agent: Option<PathBuf>,
}

impl Environment {
    /// The process's environment; a variable set to the empty string counts as unset.
    pub fn from_process() -> Environment {
        Environment::from_lookup(|name| std::env::var_os(name))
    }

    /// The environment as `lookup` gives it (tests state theirs this way).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<OsString>) -> Environment {
        let os = |name: &str| lookup(name).filter(|v| !v.is_empty());
        let text = |name: &str| os(name).map(|v| v.to_string_lossy().into_owned());
        let path = |name: &str| os(name).map(PathBuf::from);
        Environment {
            comet_token: text("NOVA_COMET_TOKEN"),
            allow_anonymous: text("NOVA_ALLOW_ANONYMOUS"),
            redis_addr: text("NOVA_REDIS_ADDR"),
            redis_password: text("NOVA_REDIS_PASSWORD"),
            redis_db: text("NOVA_REDIS_DB"),
            isolation: text("NOVA_ISOLATION"),
            master_key: text("NOVA_MASTER_KEY"),
            master_key_file: path("NOVA_MASTER_KEY_FILE"),
            python: path("NOVA_PYTHON"),
            agent: path("COMET_AGENT"),
        }
    }
}

/// Secrets stay out of logs and panics.
impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |v: &Option<String>| v.as_ref().map(|_| "<hidden>");
        f.debug_struct("Environment")
            .field("comet_token", &hidden(&self.comet_token))
            .field("allow_anonymous", &self.allow_anonymous)
            .field("redis_addr", &self.redis_addr)
            .field("redis_password", &hidden(&self.redis_password))
            .field("redis_db", &self.redis_db)
            .field("isolation", &self.isolation)
            .field("master_key", &hidden(&self.master_key))
            .field("master_key_file", &self.master_key_file)
            .field("python", &self.python)
            .field("agent", &self.agent)
            .finish()
    }
}
