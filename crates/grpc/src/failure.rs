//! How a worker tells a client, as data rather than message text, what kind of failure a status
//! is: the `nova-failure` ASCII metadata key, set by [`crate::server`] and read by the cluster
//! client. The status message stays for people; no client decision reads it.

use tonic::Status;
use tonic::metadata::MetadataValue;

/// The metadata key a worker's failure statuses carry.
pub const KEY: &str = "nova-failure";

/// What a failure status means for the client that got it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No handler ran and the trouble is this worker's (shutting down, going away): another
    /// worker may take the call.
    NotRun,
    /// No handler ran because every instance was busy or the worker is at capacity: another
    /// worker may take the call.
    Busy,
    /// The worker does not have the function's code: send the call again with it.
    CodeMissing,
}

impl Failure {
    /// The metadata value.
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::NotRun => "not-run",
            Failure::Busy => "busy",
            Failure::CodeMissing => "code-missing",
        }
    }

    /// The failure a status is marked with, if any (unknown values are none).
    pub fn of(status: &Status) -> Option<Failure> {
        match status.metadata().get(KEY)?.to_str().ok()? {
            "not-run" => Some(Failure::NotRun),
            "busy" => Some(Failure::Busy),
            "code-missing" => Some(Failure::CodeMissing),
            _ => None,
        }
    }

    /// `status`, marked with this failure.
    pub fn mark(self, mut status: Status) -> Status {
        status
            .metadata_mut()
            .insert(KEY, MetadataValue::from_static(self.as_str()));
        status
    }

    /// Whether no handler ran, so another worker may take the call.
    pub fn not_run(self) -> bool {
        matches!(self, Failure::NotRun | Failure::Busy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marked_status_reads_back_and_an_unmarked_one_does_not() {
        for f in [Failure::NotRun, Failure::Busy, Failure::CodeMissing] {
            assert_eq!(Failure::of(&f.mark(Status::internal("x"))), Some(f));
        }
        assert_eq!(Failure::of(&Status::internal("not-run: x")), None);
        let mut odd = Status::internal("x");
        odd.metadata_mut()
            .insert(KEY, MetadataValue::from_static("something-else"));
        assert_eq!(Failure::of(&odd), None);
    }
}
