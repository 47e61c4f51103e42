//! The contract between sans-IO role state machines and the I/O layer that drives them.

use crate::error::WireError;
use crate::stream::ProtocolStream;

/// What a role needs next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Feed more input bytes (after sending the pending output).
    NeedInput,
    /// Send the pending output, then call `advance` again without waiting for input.
    Flush,
    /// Nothing to read yet, but the role has more to send meanwhile: send the pending
    /// output, take any input that has already arrived (without waiting), and call
    /// `advance` again.
    Poll,
    /// The session is over on the protocol level.
    Done,
}

/// Takes the output a role has produced so far, for flows too large to buffer (file
/// data while a delta runs). A test harness can simply collect it.
pub trait OutputSink {
    /// Takes `s`'s pending output.
    fn flush(&mut self, s: &mut ProtocolStream) -> Result<(), WireError>;
}

/// Collects output in memory (for tests and in-process peers).
#[derive(Debug, Default)]
pub struct CollectingSink {
    /// Everything flushed so far.
    pub bytes: Vec<u8>,
}

impl OutputSink for CollectingSink {
    fn flush(&mut self, s: &mut ProtocolStream) -> Result<(), WireError> {
        self.bytes.extend(s.take_output());
        Ok(())
    }
}

/// A client role (push or pull) as a state machine over a [`ProtocolStream`].
pub trait RoleMachine {
    /// Runs until more input is needed, output should be flushed, or the session ends.
    fn advance(
        &mut self,
        s: &mut ProtocolStream,
        out: &mut dyn OutputSink,
    ) -> Result<Progress, WireError>;

    /// The session failed outside `advance` (e.g. the connection closed): clean up
    /// (remove a half-written temp file).
    fn abort(&mut self) {}
}

/// Early-returns `Progress::NeedInput` when a `try_read` reports missing bytes.
macro_rules! need {
    ($e:expr) => {
        match $e? {
            Some(v) => v,
            None => return Ok($crate::role::Progress::NeedInput),
        }
    };
}
pub(crate) use need;
