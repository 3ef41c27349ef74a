//! Where the long-running commands (`serve`, `agent`) say what they do: standard error, as
//! lines of text for people (the message alone) or as JSON lines for log pipelines
//! (`--log-format json`: time, level, target, message and the event's fields). The console's
//! access log (one event per request) is in the JSON form only.

use std::fmt;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// The message alone, one per line.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `message` and the fields.
    Json,
}

/// Text lines: the message, nothing else (fields are for the JSON form).
struct MessageOnly;

struct Message<'a>(&'a mut String);

impl tracing::field::Visit for Message<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            use std::fmt::Write;
            let _ = write!(self.0, "{value:?}");
        }
    }
}

impl<S, N> FormatEvent<S, N> for MessageOnly
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _context: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut message = String::new();
        event.record(&mut Message(&mut message));
        writeln!(writer, "{message}")
    }
}

/// Sends Garrison's own events (not its dependencies') at `info` and above to standard error
/// in `format`. Called once, before any command runs.
pub fn init(format: LogFormat) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    let ours = Targets::new()
        .with_target("garrison", LevelFilter::INFO)
        .with_target("garrison_server", LevelFilter::INFO)
        .with_target("garrison_agents", LevelFilter::INFO)
        .with_target("garrison_bus", LevelFilter::INFO);
    let access = match format {
        LogFormat::Text => LevelFilter::OFF,
        LogFormat::Json => LevelFilter::INFO,
    };
    let ours = ours.with_target("garrison_server::access", access);
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => tracing_subscriber::registry()
            .with(layer.event_format(MessageOnly).with_filter(ours))
            .try_init(),
        LogFormat::Json => tracing_subscriber::registry()
            .with(
                layer
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false)
                    .with_filter(ours),
            )
            .try_init(),
    };
    // Only a second call fails, and the first one's subscriber stays.
    let _ = result;
}
