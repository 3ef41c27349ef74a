//! A NATS subject as an input: each message is a JSON object or lines of text. Core NATS
//! delivers at most once (there is no acknowledgement to hold back), so a message is safe once
//! spooled; publishers that need redelivery publish to a JetStream stream this subject feeds.

use crate::intake::Intake;
use crate::spool::Spool;
use futures_util::StreamExt;
use std::path::Path;
use std::sync::atomic::Ordering;

/// Messages spooled in one append at most.
const BATCH: usize = 1024;

pub async fn subscribe(
    url: &str,
    subject: &str,
    queue_group: Option<&str>,
    credentials: Option<&Path>,
) -> Result<async_nats::Subscriber, String> {
    let mut options = async_nats::ConnectOptions::new().name("garrison serve");
    if let Some(path) = credentials {
        options = options
            .credentials_file(path)
            .await
            .map_err(|error| format!("credentials {}: {error}", path.display()))?;
    }
    let client = tokio::time::timeout(std::time::Duration::from_secs(10), options.connect(url))
        .await
        .map_err(|_| format!("no answer from {url} within 10 s"))?
        .map_err(|error| format!("cannot connect to {url}: {error}"))?;
    let subscribed = match queue_group {
        Some(group) => {
            client
                .queue_subscribe(subject.to_string(), group.to_string())
                .await
        }
        None => client.subscribe(subject.to_string()).await,
    };
    let subscriber =
        subscribed.map_err(|error| format!("cannot subscribe to {subject}: {error}"))?;
    // The subscription is in force at the server before serve says it is ready.
    client
        .flush()
        .await
        .map_err(|error| format!("cannot subscribe to {subject}: {error}"))?;
    Ok(subscriber)
}

/// Splits a message into JSON and text records.
fn records(payload: &[u8], json: &mut Vec<Vec<u8>>, text: &mut Vec<Vec<u8>>) {
    let trimmed = payload.trim_ascii();
    if trimmed.starts_with(b"{")
        && let Ok(value) = serde_json::from_slice::<serde_json::Value>(trimmed)
        && value.is_object()
    {
        // One line per record: a pretty-printed object is written compactly.
        json.push(match memchr::memchr(b'\n', trimmed) {
            Some(_) => value.to_string().into_bytes(),
            None => trimmed.to_vec(),
        });
        return;
    }
    text.extend(crate::intake::text_lines(trimmed).map(<[u8]>::to_vec));
}

pub async fn serve(
    subscriber: async_nats::Subscriber,
    json_spool: Spool,
    text_spool: Spool,
    mut intake: Intake,
) {
    let mut batches = subscriber.ready_chunks(BATCH);
    loop {
        let messages = tokio::select! {
            _ = intake.stopping() => return,
            next = batches.next() => match next {
                Some(messages) => messages,
                None => return,
            },
        };
        let (mut json, mut text) = (Vec::new(), Vec::new());
        for message in &messages {
            records(&message.payload, &mut json, &mut text);
        }
        let count = (json.len() + text.len()) as u64;
        let (a, b) = tokio::join!(
            async {
                if json.is_empty() {
                    Ok(())
                } else {
                    json_spool.append(json).await.map(|_| ())
                }
            },
            async {
                if text.is_empty() {
                    Ok(())
                } else {
                    text_spool.append(text).await.map(|_| ())
                }
            },
        );
        if let Err(error) = a.and(b) {
            tracing::error!("garrison serve: {}: {error}; messages lost", intake.input);
            return;
        }
        intake.stats.accepted.fetch_add(count, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_become_json_or_text_records() {
        let (mut json, mut text) = (Vec::new(), Vec::new());
        records(b"{\n  \"a\": 1\n}\n", &mut json, &mut text);
        records(b"<13>one\r\n<13>two\n", &mut json, &mut text);
        records(b"{not json", &mut json, &mut text);
        assert_eq!(json, [br#"{"a":1}"#.to_vec()]);
        assert_eq!(
            text,
            [
                b"<13>one".to_vec(),
                b"<13>two".to_vec(),
                b"{not json".to_vec()
            ]
        );
    }
}
