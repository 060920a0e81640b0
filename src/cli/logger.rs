//! The process's logger: env_logger, behind a filter that lowers what a client can write.
//!
//! actix-http logs a request it cannot parse (a NUL or other byte HTTP forbids in a header, a
//! broken chunk) as `ERROR stream error: …`: one line per malformed request, so anyone who can
//! reach the port can flood the log and page whoever watches for ERROR lines. It is the
//! client's error, already answered with 400, so such lines go out at DEBUG instead.

use log::{Level, Log, Metadata, Record};

/// Where actix-http's HTTP/1 dispatcher logs from (through tracing's `log` feature).
const DISPATCHER: &str = "actix_http::h1::dispatcher";

/// env_logger's logger, with client-made ERROR lines of actix-http lowered to DEBUG.
struct DemoteClientErrors {
    inner: env_logger::Logger,
}

impl DemoteClientErrors {
    /// A line that only says a client sent something malformed.
    fn is_client_error(record: &Record<'_>) -> bool {
        record.level() == Level::Error
            && record.target().starts_with(DISPATCHER)
            && record
                .args()
                .as_str()
                .map_or_else(|| record.args().to_string(), str::to_owned)
                .starts_with("stream error")
    }
}

impl Log for DemoteClientErrors {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.inner.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if !Self::is_client_error(record) {
            return self.inner.log(record);
        }
        let demoted = Metadata::builder()
            .level(Level::Debug)
            .target(record.target())
            .build();
        if self.inner.enabled(&demoted) {
            self.inner.log(
                &Record::builder()
                    .metadata(demoted)
                    .args(*record.args())
                    .module_path(record.module_path())
                    .file(record.file())
                    .line(record.line())
                    .build(),
            );
        }
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

/// Install `logger` as the process's logger, behind the filter above. A second call (tests
/// that start the CLI twice in one process) keeps the first logger.
pub fn install(logger: env_logger::Logger) {
    let max = logger.filter();
    if log::set_boxed_logger(Box::new(DemoteClientErrors { inner: logger })).is_ok() {
        log::set_max_level(max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(level: Level, target: &'static str, text: &'static str) -> bool {
        DemoteClientErrors::is_client_error(
            &Record::builder()
                .level(level)
                .target(target)
                .args(format_args!("{text}"))
                .build(),
        )
    }

    #[test]
    fn only_the_dispatchers_parse_errors_are_lowered() {
        assert!(record(
            Level::Error,
            DISPATCHER,
            "stream error: Parse error: invalid Header provided"
        ));
        assert!(!record(
            Level::Error,
            DISPATCHER,
            "Upgrade handler error: x"
        ));
        assert!(!record(Level::Error, "watchword::http", "stream error: x"));
        assert!(!record(Level::Warn, DISPATCHER, "stream error: x"));
    }
}
