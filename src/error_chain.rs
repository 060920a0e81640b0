//! An error with its causes on one line each, for the command line and the log.
//!
//! thiserror keeps each cause as a `source()`, but `Display` shows only the outermost
//! message ("cannot read the key"); without the chain the reason ("permission denied")
//! would be lost in every message an operator reads.

/// `error` then one `caused by:` line per source, innermost last.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str("\ncaused by: ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read /etc/watchword/key.pem")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn every_cause_gets_a_line() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        assert_eq!(
            error_chain(&Outer(io)),
            "cannot read /etc/watchword/key.pem\ncaused by: No such file or directory"
        );
    }
}
