//! What every typed error of the host shares: whose fault it is, and how it is reported with
//! its causes (each module's error keeps its cause as `#[source]`, never as a string).

use std::fmt;

/// Whose fault an error is: it decides what the operator does about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Bad input from a user: a setting, a file, a record, a plugin. Fix the input.
    Input,
    /// A service the host depends on (Kafka, Redis, the file system) failed or is unreachable.
    /// Retried where that makes sense; otherwise fix the service.
    External,
    /// A bug or a broken invariant in the host itself. Report it.
    Internal,
}

impl Fault {
    /// `input`, `external` or `internal`, as logs and metrics name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Input => "input",
            Fault::External => "external",
            Fault::Internal => "internal",
        }
    }
}

/// An error that knows whose fault it is.
pub trait Classified: std::error::Error {
    /// Whose fault this error is.
    fn fault(&self) -> Fault;
}

/// Displays an error with every cause after it, `top: cause: root cause`, for logs.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'a));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(e) = cause {
            write!(f, ": {e}")?;
            cause = e.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn a_chain_shows_every_cause() {
        let e = Outer(std::io::Error::other("inner"));
        assert_eq!(Chain(&e).to_string(), "outer: inner");
    }
}
