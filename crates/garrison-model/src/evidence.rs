//! Where a record came from, precisely enough to cite it and read it again.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// A citable pointer to one original record.
///
/// `path` is the file (or stream name) the record was read from; `member` names the entry inside
/// an archive (zip, tar) when there is one. `record_id` is the EVTX `EventRecordID` for EVTX files
/// and the 1-based line number for JSON lines. `offset` is the byte offset of the record: for EVTX,
/// the offset of the record header in the file; for JSON lines, the offset of the line's first
/// byte in the (decompressed) stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EvidenceRef {
    #[schema(value_type = String)]
    pub path: Arc<str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub member: Option<Arc<str>>,
    pub record_id: u64,
    pub offset: u64,
}

impl EvidenceRef {
    /// The path and, for archive members, `path!member`.
    pub fn stream_name(&self) -> String {
        match &self.member {
            Some(member) => format!("{}!{}", self.path, member),
            None => self.path.to_string(),
        }
    }
}

impl fmt::Display for EvidenceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}#{}@{}",
            self.stream_name(),
            self.record_id,
            self.offset
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_archive_member() {
        let evidence = EvidenceRef {
            path: "a.zip".into(),
            member: Some("x.json".into()),
            record_id: 7,
            offset: 120,
        };
        assert_eq!(evidence.to_string(), "a.zip!x.json#7@120");
    }
}
